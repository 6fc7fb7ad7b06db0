"""A model the runtime runs, made once a run: the shapes config's detector with spread scores
(score threshold 0: it finds boxes untrained) exported with its description."""
from pathlib import Path

import pytest
import torch

from shufflenet_det.apis.onnx_export import export_onnx, output_names
from shufflenet_det.deployment.model_description import model_description, write_onnx_description
from shufflenet_det.utils.run_config import build_detector, config_classes, input_size
from tests.deployed_parity import detector_with_spread_scores
from tests.test_tools.tool_runner import REPO

SHAPES_CONFIG = str(REPO / 'configs/nanodet_shufflenetv2_lightpan_shapes.py')


def export_described(config: str, path: Path, cfg_options: dict = None) -> Path:
    """Export ``config``'s detector with spread scores (score threshold 0) to ``path`` with
    its description, as tools/deployment/pytorch2onnx.py does."""
    cfg, _ = build_detector(config, cfg_options)
    model = detector_with_spread_scores(config)
    size = input_size(cfg)
    with torch.no_grad():
        raw = path.with_name(path.stem + '_raw.onnx')
        export_onnx(model, str(raw), size)
        description = model_description(cfg, model, size, config_classes(cfg),
                                        output_names(model, size))
        write_onnx_description(str(raw), str(path), description)
    raw.unlink()
    return path


@pytest.fixture(scope='session')
def shapes_model(tmp_path_factory) -> Path:
    """The described ``.onnx`` of the shapes config (256x256, 3 classes)."""
    return export_described(SHAPES_CONFIG, tmp_path_factory.mktemp('runtime') / 'shapes.onnx')
