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
import onnx
import pytest

from shufflenet_det.apis.onnx_export import export_onnx
from shufflenet_det.deployment.model_description import write_sidecar
from shufflenet_det.utils.run_config import build_detector
from shufflenet_det_runtime import Detector, read_model_info
from shufflenet_det_runtime import __main__ as runtime_command
from shufflenet_det_runtime.__main__ import stop_signals_held
from shufflenet_det_runtime.errors import ModelError
from shufflenet_det_runtime.model_info import ModelInfo
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
    assert '1 image, ' in one.stdout

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


def test_a_streams_frames_are_each_drawn_once(shapes_model, tmp_path):
    # a file read as a stream (file://): every frame is read, none held as a camera's are
    write_video(tmp_path / 'clip.mp4', 10, size=(320, 240), fps=1000)
    url = f'file://{tmp_path / "clip.mp4"}'
    result = run_runtime(shapes_model, url, '--out', tmp_path / 'out', '--json',
                         tmp_path / 'stream.json')
    assert '10 frames' in result.stdout
    assert {r['file_name'] for r in json.loads((tmp_path / 'stream.json').read_text())} == {url}
    drawn = cv2.VideoCapture(str(tmp_path / 'out' / 'stream.mp4'))
    assert (drawn.get(cv2.CAP_PROP_FPS), drawn.get(cv2.CAP_PROP_FRAME_COUNT)) == (1000, 10)


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


@pytest.mark.parametrize('signum, status, said', [(signal.SIGINT, 130, 'Ctrl-C'),
                                                   (signal.SIGTERM, 143, 'SIGTERM')])
def test_a_stop_keeps_the_json_and_the_video_so_far(shapes_model, tmp_path, signum, status,
                                                    said):
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
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == status, stderr[-2000:]
    assert f'stopped ({said}); writing what was done' in stderr
    frames = {r['frame'] for r in json.loads((tmp_path / 'long.json').read_text())}
    written = int(cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT))
    assert frames == set(range(len(frames))) and 0 < len(frames) < 3000
    assert len(frames) <= written <= len(frames) + 1  # and the frame under way when stopped
    assert f'{len(frames)} frames' in stdout


def test_a_ctrl_c_inside_a_frames_commit_waits_for_its_end():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with stop_signals_held():
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
    unanswered_display = dict(without_display, DISPLAY=':99')  # no X server there
    (tmp_path / 'a_file').write_text('')
    (tmp_path / 'a_folder').mkdir()
    (tmp_path / 'broken.mp4').write_bytes(b'\0\0\0\x20ftypisom' + bytes(2000))
    cases = [
        ((bare, tmp_path / 'a.jpg'), None, 'carries no shufflenet_det description'),
        ((tmp_path / 'absent.onnx', tmp_path / 'a.jpg'), None, 'absent.onnx does not exist'),
        ((tmp_path / 'a.jpg', tmp_path / 'a.jpg'), None, 'a.jpg is not an exported model'),
        ((shapes_model, '9'), None, 'camera 9 does not open'),
        ((shapes_model, tmp_path / 'absent.jpg'), None, 'no such image, folder or video'),
        ((shapes_model, 'rtsp://user:s3cr3t@127.0.0.1:1/x'), None,
         'stream rtsp://user:***@127.0.0.1:1/x does not open'),  # refused at once, no password
        ((shapes_model, tmp_path / 'broken.mp4'), None, 'broken.mp4 does not open'),
        ((shapes_model, tmp_path / 'a.jpg', '--show'), without_display,
         '--show needs a display'),
        ((shapes_model, tmp_path / 'a.jpg', '--show', '--json', tmp_path / 'shown.json'),
         unanswered_display, '--show cannot open a window on display :99'),
        ((shapes_model, tmp_path / 'a.jpg', '--out', tmp_path / 'a_file'), None,
         'a_file is a file, not a folder'),
        ((shapes_model, tmp_path / 'a.jpg', '--json', tmp_path / 'a_folder'), None,
         'a_folder is a folder; give a file name'),
    ]
    for args, env, message in cases:
        result = run_runtime(*args, check=False, env=env)
        assert result.returncode == 2, result.stderr[-2000:]
        assert message in result.stderr and 'Traceback' not in result.stderr
        assert 's3cr3t' not in result.stderr
        assert len([line for line in result.stderr.splitlines()
                    if line.startswith('error:')]) == 1
        if 'rtsp' in str(args[1]) or str(args[1]).endswith('.mp4'):  # nor FFmpeg's own lines
            assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / 'shown.json').exists()  # refused before any output


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


def test_a_stop_asked_in_the_window_ends_without_a_warning(shapes_model, tmp_path, monkeypatch,
                                                           capsys):
    """q in the --show window (no display here: the window's calls are stand-ins)."""
    write_video(tmp_path / 'clip.mp4', 20)
    keys = iter([-1, -1, ord('q')])
    monkeypatch.setattr(runtime_command, 'open_window', lambda: None)
    monkeypatch.setattr(cv2, 'imshow', lambda *_: None)
    monkeypatch.setattr(cv2, 'waitKey', lambda _: next(keys))
    status = runtime_command.main([str(shapes_model), str(tmp_path / 'clip.mp4'), '--show',
                                   '--json', str(tmp_path / 'clip.json')])
    captured = capsys.readouterr()
    assert status == 0
    assert '3 frames' in captured.out and 'warning' not in captured.err
    assert {r['frame'] for r in json.loads((tmp_path / 'clip.json').read_text())} == {0, 1, 2}


def test_outputs_that_would_overwrite_an_input_or_each_other_are_refused(shapes_model,
                                                                          tmp_path):
    folder = tmp_path / 'photos'
    noise_image(folder / 'a.jpg', 64, 48, 0)
    noise_image(folder / 'a.png', 64, 48, 1)
    write_video(folder / 'clip.mp4', 3)
    photos = {path: path.read_bytes() for path in folder.iterdir()}
    cases = [
        ((folder, '--out', folder), f"{folder / 'a.jpg'} would overwrite an input"),
        ((folder / 'clip.mp4', '--out', folder), f"{folder / 'clip.mp4'} would overwrite an "
                                                 'input'),
        ((folder / 'a.jpg', '--json', folder / 'a.jpg'), f"{folder / 'a.jpg'} would overwrite "
                                                          'an input'),
        ((folder, '--out', tmp_path / 'out', '--save-txt'),
         f"{folder / 'a.jpg'} and {folder / 'a.png'} would both write "
         f"{tmp_path / 'out' / 'labels' / 'a.txt'}"),
    ]
    for args, message in cases:
        result = run_runtime(shapes_model, *args, check=False)
        assert result.returncode == 2 and f'error: {message}' in result.stderr, result.stderr
        assert {path: path.read_bytes() for path in folder.iterdir()} == photos
    assert not (tmp_path / 'out').exists()  # refused before anything was written


def test_output_names_keep_every_image_apart(shapes_model, tmp_path):
    folder = tmp_path / 'f'
    noise_image(folder / 'cam.2024-01-05.jpg', 64, 48, 0)
    noise_image(folder / 'cam.2024-01-06.jpg', 64, 48, 1)
    noise_image(folder / 'sub' / 'cam.2024-01-05.jpg', 64, 48, 2)
    run_runtime(shapes_model, f'{folder}/**/*.jpg', '--out', tmp_path / 'globbed', '--save-txt')
    written = {p.relative_to(tmp_path / 'globbed').as_posix()
               for p in (tmp_path / 'globbed').rglob('*') if p.is_file()}
    assert written == {'cam.2024-01-05.jpg', 'cam.2024-01-06.jpg', 'sub/cam.2024-01-05.jpg',
                       'labels/cam.2024-01-05.txt', 'labels/cam.2024-01-06.txt',
                       'labels/sub/cam.2024-01-05.txt'}

    write_video(tmp_path / 'clip.v2.mp4', 3)
    (tmp_path / 'clip.ts').write_bytes((tmp_path / 'clip.v2.mp4').read_bytes())
    run_runtime(shapes_model, tmp_path / 'clip.v2.mp4', '--out', tmp_path / 'v', '--save-txt')
    assert {p.name for p in (tmp_path / 'v' / 'labels').iterdir()} == {
        'clip.v2_0.txt', 'clip.v2_1.txt', 'clip.v2_2.txt'}
    assert '3 frames' in run_runtime(shapes_model, tmp_path / 'clip.ts').stdout

    (tmp_path / 'photo.jfif').write_bytes((folder / 'cam.2024-01-05.jpg').read_bytes())
    run_runtime(shapes_model, tmp_path / 'photo.jfif', '--out', tmp_path / 'j')
    assert cv2.imread(str(tmp_path / 'j' / 'photo.jfif.jpg')).shape == (48, 64, 3)

    (tmp_path / '7').mkdir()  # a folder named as a camera index is read as a folder
    noise_image(tmp_path / '7' / 'a.jpg', 64, 48, 3)
    assert '1 image, ' in run_runtime(shapes_model, '7', cwd=tmp_path).stdout

    runs = folder / 'runs'  # an --out inside the folder: a rerun does not read it
    for _ in range(2):
        assert '3 images' in run_runtime(shapes_model, folder, '--out', runs).stdout


def test_a_video_without_frames_is_said(shapes_model, tmp_path):
    cv2.VideoWriter(str(tmp_path / 'empty.avi'), cv2.VideoWriter_fourcc(*'MJPG'), 10,
                    (64, 48)).release()
    for limit in ([], ['--max-frames', '5']):
        result = run_runtime(shapes_model, tmp_path / 'empty.avi', *limit, check=False)
        assert result.returncode == 1
        assert 'warning: empty.avi gave no frame' in result.stderr


def test_a_description_that_does_not_fit_its_network_is_refused(shapes_model, tmp_path):
    model = onnx.load(str(shapes_model))
    entry = next(p for p in model.metadata_props if p.key == 'shufflenet_det')
    document = json.loads(entry.value)
    for change, shape in ((dict(classes=document['classes'][:2]), '(1, 3, 32, 32)'),
                          (dict(head=dict(document['head'], reg_max=9)), '(1, 32, 32, 32)')):
        entry.value = json.dumps(dict(document, **change))
        onnx.save(model, str(tmp_path / 'edited.onnx'))
        noise_image(tmp_path / 'a.jpg', 64, 48, 0)
        result = run_runtime(tmp_path / 'edited.onnx', tmp_path / 'a.jpg', check=False)
        assert result.returncode == 2 and 'Traceback' not in result.stderr, result.stderr
        assert f'gives a {"cls_score" if "classes" in change else "bbox_pred"} of shape ' \
            f'{shape} on level 0' in result.stderr


def test_a_description_the_runtime_cannot_follow_is_refused(shapes_model):
    document = read_model_info(str(shapes_model)).document
    head, preprocess = document['head'], document['preprocess']
    edits = [dict(head={k: v for k, v in head.items() if k != 'reg_max'}),
             dict(head=dict(head, priors=[head['priors'][0] * 2] + head['priors'][1:])),
             dict(preprocess=dict(preprocess, pad_size_divisor=0)),
             dict(classes=[1, 2, 3])]
    for edit in edits:
        with pytest.raises(ModelError, match='the model description is incomplete'):
            ModelInfo(dict(document, **edit))


def test_a_ctrl_c_before_the_first_frame_ends_in_one_line(shapes_model, monkeypatch, capsys):
    def interrupted(*_):  # Ctrl-C while the model loads
        raise KeyboardInterrupt
    monkeypatch.setattr(runtime_command, 'Detector', interrupted)
    assert runtime_command.main([str(shapes_model), str(shapes_model)]) == 130
    assert capsys.readouterr().err == 'stopped (Ctrl-C)\n'
