import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[2]
CONFIG = 'configs/nanodet_shufflenetv2_lightpan_shapes.py'


def run(*args):
    result = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_export_and_onnx_runtime_inference(tmp_path):
    run('tools/misc/make_synthetic_coco.py', tmp_path, '--train', '1', '--val', '1',
        '--size', '200')
    out = run('tools/deployment/pytorch2onnx.py', CONFIG, '--out', tmp_path / 'm.onnx')
    assert 'input image (N, 3, 256, 256)' in out
    out = run('tools/deployment/onnxruntime_infer.py', tmp_path / 'm.onnx', CONFIG,
              tmp_path / 'val/000001.jpg', '--score-thr', '0.0', '--out-file',
              tmp_path / 'pred.jpg')
    assert 'detections with score >= 0.0' in out and (tmp_path / 'pred.jpg').stat().st_size
