"""An exported network inside the config's detector: a network of another size or config is
one clear line."""
import pytest
import torch

from shufflenet_det.apis.onnx_export import export_onnx
from shufflenet_det.deployment import DeployedDetector
from shufflenet_det.errors import DeployedModelError
from shufflenet_det.utils.run_config import build_detector
from shufflenet_det_runtime.network_loading import load_network
from tests.test_tools.tool_runner import REPO, run_tool

CONFIG = 'configs/nanodet_shufflenetv2_lightpan_320_coco.py'


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


def test_images_are_padded_on_with_the_configs_padding(tmp_path):
    """YOLOv8's preprocessor pads with 114 (0.447 once divided by 255), not with the mean."""
    _, model = build_detector(str(REPO / 'configs/yolov8_shufflenetv2_320_coco.py'))
    export_onnx(model, str(tmp_path / 'yolov8.onnx'), (64, 64))
    deployed = DeployedDetector(load_network(str(tmp_path / 'yolov8.onnx')), model)
    padded = deployed.network_images(torch.zeros(1, 3, 32, 64))
    assert padded[0, :, 40:].min() == padded[0, :, 40:].max() == pytest.approx(114, abs=1e-4)
    assert padded[0, :, :32].max() == 0


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
