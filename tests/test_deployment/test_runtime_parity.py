"""Every runtime reproduces PyTorch's raw outputs (within 1e-3) on the networks exported from
the shipped configs, and the wrapped detector finds PyTorch's boxes."""
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmdet.structures import DetDataSample

from shufflenet_det.apis.onnx_export import export_onnx
from shufflenet_det.deployment import DeployedDetector, load_network
from shufflenet_det.deployment.ncnn_export import onnx_to_ncnn
from shufflenet_det.deployment.openvino_export import onnx_to_openvino
from shufflenet_det.utils.complexity import build_detector
from tests.matching import matched_fraction
from tests.reference_shufflenet import randomize_bn
from tests.runtimes import requires

CONFIGS = ['nanodet_shufflenetv2_lightpan_320_coco.py', 'fcos_shufflenetv2_coco.py',
           'nanodet-plus_shufflenetv2_ghostpan_320_coco.py']


def ncnn_model(onnx_path: Path, size) -> str:
    param = str(onnx_path.with_suffix('.ncnn.param'))
    onnx_to_ncnn(str(onnx_path), param, (1, 3, *size))
    return param


def openvino_model(onnx_path: Path, size) -> str:
    xml = str(onnx_path.with_suffix('.xml'))
    onnx_to_openvino(str(onnx_path), xml)
    return xml


RUNTIMES = [
    pytest.param('ncnn', ncnn_model, marks=requires('ncnn', 'pnnx'), id='ncnn'),
    pytest.param('openvino', openvino_model, marks=requires('openvino'), id='openvino-ir'),
    pytest.param('openvino', lambda path, size: str(path), marks=requires('openvino'),
                 id='openvino-onnx'),
]


@pytest.mark.parametrize('backend, convert', RUNTIMES)
@pytest.mark.parametrize('config', CONFIGS)
def test_runtime_matches_pytorch(config, backend, convert, tmp_path):
    torch.manual_seed(0)
    path = Path(__file__).parents[2] / 'configs' / config
    _, model = build_detector(str(path), {'model.test_cfg.score_thr': 0.0})
    for module in model.modules():  # spread the scores: untrained heads give near-ties
        if isinstance(module, nn.Conv2d):
            module.reset_parameters()
    randomize_bn(model).eval()
    size = (128, 160)
    export_onnx(model, str(tmp_path / 'model.onnx'), size)
    network = load_network(convert(tmp_path / 'model.onnx', size), backend, threads=1)

    images = torch.randint(0, 256, (2, 3, *size)).float()
    with torch.no_grad():
        normalized = model.data_preprocessor(dict(inputs=list(images.byte())))['inputs']
        groups = model._forward(normalized)
    expected = [level for group in groups for level in group]
    raw = network(images.numpy())
    assert len(raw) == len(expected)
    for out, exp in zip(raw, expected):
        assert out.shape == tuple(exp.shape)
        assert np.abs(out - exp.numpy()).max() <= 1e-3

    metas = [dict(img_shape=size, ori_shape=size, scale_factor=(1.0, 1.0))] * 2
    with torch.no_grad():
        reference = model.bbox_head.predict_by_feat(*groups, batch_img_metas=metas,
                                                    rescale=True)
    samples = [DetDataSample(metainfo=meta) for meta in metas]
    predictions = DeployedDetector(network, model).predict(normalized, samples)
    for pred, ref in zip(predictions, reference):
        assert len(pred.pred_instances) == len(ref) > 0
        assert matched_fraction(pred.pred_instances, ref) >= 0.98
