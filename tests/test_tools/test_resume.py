"""An interrupted training run loses at most the work since its last complete checkpoint.

End to end: tools/train.py on a 12-iteration run (a checkpoint every 4) is killed, then
``--resume`` finishes it, from the latest checkpoint or from one named by path (which
checkpoint is the latest: tests/test_utils/test_resume_checkpoint.py).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest
import torch

from shufflenet_det.utils import safe_torch_load
from tests.small_pipelines import small_pipelines
from tests.test_tools.tool_runner import REPO, run_tool

# 12 iterations on 96x96 shapes, a checkpoint every 4, a log line every iteration.
TINY = '''
_base_ = '{base}'
{pipelines}
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        sampler=dict(type='InfiniteSampler'),
                        dataset=dict(data_root='{root}/', pipeline=train_pipeline))
val_dataloader = None
val_cfg = None
val_evaluator = None
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=12)
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4)]
default_hooks = dict(checkpoint=dict(interval=4, by_epoch=False), logger=dict(interval=1))
log_processor = dict(by_epoch=False)
'''

# tools/train.py in a process that dies halfway through writing the file named first.
KILLED_MID_WRITE = '''
import runpy, sys
from tests.test_engine.kill_mid_write import kill_during_write
kill_during_write(sys.argv.pop(1))
sys.argv[0] = 'tools/train.py'
runpy.run_path('tools/train.py', run_name='__main__')
'''


@pytest.fixture(scope='module')
def config(tmp_path_factory):
    root = tmp_path_factory.mktemp('resume')
    run_tool('tools/misc/make_synthetic_coco.py', root / 'shapes', '--train', '8', '--val',
             '1', '--size', '96')
    path = root / 'tiny.py'
    path.write_text(TINY.format(base=REPO / 'configs/nanodet_shufflenetv2_lightpan_shapes.py',
                                root=root / 'shapes', pipelines=small_pipelines((96, 96))))
    return path


def resume(config, work_dir, start: int, checkpoint: Optional[Path] = None) -> str:
    """``--resume [CHECKPOINT]``; check it continued from iteration ``start`` to iteration 12."""
    result = run_tool('tools/train.py', config, '--work-dir', work_dir, '--resume',
                      *([checkpoint] if checkpoint else []))
    log = result.stdout + result.stderr
    assert re.search(rf'resumed epoch: \d+, iter: {start}\n', log), log[-3000:]
    trained = [int(i) for i in re.findall(r'Iter\(train\) \[ *(\d+)/12\]', log)]
    assert trained == list(range(start + 1, 13))  # nothing redone, nothing skipped
    assert safe_torch_load(work_dir / 'iter_12.pth')['meta']['iter'] == 12
    assert not list(work_dir.glob('.*.tmp'))  # a leftover temporary is replaced on rewrite
    return log


def test_sigkill_during_training_then_resume(config, tmp_path):
    work_dir = tmp_path / 'work'
    with open(tmp_path / 'killed.log', 'w') as log:
        train = subprocess.Popen([sys.executable, 'tools/train.py', str(config), '--work-dir',
                                  str(work_dir)], cwd=REPO, stdout=log, stderr=log)
    deadline = time.monotonic() + 300
    while not (work_dir / 'last_checkpoint').exists():
        assert train.poll() is None, (tmp_path / 'killed.log').read_text()[-3000:]
        assert time.monotonic() < deadline, 'no checkpoint within 300 s'
        time.sleep(0.02)
    train.kill()
    assert train.wait() == -signal.SIGKILL, 'training ended before it could be killed'
    saved = int(re.fullmatch(r'.*iter_(\d+)\.pth', (work_dir / 'last_checkpoint').read_text())[1])
    assert saved in (4, 8)
    resume(config, work_dir, saved)


def test_kill_while_the_second_checkpoint_is_written(config, tmp_path):
    work_dir = tmp_path / 'work'
    killed = subprocess.run([sys.executable, '-c', KILLED_MID_WRITE, 'iter_8.pth', str(config),
                             '--work-dir', str(work_dir)], capture_output=True, text=True,
                            cwd=REPO, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert 'Iter(train) [ 8/12]' in killed.stdout + killed.stderr
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['iter_4.pth']
    assert (work_dir / '.iter_8.pth.tmp').stat().st_size > 0  # the half-written one
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'iter_4.pth')
    resume(config, work_dir, 4)


def test_a_broken_annotation_file_stops_the_resume_and_loses_nothing(config, tmp_path):
    """The file is edited between runs and breaks: ``--resume`` stops before training with the
    checkpoints untouched; once the file is fixed, ``--resume`` continues where it was."""
    shutil.copytree(Path(re.search(r"data_root='(.+?)'", config.read_text())[1]),
                    tmp_path / 'shapes')
    own = tmp_path / 'own.py'
    own.write_text(f"_base_ = '{config}'\n"
                   f"train_dataloader = dict(dataset=dict(data_root='{tmp_path}/shapes/'))\n")
    work_dir = tmp_path / 'work'
    run_tool('tools/train.py', own, '--work-dir', work_dir, '--cfg-options',
             'train_cfg.max_iters=8')
    def checkpoints():
        return {path: path.read_bytes() for path in work_dir.iterdir()
                if path.suffix == '.pth' or path.name == 'last_checkpoint'}

    saved = checkpoints()
    assert len(saved) == 3  # iter_4.pth, iter_8.pth, last_checkpoint
    ann_file = tmp_path / 'shapes/annotations/instances_train.json'
    good = ann_file.read_text()
    data = json.loads(good)
    data['images'][1]['id'] = data['images'][0]['id']  # e.g. two exports merged
    ann_file.write_text(json.dumps(data))

    result = run_tool('tools/train.py', own, '--work-dir', work_dir, '--resume', check=False)
    assert result.returncode == 2
    assert re.search(r'error: \S+/instances_train.json: image id 1 is used 2 times',
                     result.stderr.splitlines()[-1])
    assert checkpoints() == saved

    ann_file.write_text(good)
    resume(own, work_dir, 8)


def test_resume_past_a_corrupt_checkpoint(config, tmp_path):
    """MMEngine's own hook never fsyncs: after a power cut, ``last_checkpoint`` can name a
    truncated file. ``--resume`` warns and takes the newest checkpoint that loads."""
    work_dir = tmp_path / 'work'
    run_tool('tools/train.py', config, '--work-dir', work_dir, '--cfg-options',
             'default_hooks.checkpoint.type=CheckpointHook', 'train_cfg.max_iters=8')
    last = work_dir / 'iter_8.pth'
    assert (work_dir / 'last_checkpoint').read_text() == str(last)
    os.truncate(last, last.stat().st_size // 2)
    log = resume(config, work_dir, 4)
    assert re.search(rf'WARNING - {work_dir}/last_checkpoint names a checkpoint that cannot '
                     rf'be resumed from: cannot read checkpoint {last} \(truncated', log)
    assert f'WARNING - Resuming from {work_dir}/iter_4.pth, the newest loadable' in log


def test_resume_from_a_named_earlier_checkpoint(config, tmp_path):
    """``--resume PATH`` takes that checkpoint, not the newer one ``last_checkpoint`` names."""
    work_dir = tmp_path / 'work'
    run_tool('tools/train.py', config, '--work-dir', work_dir, '--cfg-options',
             'train_cfg.max_iters=8')
    earlier = work_dir / 'iter_4.pth'
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'iter_8.pth')
    log = resume(config, work_dir, 4, earlier)
    assert f'Load checkpoint from {earlier}\n' in log
    assert 'Resuming from' not in log  # the work dir was not searched


@pytest.mark.parametrize('named', ['weights only', 'missing'])
def test_resume_from_a_named_file_that_is_no_training_checkpoint_stops_in_one_line(
        config, tmp_path, named):
    """A bare state dict (a converted or published model) or a missing file: one line saying
    what to do, before training starts and writes a checkpoint."""
    weights = tmp_path / 'weights.pth'
    if named == 'weights only':
        torch.save(dict(state_dict=dict(weight=torch.ones(1))), weights)
    work_dir = tmp_path / 'work'
    result = run_tool('tools/train.py', config, '--work-dir', work_dir, '--resume', weights,
                      check=False)
    reason = 'is not a training checkpoint' if named == 'weights only' else 'checkpoint not found'
    assert result.returncode != 0 and reason in result.stderr, result.stderr[-3000:]
    assert 'Traceback' not in result.stderr
    advice = f'To train from its weights without resuming, pass --cfg-options load_from={weights}'
    assert (advice in result.stderr) == (named == 'weights only')  # a missing file has none
    assert not list(work_dir.glob('*.pth'))
