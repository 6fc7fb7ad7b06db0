"""tools/analysis_tools/runtime_benchmark.py: the runtime's steps timed in processes of their
own, the peer's network beside them, the command's memory over a video; run where the training
house cannot be imported."""
import importlib.util
import json
import os

import cv2
import numpy as np
import pytest

from shufflenet_det_runtime import Detector
from tests.runtime_runner import run_runtime
from tests.runtimes import requires
from tests.shared_data import NANODET_M, requires_shared
from tests.test_tools.tool_runner import REPO

pytestmark = pytest.mark.xdist_group('runtime')

TOOL = 'tools/analysis_tools/runtime_benchmark.py'
NANODET_NCNN = NANODET_M / 'ncnn/nanodet-m.param'


@pytest.fixture
def photos(tmp_path):
    """Three images of shapes on noise, and one file that is no image."""
    folder = tmp_path / 'photos'
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index, (width, height) in enumerate([(320, 240), (200, 260), (256, 256)]):
        image = rng.integers(0, 256, (height, width, 3), np.uint8)
        cv2.rectangle(image, (20, 30), (120, 150), (0, 0, 255), -1)
        assert cv2.imwrite(str(folder / f'{index}.jpg'), image)
    (folder / 'broken.jpg').write_bytes(b'not an image')
    return folder


@requires('ncnn')
@requires_shared(NANODET_M)
def test_steps_are_timed_per_process_with_the_peer_and_the_memory_soak(shapes_model, photos,
                                                                       tmp_path):
    out = tmp_path / 'benchmark.json'
    model = os.path.relpath(shapes_model, tmp_path)  # as given from the user's folder
    result = run_runtime(model, '--images', photos, '--threads', '1', '--rounds', '2',
                         '--warmup', '1', '--peer-ncnn', NANODET_NCNN, '--soak-frames', '60',
                         '--soak-interval', '0.01', '--json', out, '--markdown',
                         tmp_path / 'benchmark.md', script=REPO / TOOL, cwd=tmp_path)
    report = json.loads(out.read_text())
    ours, peer = report['rows']
    assert ours['name'] == 'shapes.onnx, 1 thread' and ours['rounds'] == 2
    assert peer['peer'] and set(peer) >= {'network_ms', 'network_range_ms'}
    assert 'preprocess_ms' not in peer  # the peer is its network alone
    for step in ('decode', 'preprocess', 'network', 'postprocess'):
        low, high = ours[f'{step}_range_ms']
        assert 0 < low <= ours[f'{step}_ms'] <= high
    assert ours['network_ms'] < ours['end_to_end_ms']
    assert ours['pre_post_share'] == pytest.approx(
        (ours['preprocess_ms'] + ours['postprocess_ms']) / ours['end_to_end_ms'])
    assert ours['speedup_vs_peer'] == pytest.approx(peer['network_ms'] / ours['end_to_end_ms'])

    memory = report['memory']
    assert memory['frames'] == 60 and memory['samples'] >= 20 and memory['detections'] > 0
    assert 0 < memory['after_warmup_mib'] <= memory['peak_mib']
    assert memory['end_mib'] <= memory['peak_mib']
    assert memory['growth'] == pytest.approx(memory['end_mib'] / memory['after_warmup_mib'] - 1)
    table = (tmp_path / 'benchmark.md').read_text()
    assert "| NanoDet-m's own ncnn model, network alone, 1 thread |" in table
    assert 'Memory: 60 frames' in table and result.stdout.endswith(table)


def test_bad_input_stops_before_any_timing_in_one_line(shapes_model, photos, tmp_path):
    missing = run_runtime(tmp_path / 'none.onnx', '--images', photos, check=False, script=TOOL)
    assert missing.returncode == 1 and missing.stdout == ''
    assert missing.stderr.strip().splitlines() == [
        f'error: {tmp_path / "none.onnx"} does not exist']
    peer = run_runtime(shapes_model, '--images', photos, '--peer-ncnn', tmp_path / 'none.param',
                       check=False, script=TOOL)
    assert peer.stderr.strip() == f'error: {tmp_path / "none.param"} does not exist'
    empty = tmp_path / 'empty'
    empty.mkdir()
    result = run_runtime(shapes_model, '--images', empty, check=False, script=TOOL)
    assert result.stderr.strip() == f'error: no readable images in {empty}'


def test_end_to_end_is_each_images_three_steps(shapes_model, photos):
    spec = importlib.util.spec_from_file_location('runtime_benchmark', REPO / TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert len(tool.read_images(str(photos))) == 3
    times = tool.time_steps(Detector(str(shapes_model)), tool.image_paths(str(photos)))
    assert len(times.pop('decode')) == 4  # the broken file's decoding is timed, no more
    assert {len(values) for values in times.values()} == {3}
    for pre, network, post, total in zip(times['preprocess'], times['network'],
                                         times['postprocess'], times['end_to_end']):
        assert min(pre, network, post) > 0 and total == pre + network + post
