import re

import cv2
import numpy as np
import torch

from shufflenet_det.utils.run_config import build_detector
from tests.test_tools.tool_runner import REPO, run_tool

# Re-encoding a synthetic image as JPEG changes a pixel channel by up to about 30 levels.
JPEG_NOISE = 50


def test_image_demo_draws_detections(tmp_path):
    run_tool('tools/misc/make_synthetic_coco.py', tmp_path, '--train', '1', '--val', '1',
             '--size', '160')
    image = tmp_path / 'val/000001.jpg'
    # Untrained (seeded weights: an unseeded draw once gave a box the test could not find
    # drawn): without the model's own score threshold it keeps its best box, and only that.
    config = 'configs/fcos_shufflenetv2_coco.py'
    torch.manual_seed(0)
    _, model = build_detector(str(REPO / config))
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'untrained.pth')
    out = run_tool('tools/image_demo.py', image, config, '--weights', tmp_path / 'untrained.pth',
                   '--out-file', tmp_path / 'pred.jpg', '--score-thr', '0.0', '--cfg-options',
                   'model.test_cfg.score_thr=0.0', 'model.test_cfg.max_per_img=1').stdout
    assert re.search(r': 1 detections with score >= 0\.0', out), out
    best_box = re.search(r'^ +.+ \d\.\d{3} \[([-\d., ]+)\]$', out, re.MULTILINE)
    assert best_box, out

    drawn = cv2.imread(str(tmp_path / 'pred.jpg')).astype(int)
    assert drawn.shape == (160, 160, 3)
    change = np.abs(drawn - cv2.imread(str(image))).max(axis=2)
    x1, y1, x2, y2 = (float(v) for v in best_box.group(1).split(','))
    around_box = change[max(int(y1) - 3, 0):int(y2) + 4, max(int(x1) - 3, 0):int(x2) + 4]
    assert around_box.max() > JPEG_NOISE, 'the best box is not drawn'

    # without --weights: an untrained detector of its own, random, so only its count is known
    bare = run_tool('tools/image_demo.py', image, config, '--score-thr', '0.0', '--cfg-options',
                    'model.test_cfg.score_thr=0.0', 'model.test_cfg.max_per_img=1').stdout
    assert re.search(r': 1 detections with score >= 0\.0', bare), bare


def test_a_checkpoint_naming_no_classes_shows_the_configs_names(tmp_path):
    """A state dict saved by hand with ``meta.dataset_meta=None`` (MMDetection's DetInferencer
    fails on it, and takes COCO's names for a checkpoint naming none): the demo runs and calls
    the labels by the config's classes."""
    run_tool('tools/misc/make_synthetic_coco.py', tmp_path, '--train', '1', '--val', '1',
             '--size', '128')
    config = 'configs/nanodet_shufflenetv2_lightpan_shapes.py'
    torch.manual_seed(0)
    _, model = build_detector(str(REPO / config))
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=None)),
               tmp_path / 'by_hand.pth')
    out = run_tool('tools/image_demo.py', tmp_path / 'val/000001.jpg', config, '--weights',
                   tmp_path / 'by_hand.pth', '--score-thr', '0.0', '--cfg-options',
                   'model.test_cfg.score_thr=0.0', 'model.test_cfg.max_per_img=3').stdout
    names = re.findall(r'^ +(\S+) \d\.\d{3} \[', out, re.MULTILINE)
    assert len(names) == 3 and set(names) <= {'circle', 'square', 'triangle'}, out


def test_weights_of_another_number_of_classes_are_refused(tmp_path):
    run_tool('tools/misc/make_synthetic_coco.py', tmp_path, '--train', '1', '--val', '1',
             '--size', '128')
    config = 'configs/nanodet_shufflenetv2_lightpan_shapes.py'
    _, model = build_detector(str(REPO / config), {'model.bbox_head.num_classes': 80})
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'coco80.pth')
    result = run_tool('tools/image_demo.py', tmp_path / 'val/000001.jpg', config, '--weights',
                      tmp_path / 'coco80.pth', check=False)
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (  # after MMEngine's warnings
        f'error: {tmp_path / "coco80.pth"} does not fit the detector of {config}: 6 tensors '
        'have other shapes, e.g. bbox_head.out_convs.0.weight is (112, 96, 1, 1) in the file but '
        '(35, 96, 1, 1) in the model; give the config it was trained with')


def test_an_image_or_out_file_that_cannot_be_used_is_one_line_before_the_model(tmp_path):
    config = 'configs/nanodet_shufflenetv2_lightpan_shapes.py'
    (tmp_path / 'broken.jpg').write_bytes(b'\xff\xd8 not a whole jpeg')
    (tmp_path / 'empty.png').write_bytes(b'')
    cv2.imwrite(str(tmp_path / 'photo.jpg'), np.zeros((32, 32, 3), np.uint8))
    (tmp_path / 'drawn.jpg').mkdir()
    for args, message in (
            ((tmp_path / 'absent.jpg', ), f'no such image: {tmp_path / "absent.jpg"}'),
            ((tmp_path / 'broken.jpg', ), 'broken.jpg is not a readable image'),
            ((tmp_path / 'empty.png', ), 'empty.png is not a readable image'),
            ((tmp_path, ), 'is a folder; this demo takes one image'),
            ((tmp_path / 'photo.jpg', '--out-file', tmp_path / 'drawn.jpg'),
             'drawn.jpg is a folder; give a file name'),
            ((tmp_path / 'photo.jpg', '--out-file', tmp_path / 'drawn'),
             'OpenCV writes no image of that name')):
        result = run_tool('tools/image_demo.py', args[0], config, *args[1:], check=False)
        assert result.returncode == 2 and result.stderr.strip().splitlines() == [
            line for line in result.stderr.strip().splitlines() if line.startswith('error: ')]
        assert message in result.stderr, result.stderr
