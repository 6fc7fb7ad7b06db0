import re

import cv2
import numpy as np

from tests.test_tools.tool_runner import run_tool

# Re-encoding a synthetic image as JPEG changes a pixel channel by up to about 30 levels.
JPEG_NOISE = 50


def test_image_demo_draws_detections(tmp_path):
    run_tool('tools/misc/make_synthetic_coco.py', tmp_path, '--train', '1', '--val', '1',
             '--size', '160')
    image = tmp_path / 'val/000001.jpg'
    # Untrained: without the model's own score threshold it keeps its best box, and only that.
    out = run_tool('tools/image_demo.py', image, 'configs/fcos_shufflenetv2_coco.py',
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
