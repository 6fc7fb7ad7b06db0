"""A model the runtime runs, made once a run: the shapes config's detector with spread scores
(score threshold 0: it finds boxes untrained) exported with its description."""
from pathlib import Path

import pytest
import torch

from shufflenet_det.apis.onnx_export import export_described_onnx
from shufflenet_det.utils.run_config import build_detector, config_classes, input_size
from tests.deployed_parity import detector_with_spread_scores
from tests.test_tools.tool_runner import REPO

SHAPES_CONFIG = str(REPO / 'configs/nanodet_shufflenetv2_lightpan_shapes.py')


@pytest.fixture(scope='session')
def shapes_model(tmp_path_factory) -> Path:
    """The described ``.onnx`` of the shapes config (256x256, 3 classes)."""
    path = tmp_path_factory.mktemp('runtime') / 'shapes.onnx'
    cfg, _ = build_detector(SHAPES_CONFIG)
    with torch.no_grad():
        export_described_onnx(cfg, detector_with_spread_scores(SHAPES_CONFIG), str(path),
                              input_size(cfg), config_classes(cfg))
    return path
