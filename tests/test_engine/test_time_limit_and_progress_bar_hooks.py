"""TimeLimitHook: training stops once its minutes are spent, and a resumed run counts the time
its checkpoint's run had spent. ProgressBarHook: a bar of the iterations that ends where training
does."""
import time

import pytest
import torch
from mmengine.hooks import Hook

from shufflenet_det.engine import ProgressBarHook, TimeLimitHook
from tests.test_engine.toy_runner import build_toy_runner

CHECKPOINT = dict(type='CheckpointHook', interval=1, by_epoch=False)


class SlowIterations(Hook):
    """Each iteration takes ``seconds`` more."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        time.sleep(self.seconds)


def test_training_stops_when_the_minutes_are_spent(tmp_path):
    limit = TimeLimitHook(minutes=0.3 / 60)  # 0.3 s: about 6 iterations of 0.05 s
    runner = build_toy_runner(str(tmp_path), CHECKPOINT, max_iters=1000, name='limit',
                              custom_hooks=[SlowIterations(0.05), limit])
    runner.train()
    assert 4 <= runner.iter <= 8, runner.iter
    assert limit.spent() >= 0.3
    checkpoint = torch.load(tmp_path / f'iter_{runner.iter}.pth', weights_only=False)
    assert checkpoint['meta']['training_seconds'] >= 0.3


def test_a_resumed_run_counts_the_time_already_spent(tmp_path):
    first = build_toy_runner(str(tmp_path), CHECKPOINT, max_iters=3, name='first',
                             custom_hooks=[SlowIterations(0.05), TimeLimitHook(minutes=1)])
    first.train()
    spent = torch.load(tmp_path / 'iter_3.pth', weights_only=False)['meta']['training_seconds']
    assert spent >= 0.15
    # The budget is what the first run spent: the resumed run stops after one more iteration.
    resumed = build_toy_runner(str(tmp_path), CHECKPOINT, max_iters=1000, name='resumed',
                               custom_hooks=[TimeLimitHook(minutes=spent / 60)],
                               load_from=str(tmp_path / 'iter_3.pth'), resume=True)
    resumed.train()
    assert resumed.iter == 4


def test_a_run_loaded_from_a_checkpoint_starts_its_own_clock(tmp_path):
    first = build_toy_runner(str(tmp_path / 'a'), CHECKPOINT, max_iters=2, name='spent',
                             custom_hooks=[SlowIterations(0.1), TimeLimitHook(minutes=1)])
    first.train()
    # The first run spent 0.2 s; counted, it would stop this one after its first iteration.
    runner = build_toy_runner(str(tmp_path / 'b'), CHECKPOINT, max_iters=3, name='fresh',
                              custom_hooks=[TimeLimitHook(minutes=0.15 / 60)],
                              load_from=str(tmp_path / 'a' / 'iter_2.pth'))
    runner.train()
    assert runner.iter == 3


def test_minutes_must_be_positive():
    with pytest.raises(ValueError, match='minutes must be positive'):
        TimeLimitHook(minutes=0)


def test_the_progress_bar_counts_the_iterations_and_stops_where_training_stops(tmp_path, capsys):
    runner = build_toy_runner(str(tmp_path), CHECKPOINT, max_iters=1000, name='bar',
                              custom_hooks=[SlowIterations(0.05), TimeLimitHook(minutes=0.2 / 60),
                                            ProgressBarHook()])
    runner.train()
    bar = capsys.readouterr().err.split('\r')[-1]
    assert bar.startswith(f'training:   {runner.iter * 100 // 1000}%|')
    assert f'| {runner.iter}/1000 [' in bar and 'loss=' in bar


def test_into_a_log_the_bar_is_drawn_once_a_minute_not_each_iteration(tmp_path, capsys):
    runner = build_toy_runner(str(tmp_path), CHECKPOINT, max_iters=1000, name='log',
                              custom_hooks=[SlowIterations(0.05), TimeLimitHook(minutes=0.6 / 60),
                                            ProgressBarHook()])
    runner.train()  # ~12 iterations in 0.6 s: a bar redrawn each 0.1 s would draw ~6 times
    drawn = capsys.readouterr().err.count('training:')
    assert 1 <= drawn <= 2, drawn  # the start and the end
