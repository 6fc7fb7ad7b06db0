import cv2

from tests.test_tools.tool_runner import run_tool


def test_image_demo_draws_detections(tmp_path):
    run_tool('tools/misc/make_synthetic_coco.py', tmp_path, '--train', '1', '--val', '1',
             '--size', '160')
    image = tmp_path / 'val/000001.jpg'
    out = run_tool('tools/image_demo.py', image, 'configs/fcos_shufflenetv2_coco.py',
                   '--out-file', tmp_path / 'pred.jpg', '--score-thr', '0.0').stdout
    assert 'detections with score >= 0.0' in out
    assert cv2.imread(str(tmp_path / 'pred.jpg')).shape == (160, 160, 3)
