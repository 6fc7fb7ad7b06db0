"""``python -m shufflenet_det_runtime`` on images, folders and videos, in a process where the
training house (torch, mmcv, mmengine, mmdet, shufflenet_det) cannot be imported, and its
answer to bad input: one line each, nothing already done lost."""
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from shufflenet_det.apis.onnx_export import export_onnx
from shufflenet_det.deployment.model_description import write_sidecar
from shufflenet_det.utils.run_config import build_detector
from shufflenet_det_runtime import Detector, read_model_info
from shufflenet_det_runtime.__main__ import ctrl_c_held
from tests.runtime_runner import BOOTSTRAP, run_runtime
from tests.test_runtime.conftest import SHAPES_CONFIG
from tests.runtimes import requires
from tests.test_tools.tool_runner import REPO, run_tool

pytestmark = pytest.mark.xdist_group('runtime')


def noise_image(path, width: int, height: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)
    assert cv2.imwrite(str(path), image)


def write_video(path, frames: int, fourcc: str = 'mp4v', size=(96, 64), fps: float = 10):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (size[1], size[0], 3), np.uint8))
    writer.release()


def coco_box(box) -> list:
    return [box[0], box[1], box[2] - box[0], box[3] - box[1]]


def test_an_image_and_a_folder_give_what_the_python_api_gives(shapes_model, tmp_path):
    folder = tmp_path / 'photos'
    noise_image(folder / 'a.jpg', 200, 150, 0)
    noise_image(folder / 'sub' / 'b.png', 120, 160, 1)
    (folder / 'broken.jpg').write_bytes(b'\xff\xd8 not really a jpeg')
    detector = Detector(str(shapes_model))

    one = run_runtime(shapes_model, folder / 'a.jpg', '--json', tmp_path / 'one.json',
                      '--out', tmp_path / 'one')
    records = json.loads((tmp_path / 'one.json').read_text())
    expected = detector(cv2.imread(str(folder / 'a.jpg')))
    assert len(records) == len(expected) > 0
    assert {r['file_name'] for r in records} == {str(folder / 'a.jpg')}
    assert [r['class'] for r in records] == expected.names
    assert [r['label'] for r in records] == expected.labels.tolist()
    np.testing.assert_allclose([r['bbox'] for r in records],
                               [coco_box(b) for b in expected.boxes.tolist()], atol=1e-3)
    np.testing.assert_allclose([r['score'] for r in records], expected.scores, atol=1e-6)
    assert cv2.imread(str(tmp_path / 'one' / 'a.jpg')).shape == (150, 200, 3)
    assert '1 images' in one.stdout

    many = run_runtime(shapes_model, folder, '--json', tmp_path / 'many.json', '--out',
                       tmp_path / 'many', '--save-txt', '--score-thr', '0', check=False)
    assert many.returncode == 1  # one file skipped
    assert 'skipped broken.jpg: not a readable image' in many.stderr
    assert '2 images' in many.stdout and '1 skipped: broken.jpg' in many.stdout
    records = json.loads((tmp_path / 'many.json').read_text())
    assert {r['file_name'] for r in records} == {'a.jpg', 'sub/b.png'}
    assert all('frame' not in r for r in records)
    assert cv2.imread(str(tmp_path / 'many' / 'sub' / 'b.png')).shape == (160, 120, 3)
    lines = (tmp_path / 'many' / 'labels' / 'sub' / 'b.txt').read_text().splitlines()
    assert len(lines) == sum(r['file_name'] == 'sub/b.png' for r in records)
    label, *box = lines[0].split()
    assert 0 <= int(label) < 3 and all(0 <= float(v) <= 1 for v in box)


def test_a_video_gives_a_drawn_video_and_detections_per_frame(shapes_model, tmp_path):
    write_video(tmp_path / 'clip.mp4', 6)
    result = run_runtime(shapes_model, tmp_path / 'clip.mp4', '--out', tmp_path / 'out',
                         '--json', tmp_path / 'clip.json')
    assert '6 frames' in result.stdout
    drawn = cv2.VideoCapture(str(tmp_path / 'out' / 'clip.mp4'))
    assert (drawn.get(cv2.CAP_PROP_FRAME_COUNT), drawn.get(cv2.CAP_PROP_FRAME_WIDTH),
            drawn.get(cv2.CAP_PROP_FRAME_HEIGHT), drawn.get(cv2.CAP_PROP_FPS)) == (6, 96, 64, 10)
    records = json.loads((tmp_path / 'clip.json').read_text())
    assert {r['file_name'] for r in records} == {'clip.mp4'}
    assert {r['frame'] for r in records} == set(range(6))

    run_runtime(shapes_model, tmp_path / 'clip.mp4', '--max-frames', '2', '--json',
                tmp_path / 'two.json')
    assert {r['frame'] for r in json.loads((tmp_path / 'two.json').read_text())} == {0, 1}


def test_a_video_that_ends_early_is_said_in_one_line(shapes_model, tmp_path):
    write_video(tmp_path / 'full.avi', 20, 'MJPG')
    data = (tmp_path / 'full.avi').read_bytes()
    (tmp_path / 'cut.avi').write_bytes(data[:len(data) // 2])
    result = run_runtime(shapes_model, tmp_path / 'cut.avi', '--json', tmp_path / 'cut.json',
                         check=False)
    assert result.returncode == 1
    assert 'warning: cut.avi ended after 10 of the 20 frames its header announces' in \
        result.stderr
    assert {r['frame'] for r in json.loads((tmp_path / 'cut.json').read_text())} == \
        set(range(10))


def test_ctrl_c_keeps_the_json_and_the_video_so_far(shapes_model, tmp_path):
    write_video(tmp_path / 'long.mp4', 3000)
    out = tmp_path / 'out' / 'long.mp4'
    process = subprocess.Popen(
        [sys.executable, '-c', BOOTSTRAP, str(shapes_model), str(tmp_path / 'long.mp4'),
         '--out', str(tmp_path / 'out'), '--json', str(tmp_path / 'long.json')],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # a few frames more
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert 'stopped (Ctrl-C); writing what was done' in stderr
    frames = {r['frame'] for r in json.loads((tmp_path / 'long.json').read_text())}
    written = int(cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT))
    assert frames == set(range(len(frames))) and 0 < len(frames) < 3000
    assert len(frames) <= written <= len(frames) + 1  # and the frame under way when stopped
    assert f'{len(frames)} frames' in stdout


def test_a_ctrl_c_inside_a_frames_commit_waits_for_its_end():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with ctrl_c_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler has run by now
            steps.append('json written')
            steps.append('counted')
    assert steps == ['json written', 'counted']
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_bad_input_stops_in_one_line(shapes_model, tmp_path):
    bare = tmp_path / 'bare.onnx'  # exported without a description, as before the runtime
    _, model = build_detector(SHAPES_CONFIG)
    export_onnx(model.eval(), str(bare), (64, 64))
    noise_image(tmp_path / 'a.jpg', 64, 64, 0)
    without_display = {k: v for k, v in os.environ.items()
                       if k not in ('DISPLAY', 'WAYLAND_DISPLAY')}
    cases = [
        ((bare, tmp_path / 'a.jpg'), None, 'carries no shufflenet_det description'),
        ((tmp_path / 'absent.onnx', tmp_path / 'a.jpg'), None, 'absent.onnx does not exist'),
        ((tmp_path / 'a.jpg', tmp_path / 'a.jpg'), None, 'a.jpg is not an exported model'),
        ((shapes_model, '9'), None, 'camera 9 does not open'),
        ((shapes_model, tmp_path / 'absent.jpg'), None, 'no such image, folder or video'),
        ((shapes_model, tmp_path / 'a.jpg', '--show'), without_display,
         '--show needs a display'),
    ]
    for args, env, message in cases:
        result = run_runtime(*args, check=False, env=env)
        assert result.returncode == 2, result.stderr[-2000:]
        assert message in result.stderr and 'Traceback' not in result.stderr
        assert len([line for line in result.stderr.splitlines()
                    if line.startswith('error:')]) == 1


def test_a_mixed_pair_is_refused(shapes_model, tmp_path):
    param, weights = tmp_path / 'm.ncnn.param', tmp_path / 'm.ncnn.bin'
    param.write_text('7767517\n')
    weights.write_bytes(b'weights of one export')
    write_sidecar(str(param), read_model_info(str(shapes_model)).document)
    assert read_model_info(str(param)).classes == read_model_info(str(shapes_model)).classes
    weights.write_bytes(b'weights of another export')
    result = run_runtime(param, tmp_path, check=False)
    assert result.returncode == 2
    assert ('error: m.ncnn.bin is not the file m.ncnn.json describes (another export, or a '
            'mixed pair); convert the model again') in result.stderr
    weights.unlink()
    assert 'm.ncnn.bin is missing' in run_runtime(param, tmp_path, check=False).stderr


@requires('ncnn', 'pnnx')
def test_a_converted_pair_runs_with_the_description_convert_onnx_writes(shapes_model, tmp_path):
    onnx = tmp_path / 'shapes.onnx'
    onnx.write_bytes(shapes_model.read_bytes())
    converted = run_tool('tools/deployment/convert_onnx.py', onnx, '--backend', 'ncnn')
    assert f"wrote {tmp_path / 'shapes.ncnn.param'}" in converted.stdout
    assert read_model_info(str(tmp_path / 'shapes.ncnn.param')).document['sha256']
    noise_image(tmp_path / 'a.jpg', 200, 150, 0)
    image = cv2.imread(str(tmp_path / 'a.jpg'))
    from_onnx = Detector(str(onnx))(image)
    from_ncnn = Detector(str(tmp_path / 'shapes.ncnn.param'))(image)
    assert len(from_ncnn) == len(from_onnx) > 0
    np.testing.assert_allclose(from_ncnn.boxes[:10], from_onnx.boxes[:10], atol=0.5)
    np.testing.assert_allclose(from_ncnn.scores[:10], from_onnx.scores[:10], atol=1e-3)


def test_without_opencv_the_command_says_what_to_install():
    without_opencv = (
        'import runpy, sys\n'
        'class NoOpenCV:\n'
        '    def find_spec(self, name, path=None, target=None):\n'
        "        if name.split('.')[0] == 'cv2':\n"
        "            raise ImportError('no OpenCV here')\n"
        'sys.meta_path.insert(0, NoOpenCV())\n'
        "runpy.run_module('shufflenet_det_runtime', run_name='__main__', alter_sys=True)\n")
    result = subprocess.run([sys.executable, '-c', without_opencv, 'model.onnx', 'a.jpg'],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        'ImportError: shufflenet_det_runtime needs OpenCV: pip install opencv-python-headless '
        "(a server) or opencv-python (for --show); the runtime's extras [headless] and [gui] "
        'install them')
