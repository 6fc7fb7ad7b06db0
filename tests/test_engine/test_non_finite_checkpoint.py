"""AtomicCheckpointHook never writes a checkpoint holding a NaN or infinite tensor.

A huge but finite loss can leave BatchNorm statistics infinite; such a checkpoint would make
every resume from it fail at once. The run stops instead, naming the iteration and the tensor,
and a resume from the last checkpoint written (after fixing the cause) trains to the end.
"""
import math

import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

from shufflenet_det.engine.hooks import NonFiniteCheckpointError, non_finite_tensors
from shufflenet_det.utils import safe_torch_load
from tests.test_engine.toy_runner import RisingMetric


class LinearBN(BaseModel):
    """A linear layer and a BatchNorm, trained towards 3."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 4)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, inputs, mode: str = 'tensor'):
        out = self.bn(self.linear(torch.stack(inputs)))
        return dict(loss=(out - 3).pow(2).mean()) if mode == 'loss' else list(out)


def build_runner(work_dir, huge_from: int, name: str, load_from=None,
                 save_best: bool = False) -> Runner:
    """8 iterations of batch 4, a checkpoint after each (or, with ``save_best``, an evaluation
    after each that always improves and saves the best); samples from index ``huge_from`` on
    are 1e20 (iteration 4 meets them first), whose variance overflows float32."""
    torch.manual_seed(0)
    dataset = [dict(inputs=torch.randn(2) * (1e20 if i >= huge_from else 1.)) for i in range(16)]
    checkpoint = dict(type='AtomicCheckpointHook', interval=1, by_epoch=False)
    val = {}
    if save_best:
        checkpoint.update(interval=100, save_best='score', rule='greater')
        val = dict(val_dataloader=dict(dataset=dataset[:4], batch_size=4,
                                       sampler=dict(type='DefaultSampler', shuffle=False)),
                   val_cfg=dict(), val_evaluator=Evaluator(RisingMetric()))
    return Runner(
        model=LinearBN(), work_dir=str(work_dir), experiment_name=name,
        train_dataloader=dict(dataset=dataset, batch_size=4,
                              sampler=dict(type='InfiniteSampler', shuffle=False)),
        train_cfg=dict(by_epoch=False, max_iters=8, val_interval=1),
        optim_wrapper=dict(type='FiniteLossOptimWrapper', optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(checkpoint=checkpoint), load_from=load_from,
        resume=load_from is not None, default_scope='mmdet', **val)


def test_the_checkpoint_is_not_written_and_resuming_from_the_last_one_works(tmp_path):
    runner = build_runner(tmp_path, huge_from=12, name='diverging')
    with pytest.raises(NonFiniteCheckpointError) as error:
        runner.train()
    assert math.isfinite(runner.message_hub.get_scalar('train/loss').current())
    assert str(error.value) == (
        'Training stopped at iteration 4: state_dict.bn.running_var holds NaN or infinite '
        'values, so the model has diverged and its checkpoint was not written. The last '
        f'checkpoint written is {tmp_path}/iter_3.pth, unchanged. Lower the learning rate or '
        'check the data, and resume from a checkpoint saved before the loss grew '
        '(--resume PATH).')
    assert sorted(p.name for p in tmp_path.glob('*.pth')) == ['iter_1.pth', 'iter_2.pth',
                                                              'iter_3.pth']
    assert not list(tmp_path.glob('.*.tmp'))
    assert (tmp_path / 'last_checkpoint').read_text() == f'{tmp_path}/iter_3.pth'
    for path in tmp_path.glob('*.pth'):
        assert list(non_finite_tensors(safe_torch_load(str(path)))) == []

    fixed = build_runner(tmp_path, huge_from=16, name='fixed',
                         load_from=str(tmp_path / 'iter_3.pth'))
    fixed.train()
    assert fixed.iter == 8
    assert list(non_finite_tensors(safe_torch_load(str(tmp_path / 'iter_8.pth')))) == []


def test_the_previous_best_checkpoint_is_kept(tmp_path):
    """MMEngine removes the old best before writing the new one; the removal waits until the new
    one is written, which the non-finite check stops."""
    runner = build_runner(tmp_path, huge_from=12, name='best', save_best=True)
    with pytest.raises(NonFiniteCheckpointError, match='^Training stopped at iteration 4: '
                                                       'state_dict.bn.running_var holds NaN'):
        runner.train()
    assert [p.name for p in tmp_path.glob('*.pth')] == ['best_score_iter_3.pth']
    assert list(non_finite_tensors(safe_torch_load(str(tmp_path / 'best_score_iter_3.pth')))) \
        == []


def test_non_finite_tensors_are_named_by_their_key():
    state = dict(state_dict=dict(w=torch.ones(2), v=torch.tensor([1., float('inf')])),
                 optimizer=dict(state={0: dict(exp_avg=torch.tensor([float('nan')]),
                                               step=torch.tensor(3))}),
                 meta=dict(hist=[torch.zeros(1), torch.tensor([float('-inf')])]))
    assert list(non_finite_tensors(state)) == ['state_dict.v', 'optimizer.state.0.exp_avg',
                                               'meta.hist.1']
