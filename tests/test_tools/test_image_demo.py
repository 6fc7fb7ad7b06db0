import subprocess
import sys
from pathlib import Path

import cv2

REPO = Path(__file__).parents[2]


def run(*args):
    result = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_image_demo_draws_detections(tmp_path):
    run('tools/misc/make_synthetic_coco.py', tmp_path, '--train', '1', '--val', '1',
        '--size', '160')
    image = tmp_path / 'val/000001.jpg'
    out = run('tools/image_demo.py', image, 'configs/fcos_shufflenetv2_coco.py',
              '--out-file', tmp_path / 'pred.jpg', '--score-thr', '0.0')
    assert 'detections with score >= 0.0' in out
    assert cv2.imread(str(tmp_path / 'pred.jpg')).shape == (160, 160, 3)
