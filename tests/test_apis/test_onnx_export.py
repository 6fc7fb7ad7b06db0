"""Every detector config exports to ONNX; ONNX Runtime reproduces PyTorch's outputs and boxes."""
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from mmdet.structures import DetDataSample

from shufflenet_det.apis.onnx_export import export_onnx
from shufflenet_det.deployment import DeployedDetector
from shufflenet_det.deployment.onnx_runtime_network import OnnxRuntimeNetwork
from shufflenet_det.utils.complexity import build_detector
from tests.matching import matched_fraction
from tests.reference_shufflenet import randomize_bn

CONFIGS = sorted((Path(__file__).parents[2] / 'configs').glob('*.py'))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_onnx_runtime_matches_pytorch(path, tmp_path):
    torch.manual_seed(0)
    _, model = build_detector(str(path), {'model.test_cfg.score_thr': 0.0})
    for module in model.modules():  # spread the scores: untrained heads give near-ties
        if isinstance(module, nn.Conv2d):
            module.reset_parameters()
    randomize_bn(model).eval()
    size = (128, 160)
    export_onnx(model, str(tmp_path / 'model.onnx'), size)
    network = OnnxRuntimeNetwork(str(tmp_path / 'model.onnx'), threads=1)

    images = torch.randint(0, 256, (3, 3, *size)).float()  # a batch size other than export's
    with torch.no_grad():
        normalized = model.data_preprocessor(dict(inputs=list(images.byte())))['inputs']
        expected = [level for group in model._forward(normalized) for level in group]
    raw = network(images.numpy())
    assert len(raw) == len(expected)
    for out, exp in zip(raw, expected):
        assert out.shape == tuple(exp.shape)
        assert np.abs(out - exp.numpy()).max() <= 1e-4

    metas = [dict(img_shape=size, ori_shape=size, scale_factor=(1.0, 1.0))] * 3
    with torch.no_grad():
        reference = model.bbox_head.predict_by_feat(
            *model._forward(normalized), batch_img_metas=metas, rescale=True)
    deployed = DeployedDetector(network, model)  # un-normalises what the preprocessor gives
    samples = [DetDataSample(metainfo=meta) for meta in metas]
    predictions = [sample.pred_instances for sample in deployed.predict(normalized, samples)]
    for pred, ref in zip(predictions, reference):
        assert len(pred) == len(ref) > 0
        assert matched_fraction(pred, ref) >= 0.98
