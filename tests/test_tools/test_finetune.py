"""tools/finetune.py: from a folder of labelled photos to an evaluated, exported detector in one
command; what it refuses before it writes anything; and the plan that fits a time budget.

The end-to-end runs use ../shared/data (raccoon_voc, coco_tiny_yolo, NanoDet-m's COCO weights)
and train a few iterations; they are skipped where the data is absent.
"""
import json
import math
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from shufflenet_det.apis.finetune_config import Schedule, finetune_config
from shufflenet_det.apis.starting_weights import check_architecture
from shufflenet_det.apis.training_plan import plan_schedule
from shufflenet_det.utils import CheckpointError
from shufflenet_det.utils.run_config import build_detector
from shufflenet_det_runtime.model_info import METADATA_KEY
from shufflenet_det_runtime.onnx_metadata import read_onnx_metadata
from tests.runtime_runner import run_runtime
from tests.shared_data import NANODET_M, SHARED_DATA, requires_shared
from tests.test_datasets.test_coco_conversion import photo, voc_xml
from tests.test_docs import load_tool
from tests.test_tools.tool_runner import REPO, run_tool

RACCOON = SHARED_DATA / 'raccoon_voc'
COCO_TINY_YOLO = SHARED_DATA / 'coco_tiny_yolo'
NANODET_M_320 = NANODET_M / 'nanodet_m_320.ckpt'
NANODET_CONFIG = REPO / 'configs/nanodet_shufflenetv2_lightpan_320_coco.py'


def finetune(*args, check=True):
    return run_tool('tools/finetune.py', *args, check=check, timeout=900)


def error_line(result) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), result.stderr[-2000:]
    return lines[0]


def bbox_map(output: str) -> float:
    match = re.search(r'coco/bbox_mAP: (\d+\.\d+)', output)
    assert match, output[-3000:]
    return float(match.group(1))


def small_voc(folder, images=10):
    """``images`` photos with one box each, VOC XML beside them."""
    for index in range(images):
        photo(folder / f'p{index}.jpg')
        voc_xml(folder / f'p{index}.xml', f'p{index}.jpg', (64, 48),
                [('cat', ('5', '5', '40', '30'), False)])
    return folder


@pytest.mark.slow
@pytest.mark.xdist_group('nanodet_m')
@requires_shared(RACCOON, NANODET_M)
def test_raccoon_from_nanodet_weights_to_exported_models(tmp_path):
    """VOC data and NanoDet's .ckpt in, an ordinary config, the best checkpoint, metrics that
    tools/test.py reproduces and models the runtime reads out; then --resume continues the run
    and a second run into the same dir is refused."""
    work_dir = tmp_path / 'raccoon'
    result = finetune(RACCOON, '--work-dir', work_dir, '--from', NANODET_M_320, '--iters', '4',
                      '--batch-size', '8', '--export', 'onnx,int8,ncnn')
    log = result.stdout + result.stderr
    assert 'read Pascal VOC XML: 200 images, 217 boxes of 1 class (raccoon)' in log
    assert "ClassTransferHook: 0 of 1 classes take their scores" in log
    assert re.search(r'BNRecalibrationHook: the statistics of 67 BatchNorm layers', log)
    assert [path.name for path in work_dir.glob('*.py')] == ['raccoon.py']
    assert {path.name for path in (work_dir / 'annotations').iterdir()} == {
        'instances_train.json', 'instances_val.json'}
    best, = work_dir.glob('best_coco_bbox_mAP_iter_*.pth')
    metrics = json.loads((work_dir / 'metrics.json').read_text())
    assert set(metrics['AP_per_class']) == {'raccoon'}
    assert metrics['checkpoint'] == best.name
    assert set(metrics['minutes']) == {'training', 'evaluation', 'export'}

    # The config reruns as it is: tools/test.py scores the best checkpoint as metrics.json says.
    test = run_tool('tools/test.py', work_dir / 'raccoon.py', best, '--work-dir',
                    tmp_path / 'test', timeout=900)
    assert bbox_map(test.stdout + test.stderr) == pytest.approx(metrics['bbox_mAP'], abs=1e-4)

    for model in ('model.onnx', 'model_int8.onnx'):
        description = json.loads(read_onnx_metadata(str(work_dir / model))[METADATA_KEY])
        assert description['classes'] == ['raccoon']
    sidecar = json.loads((work_dir / 'model.ncnn.json').read_text())
    assert sidecar['classes'] == ['raccoon']
    assert (work_dir / 'model.ncnn.bin').is_file()
    assert (work_dir / 'val_detections.bbox.json').is_file()

    before = {path.name: path.stat().st_mtime_ns for path in work_dir.iterdir()}
    refused = finetune(RACCOON, '--work-dir', work_dir, '--from', NANODET_M_320, '--iters', '4',
                       check=False)
    assert 'already holds files' in error_line(refused)
    assert {path.name: path.stat().st_mtime_ns for path in work_dir.iterdir()} == before

    resumed = finetune('--work-dir', work_dir, '--resume')
    assert 'resumed' in (resumed.stdout + resumed.stderr).lower()
    assert json.loads((work_dir / 'metrics.json').read_text())['bbox_mAP'] == \
        pytest.approx(metrics['bbox_mAP'])


@pytest.mark.slow
@pytest.mark.xdist_group('nanodet_m')
@requires_shared(COCO_TINY_YOLO, NANODET_M)
def test_yolo_layout_with_classes_from_a_checkpoint_of_this_project(tmp_path,
                                                                   nanodet_m_checkpoint):
    """The converted NanoDet-m checkpoint names its config; its COCO classes' scores go to the
    classes asked for."""
    work_dir = tmp_path / 'pets'
    result = finetune(COCO_TINY_YOLO, '--work-dir', work_dir, '--from',
                      nanodet_m_checkpoint('nanodet_m_320'), '--classes', 'dog,person',
                      '--iters', '2', '--batch-size', '8')
    log = result.stdout + result.stderr
    assert 'detector configs/nanodet_shufflenetv2_lightpan_320_coco.py' in log
    assert not (work_dir / 'starting_weights.pth').exists()  # loaded where it is
    assert "ClassTransferHook: 2 of 2 classes take their scores from the checkpoint's 80 " \
           "classes: 'dog', 'person'" in log
    metrics = json.loads((work_dir / 'metrics.json').read_text())
    assert list(metrics['AP_per_class']) == ['dog', 'person']
    assert metrics['bbox_mAP'] > 0.05  # COCO's person and dog scores work from the start


def test_the_yolov8_style_config_trains_evaluates_and_runs_without_torch(tmp_path):
    """--config takes the YOLOv8-style detector like the others: trained, evaluated, exported
    (FP32 and INT8) with the description of its head, and run by the standalone runtime."""
    work_dir = tmp_path / 'run'
    finetune(small_voc(tmp_path / 'data'), '--work-dir', work_dir, '--from', 'scratch',
             '--config', REPO / 'configs/yolov8_shufflenetv2_320_coco.py', '--iters', '2',
             '--batch-size', '4', '--export', 'onnx,int8')
    assert list(json.loads((work_dir / 'metrics.json').read_text())['AP_per_class']) == ['cat']
    description = json.loads(read_onnx_metadata(str(work_dir / 'model.onnx'))[METADATA_KEY])
    assert description['head']['type'] == 'YOLOv8Head' and description['head']['reg_max'] == 15
    assert description['postprocess']['clip'] == 'after_nms'
    for model in ('model.onnx', 'model_int8.onnx'):
        result = run_runtime(work_dir / model, tmp_path / 'data' / 'p0.jpg', '--json',
                             tmp_path / 'p0.json')
        assert result.stdout.startswith('1 image, ')
        assert json.loads((tmp_path / 'p0.json').read_text())  # an untrained head finds boxes


def test_without_from_says_where_nanodets_weights_are_before_reading_the_data(tmp_path):
    (tmp_path / 'data').mkdir()  # no data either: --from is said first, before any reading
    result = finetune(tmp_path / 'data', '--work-dir', tmp_path / 'run', check=False)
    line = error_line(result)
    assert 'https://github.com/RangiLyu/nanodet#model-zoo' in line and '--from' in line
    missing = finetune(tmp_path / 'data', '--work-dir', tmp_path / 'run', '--from',
                       tmp_path / 'nanodet_m.ckpt', check=False)
    assert f'--from {tmp_path / "nanodet_m.ckpt"}: no such file' in error_line(missing)
    assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('make, message', [
    (lambda folder: folder.mkdir(), 'has no data.yaml, classes.txt, COCO json or .xml files'),
    (lambda folder: photo(folder / 'a.jpg'), 'has no data.yaml, classes.txt, COCO json or .xml'),
    (lambda folder: voc_xml(folder / 'a.xml', 'a.jpg', (64, 48),
                            [('cat', ('5', '5', '40', '30'), False)]), 'no labelled image'),
])
def test_data_that_cannot_train_is_refused_before_anything_is_written(tmp_path, make, message):
    make(tmp_path / 'data')
    result = finetune(tmp_path / 'data', '--work-dir', tmp_path / 'run', '--from', 'scratch',
                      check=False)
    assert message in error_line(result)
    assert not (tmp_path / 'run').exists()


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    _, fcos = build_detector(str(REPO / 'configs/fcos_shufflenetv2_coco.py'))
    checkpoint = tmp_path / 'fcos.pth'
    torch.save(dict(state_dict=fcos.state_dict(), meta=dict()), checkpoint)
    result = finetune(small_voc(tmp_path / 'data'), '--work-dir', tmp_path / 'run', '--from',
                      checkpoint, '--config', NANODET_CONFIG, check=False)
    line = error_line(result)
    assert f'{checkpoint} does not match the detector of {NANODET_CONFIG}: missing keys' in line
    assert line.endswith('; pass the config it was trained with as --config, or start from '
                         'weights of this detector')
    assert not (tmp_path / 'run').exists()
    unnamed = finetune(small_voc(tmp_path / 'data'), '--work-dir', tmp_path / 'run', '--from',
                       checkpoint, check=False)
    assert 'does not name the config it was trained with; pass it with --config' in \
        error_line(unnamed)


def test_a_file_that_is_no_checkpoint_is_refused(tmp_path):
    bogus = tmp_path / 'weights.pth'
    torch.save(dict(anything=1), bogus)
    result = finetune(small_voc(tmp_path / 'data'), '--work-dir', tmp_path / 'run', '--from',
                      bogus, check=False)
    assert 'expected a NanoDet checkpoint' in error_line(result)
    assert not (tmp_path / 'run').exists()


def test_a_run_that_stops_before_its_first_checkpoint_takes_back_what_it_wrote(tmp_path):
    """A --cfg-options value the runner refuses ends the run in one line, after the work dir
    was written: the dir it made is removed (an empty dir it was given is emptied again), so
    the same command is not refused as an earlier run's dir; the files of a dir that held some
    are never touched."""
    work_dir = tmp_path / 'run'
    args = (small_voc(tmp_path / 'data'), '--work-dir', work_dir, '--from', 'scratch', '--iters',
            '1', '--cfg-options', 'optim_wrapper.optimizer.lr=-1')
    for given_empty in (False, True):
        if given_empty:
            work_dir.mkdir()
        line = error_line(finetune(*args, check=False))
        assert re.match(r'error: the run stopped before its first checkpoint \(ValueError at '
                        r'\w+/\w+\.py:\d+: Invalid learning rate: -1\)', line), line
        assert work_dir.is_dir() == given_empty and not any(work_dir.glob('*'))
    (work_dir / 'notes.txt').write_text('mine')
    assert 'already holds files' in error_line(finetune(*args, check=False))
    assert [path.name for path in work_dir.iterdir()] == ['notes.txt']
    a_file = work_dir / 'notes.txt'
    assert error_line(finetune(args[0], '--work-dir', a_file, '--from', 'scratch', check=False)) \
        == f'error: --work-dir {a_file} is a file, not a folder'


def test_a_split_without_boxes_is_refused(tmp_path):
    folder = small_voc(tmp_path / 'data', images=5)
    (folder / 'p4.xml').unlink()  # the 5th image, the val split's one, has no labels
    result = finetune(folder, '--work-dir', tmp_path / 'run', '--from', 'scratch', check=False)
    assert 'the val split has 1 image and 0 boxes' in error_line(result)
    assert not (tmp_path / 'run').exists()
    for index in range(4):  # and the train split without boxes
        (folder / f'p{index}.xml').unlink()
    voc_xml(folder / 'p4.xml', 'p4.jpg', (64, 48), [('cat', ('5', '5', '40', '30'), False)])
    result = finetune(folder, '--work-dir', tmp_path / 'run', '--from', 'scratch', check=False)
    assert 'the train split has 4 images and 0 boxes' in error_line(result)
    assert not (tmp_path / 'run').exists()


def test_a_budget_spent_before_training_starts_is_refused(tmp_path):
    result = finetune(small_voc(tmp_path / 'data'), '--work-dir', tmp_path / 'run', '--from',
                      'scratch', '--minutes', '0.01', check=False)
    *probe, line = result.stderr.strip().splitlines()  # the probe's progress bar, then the error
    assert result.returncode != 0 and not any('Warning' in text for text in probe)
    assert re.match(r'error: --minutes 0.01 is spent before training starts: reading the data '
                    r'and timing the run took \d+ s, starting it takes \d+ s more; give it more '
                    r'minutes$', line)
    assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('seconds, iteration, image, val_images', [
    (600, 1.0, 0.05, 40), (600, 0.3, 0.2, 500), (60, 2.0, 0.1, 40), (3600, 1.5, 0.02, 40)])
def test_the_plan_ends_within_the_budget(seconds, iteration, image, val_images):
    schedule = plan_schedule(seconds, iteration, image, val_images, batch_size=16)
    evaluations = -(-schedule.iterations // schedule.val_interval)
    planned = schedule.iterations * iteration + evaluations * (val_images * image + 2.0)
    assert planned <= seconds
    assert planned >= 0.85 * seconds  # and uses most of it
    assert 1 <= evaluations <= 10
    assert schedule.minutes == seconds / 60


def test_a_checkpoint_of_other_classes_fits_but_not_one_of_other_layers():
    _, model = build_detector(str(NANODET_CONFIG), dict(model=dict(bbox_head=dict(num_classes=2))))
    weights = model.state_dict()
    check_architecture(Config.fromfile(str(NANODET_CONFIG)), dict(state_dict=weights), 'two.pth',
                       'nanodet')  # the heads' class rows differ (2 against 80): accepted
    weights['neck.lateral_convs.0.conv.weight'] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r'two.pth does not fit the detector of nanodet: 1 '
                                              r'tensors have other shapes, e.g. neck\.lateral'):
        check_architecture(Config.fromfile(str(NANODET_CONFIG)), dict(state_dict=weights),
                           'two.pth', 'nanodet')


def test_ctrl_c_before_the_first_checkpoint_takes_back_the_run_in_one_line(tmp_path):
    work_dir = tmp_path / 'run'
    process = subprocess.Popen(
        [sys.executable, 'tools/finetune.py', str(small_voc(tmp_path / 'data')), '--work-dir',
         str(work_dir), '--from', 'scratch', '--iters', '100000', '--batch-size', '4',
         '--cfg-options', 'train_cfg.val_interval=100000',
         'default_hooks.checkpoint.interval=100000'],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (work_dir / 'run.py').exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(5)  # training under way
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130, stderr[-3000:]
    assert stderr.strip().splitlines()[-1] == (
        f'stopped (Ctrl-C) before the first checkpoint; what the run wrote into {work_dir} is '
        'removed')
    assert 'Traceback' not in stderr and not work_dir.exists()


def test_a_run_from_a_fine_tuned_checkpoint_gets_its_own_time_limit_and_keeps_negatives():
    """The config of an earlier fine-tuning run (the base when its checkpoint names it) holds
    that run's TimeLimitHook and ProgressBarHook: replaced, not kept beside the new ones; and
    training keeps the images without boxes (the conversion's negatives)."""
    base = Config.fromfile(str(NANODET_CONFIG))
    base.custom_hooks = [dict(type='TimeLimitHook', minutes=0.0001), dict(type='ProgressBarHook')]
    for minutes in (None, 5.0):
        cfg = finetune_config(base, '/data', Path('/run/annotations'), ['cat'], Path('/run'),
                              None, Schedule(3, 3, 4, minutes))
        hooks = [hook['type'] for hook in cfg.custom_hooks]
        assert hooks.count('ProgressBarHook') == 1
        assert [hook.get('minutes') for hook in cfg.custom_hooks
                if hook['type'] == 'TimeLimitHook'] == ([minutes] if minutes else [])
        assert cfg.train_dataloader.dataset.filter_cfg == dict(filter_empty_gt=False,
                                                               min_size=32)


def test_metrics_json_has_no_nan_for_a_class_without_val_boxes(capsys):
    tool = load_tool('tools/finetune.py')
    metrics = {'coco/bbox_mAP': 0.3, 'coco/bbox_mAP_50': 0.5, 'coco/bbox_mAP_75': 0.2,
               'coco/person_precision': 0.326, 'coco/car_precision': math.nan}
    record = tool.metrics_record(metrics, ['person', 'car'], Path('best.pth'), {})
    assert record['AP_per_class'] == dict(person=0.326, car=None)
    json.dumps(record, allow_nan=False)
    assert 'warning: no AP for car: no box of it in the val split' in capsys.readouterr().err


def test_flags_are_checked_and_resume_says_which_it_does_not_use(capsys):
    tool = load_tool('tools/finetune.py')
    for flag, bad in (('--lr', '0'), ('--lr', 'nan'), ('--minutes', 'inf'),
                      ('--minutes', 'nan')):
        with pytest.raises(SystemExit):
            tool.parse_args(['data', '--work-dir', 'run', '--from', 'scratch', flag, bad])
        assert f'{flag} must be a positive number' in capsys.readouterr().err
    args = tool.parse_args(['data', '--work-dir', 'run', '--resume', '--iters', '50',
                            '--classes', 'cat'])
    assert capsys.readouterr().err == ('warning: --resume continues the run as run has it: '
                                       'DATA, --classes, --iters not used\n')
    assert (args.batch_size, args.lr) == (16, 1e-3)


def test_a_copied_run_is_not_resumed_in_place_of_the_original(tmp_path):
    """A run's config and checkpoints name the folder it was written in: a copy (or a moved
    run) is refused in one line, and the original is left as it was."""
    original, copy = tmp_path / 'run', tmp_path / 'copy'
    finetune(small_voc(tmp_path / 'data'), '--work-dir', original, '--from', 'scratch',
             '--iters', '2', '--batch-size', '4')
    shutil.copytree(original, copy)
    before = {path: path.stat().st_mtime_ns for path in original.rglob('*')}
    assert error_line(finetune('--work-dir', copy, '--resume', check=False)) == (
        f'error: --resume: the run in {copy} was written in {original}, which its config and '
        'checkpoints name: a copied or moved run cannot go on; resume it where it was written, '
        'or start a new run')
    assert {path: path.stat().st_mtime_ns for path in original.rglob('*')} == before
