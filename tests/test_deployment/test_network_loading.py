"""Exported files open in the runtime they name; every wrong file or size is one clear line."""
import pytest
import torch

from shufflenet_det.apis.onnx_export import export_onnx
from shufflenet_det.deployment import DeployedDetector, backend_of, load_network
from shufflenet_det.deployment.ncnn_network import blob_names
from shufflenet_det.errors import DeployedModelError
from shufflenet_det.utils.run_config import build_detector
from tests.runtimes import requires
from tests.shared_data import NANODET_M, requires_shared
from tests.test_tools.tool_runner import REPO, run_tool

NANODET_NCNN = NANODET_M / 'ncnn/nanodet-m.param'
CONFIG = 'configs/nanodet_shufflenetv2_lightpan_320_coco.py'


def test_the_file_names_its_runtime():
    assert backend_of('m.onnx') == 'onnxruntime'
    assert backend_of('m.onnx', 'openvino') == 'openvino'
    assert backend_of('m.xml') == 'openvino'
    assert backend_of('m.ncnn.param') == 'ncnn'
    with pytest.raises(DeployedModelError, match=r'ncnn does not run \.onnx files; \.onnx '
                       r'runs in onnxruntime or openvino'):
        backend_of('m.onnx', 'ncnn')
    with pytest.raises(DeployedModelError, match=r'm\.pth is not an exported model'):
        backend_of('m.pth')


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DeployedModelError, match='no such model file'):
        load_network(str(tmp_path / 'absent.onnx'))


@requires('ncnn')
def test_an_unreadable_ncnn_file_is_refused(tmp_path):
    garbage = tmp_path / 'garbage.param'
    garbage.write_text('not an ncnn model\n')
    with pytest.raises(DeployedModelError, match='ncnn cannot load'):
        load_network(str(garbage))


@requires_shared(NANODET_M)
def test_ncnn_blob_names_of_nanodets_own_model():
    inputs, outputs = blob_names(str(NANODET_NCNN))
    assert inputs == ['input.1']
    assert outputs == [f'{kind}_pred_stride_{s}' for s in (8, 16, 32) for kind in ('cls', 'dis')]


def test_images_larger_than_the_exported_size_are_refused(tmp_path):
    _, model = build_detector(str(REPO / CONFIG))
    export_onnx(model, str(tmp_path / 'small.onnx'), (64, 64))
    deployed = DeployedDetector(load_network(str(tmp_path / 'small.onnx')), model)
    with pytest.raises(DeployedModelError, match=r'gives 96x64 batches but the model was '
                       r'exported for 64x64; export it with --shape'):
        deployed.network_images(torch.zeros(1, 3, 96, 64))
    padded = deployed.network_images(torch.zeros(1, 3, 32, 64))  # zero is the mean
    assert padded.shape == (1, 3, 64, 64)
    mean = model.data_preprocessor.mean.flatten()
    assert torch.allclose(torch.from_numpy(padded[0, :, 50, 10]), mean)


def test_test_deployed_stops_on_a_missing_model_before_writing_anything(tmp_path):
    result = run_tool('tools/deployment/test_deployed.py', CONFIG, tmp_path / 'absent.onnx',
                      '--work-dir', tmp_path / 'work', check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f'error: no such model file: {tmp_path / "absent.onnx"}')
    assert not (tmp_path / 'work').exists()


def test_a_model_exported_from_another_config_is_refused(tmp_path):
    _, coco = build_detector(str(REPO / CONFIG))
    export_onnx(coco, str(tmp_path / 'coco.onnx'), (64, 64))
    _, three_classes = build_detector(str(REPO / CONFIG), {'model.bbox_head.num_classes': 3})
    with pytest.raises(DeployedModelError, match=r'the model gives 6 outputs of \[80, 80, 80, '
                       r'32, 32, 32\] channels where the config\'s head gives 6 of \[3, 3, 3, '
                       r'32, 32, 32\]: was it exported from this config'):
        DeployedDetector(load_network(str(tmp_path / 'coco.onnx')), three_classes)
