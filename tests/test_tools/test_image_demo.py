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


def test_demo_image_and_detector_run(tmp_path):
    """The README's main command: a generated image through a detector built from a config."""
    image = tmp_path / 'shapes.jpg'
    out = run('tools/misc/make_demo_image.py', image, '--seed', '3')
    assert out.startswith(f'wrote {image}') and cv2.imread(str(image)).shape == (320, 320, 3)
    out = run('tools/image_demo.py', image, 'configs/fcos_shufflenetv2_coco.py',
              '--out-file', tmp_path / 'pred.jpg', '--score-thr', '0.0')
    assert 'detections with score >= 0.0' in out
    assert cv2.imread(str(tmp_path / 'pred.jpg')).shape == (320, 320, 3)
