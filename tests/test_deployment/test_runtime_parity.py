"""Every runtime reproduces PyTorch's raw outputs (within 1e-3) on the networks exported from
the shipped configs, and the wrapped detector finds PyTorch's boxes."""
from pathlib import Path

import pytest

from shufflenet_det.deployment.ncnn_export import onnx_to_ncnn
from shufflenet_det.deployment.openvino_export import onnx_to_openvino
from shufflenet_det_runtime.network_loading import load_network
from tests.deployed_parity import EXPORT_SIZE, assert_matches_pytorch
from tests.runtimes import requires

CONFIGS = ['nanodet_shufflenetv2_lightpan_320_coco.py', 'fcos_shufflenetv2_coco.py',
           'nanodet-plus_shufflenetv2_ghostpan_320_coco.py', 'yolov8_shufflenetv2_320_coco.py']


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


@pytest.mark.xdist_group('exports')
@pytest.mark.parametrize('backend, convert', RUNTIMES)
@pytest.mark.parametrize('config', CONFIGS)
def test_runtime_matches_pytorch(config, backend, convert, exported_detector):
    model, onnx = exported_detector(config)
    network = load_network(convert(onnx, EXPORT_SIZE), backend, threads=1)
    assert_matches_pytorch(model, network, EXPORT_SIZE, batch_size=2, tolerance=1e-3)
