"""AtomicCheckpointHook: a kill during any checkpoint write leaves the checkpoints written before
complete and in place; otherwise it behaves as MMEngine's CheckpointHook."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.fileio import BaseStorageBackend, get_file_backend, register_backend

from shufflenet_det.engine.hooks import AtomicCheckpointHook, AtomicLocalBackend, atomic_write
from shufflenet_det.errors import ConfigError
from shufflenet_det.utils import CheckpointError, find_resumable_checkpoint, safe_torch_load
from tests.test_engine.toy_runner import build_toy_runner

REPO = Path(__file__).parents[2]


def listing(directory: Path) -> list:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob('*')
                  if p.suffix in ('.pth', '.tmp') or p.name == 'last_checkpoint')


def train_and_die(work_dir: Path, hook_type: str, kill_file: str, occurrence: int,
                  best: bool = False):
    """Train the toy runner in a child process (3 iterations, a checkpoint each, keeping one;
    with ``best``, a rising best checkpoint each too) that dies halfway through its
    ``occurrence``-th write of ``kill_file``."""
    child = subprocess.run(
        [sys.executable, '-m', 'tests.test_engine.toy_runner', str(work_dir), hook_type, '1',
         kill_file, str(occurrence), 'best' if best else ''], capture_output=True, text=True,
        cwd=REPO)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]


def test_kill_mid_checkpoint_write_leaves_the_last_one_in_place(tmp_path):
    train_and_die(tmp_path, 'AtomicCheckpointHook', 'iter_2.pth', 1)
    recorded = (tmp_path / 'last_checkpoint').read_text()
    assert recorded == str(tmp_path / 'iter_1.pth')  # the save of iteration 2 never finished
    assert safe_torch_load(recorded)['meta']['iter'] == 1
    # The half-written file is a hidden temporary that `*.pth` does not match. Iteration 1
    # (max_keep_ckpts=1) is only removed after iteration 2 is complete.
    assert listing(tmp_path) == ['.iter_2.pth.tmp', 'iter_1.pth', 'last_checkpoint']
    assert 0 < (tmp_path / '.iter_2.pth.tmp').stat().st_size
    assert find_resumable_checkpoint(str(tmp_path)) == recorded


def test_kill_mid_last_checkpoint_write_resumes_from_the_complete_checkpoint(tmp_path):
    """MMEngine writes last_checkpoint in place: a kill can cut it short, but both checkpoints
    are complete (iteration 1 waits for the hook's step to end) and --resume takes the newer."""
    train_and_die(tmp_path, 'AtomicCheckpointHook', 'last_checkpoint', 2)
    assert listing(tmp_path) == ['iter_1.pth', 'iter_2.pth', 'last_checkpoint']
    assert (tmp_path / 'last_checkpoint').read_text() != str(tmp_path / 'iter_2.pth')
    assert [safe_torch_load(tmp_path / f'iter_{i}.pth')['meta']['iter'] for i in (1, 2)] == [1, 2]
    assert find_resumable_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_2.pth')


@pytest.mark.parametrize('hook_type', ['CheckpointHook', 'AtomicCheckpointHook'])
def test_kill_mid_best_checkpoint_write(tmp_path, hook_type):
    """MMEngine removes the previous best checkpoint before it writes the new one."""
    train_and_die(tmp_path, hook_type, 'best_score_iter_2.pth', 1, best=True)
    best = sorted(p.name for p in tmp_path.glob('best_*'))
    if hook_type == 'CheckpointHook':
        assert best == ['best_score_iter_2.pth']  # half-written: the only best is lost
        with pytest.raises(CheckpointError):
            safe_torch_load(tmp_path / 'best_score_iter_2.pth')
    else:
        assert best == ['best_score_iter_1.pth']
        assert safe_torch_load(tmp_path / best[0])['meta']['iter'] == 1


def test_stock_hook_loses_everything_when_killed_mid_write(tmp_path):
    """The same kill under MMEngine's CheckpointHook: iteration 1 was removed before iteration
    2 was written, which is left truncated under its final name."""
    train_and_die(tmp_path, 'CheckpointHook', 'iter_2.pth', 1)
    assert listing(tmp_path) == ['iter_2.pth', 'last_checkpoint']
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_1.pth')
    for path in (tmp_path / 'iter_1.pth', tmp_path / 'iter_2.pth'):
        with pytest.raises(CheckpointError):
            safe_torch_load(path)


@pytest.mark.parametrize('out_dir', [False, True])
def test_same_files_as_mmengine_hook(tmp_path, out_dir):
    """interval, max_keep_ckpts, save_best and out_dir give MMEngine's files and records."""
    results = {}
    for hook in ('CheckpointHook', 'AtomicCheckpointHook'):
        work_dir = tmp_path / hook / 'work'
        checkpoint = dict(type=hook, interval=1, by_epoch=False, max_keep_ckpts=2,
                          save_best='score', rule='greater')
        if out_dir:
            checkpoint['out_dir'] = str(tmp_path / hook / 'out')
        runner = build_toy_runner(str(work_dir), checkpoint, max_iters=5, val_interval=2,
                                  name=f'{hook}_{out_dir}')
        runner.train()
        root = tmp_path / hook
        files = listing(root)
        last = Path((work_dir / 'last_checkpoint').read_text()).relative_to(root)
        kept = runner.message_hub.get_info('keep_ckpt_ids')
        results[hook] = files, str(last), kept
        for name in files:
            if name.endswith('.pth'):
                assert safe_torch_load(root / name)['meta']['iter'] == int(name[-5])
    prefix = 'out/work/' if out_dir else 'work/'
    assert results['CheckpointHook'] == results['AtomicCheckpointHook'] == (
        [f'{prefix}best_score_iter_5.pth', f'{prefix}iter_4.pth', f'{prefix}iter_5.pth',
         'work/last_checkpoint'], f'{prefix}iter_5.pth', [4, 5])


@register_backend('remote_for_tests', force=True)
class RemoteBackend(BaseStorageBackend):
    """Stands for object storage (``s3://`` and the like), which has no rename."""

    def get(self, filepath):
        raise NotImplementedError

    def get_text(self, filepath, encoding='utf-8'):
        raise NotImplementedError

    def join_path(self, filepath, *filepaths):
        return '/'.join((filepath, *filepaths))


def test_local_checkpoints_only_go_through_the_atomic_backend(tmp_path):
    for backend_args, backend in ((None, AtomicLocalBackend), (dict(backend='local'),
                                                               AtomicLocalBackend),
                                  (dict(backend='remote_for_tests'), RemoteBackend)):
        runner = build_toy_runner(
            str(tmp_path), dict(type='AtomicCheckpointHook', backend_args=backend_args),
            name=f'{backend_args}')
        hook = next(h for h in runner.hooks if isinstance(h, AtomicCheckpointHook))
        hook.before_train(runner)
        assert type(hook.file_backend) is backend
        assert type(get_file_backend(hook.out_dir, backend_args=hook.backend_args)) is backend


def test_atomic_write_replaces_or_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / 'sub' / 'a.pth'
    AtomicLocalBackend().put(b'old', path)
    AtomicLocalBackend().put_text('new', path)
    assert path.read_bytes() == b'new'

    def full_disk(fd):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, 'fsync', full_disk)
    with pytest.raises(OSError, match='No space'):
        atomic_write(b'newer', path)
    assert path.read_bytes() == b'new'
    assert sorted(os.listdir(path.parent)) == ['a.pth']  # the temporary file is removed


def test_an_argument_the_hook_does_not_take_stops_before_training(tmp_path):
    # MMEngine passes it on to Runner.save_checkpoint, which failed at the first checkpoint,
    # after the first epoch's training
    hook = AtomicCheckpointHook(interval=1, intervl=1)
    with pytest.raises(ConfigError, match=r"^the checkpoint hook does not take intervl \(did "
                                          r"you mean 'interval'\?\); it takes interval, by_epoch"):
        hook.before_train(build_toy_runner(str(tmp_path), dict(type="AtomicCheckpointHook")))
