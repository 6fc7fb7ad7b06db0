"""A tiny MMEngine runner (a linear model, no images) to exercise checkpoint hooks quickly.

As a script, trains it in a fresh process, optionally dying halfway through a file write:
    python -m tests.test_engine.toy_runner WORK_DIR HOOK_TYPE MAX_KEEP [FILE OCCURRENCE [best]]

With ``best``, it evaluates after every iteration and saves each (rising) best checkpoint.
"""
import sys
from typing import Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

import shufflenet_det  # noqa: F401  (registers AtomicCheckpointHook and the safe loader)


class ToyModel(BaseModel):
    """``y = w.x + b`` trained towards 0."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, mode: str = 'tensor'):
        out = self.linear(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=out.pow(2).mean())
        return [dict(out=o) for o in out] if mode == 'predict' else out


class RisingMetric(BaseMetric):
    """A score that improves at every evaluation, so every evaluation saves a best checkpoint."""

    def __init__(self) -> None:
        super().__init__()
        self.evaluations = 0

    def process(self, data_batch, data_samples) -> None:
        self.results.append(0)

    def compute_metrics(self, results) -> dict:
        self.evaluations += 1
        return dict(score=self.evaluations)


def build_toy_runner(work_dir: str, checkpoint: dict, max_iters: int = 3, val_interval: int = 0,
                     name: str = 'toy', custom_hooks: Sequence = (),
                     load_from: Optional[str] = None, resume: bool = False,
                     workers: int = 0) -> Runner:
    """A runner of ``max_iters`` iterations with the given checkpoint hook config.

    Args:
        work_dir (str): The runner's work dir.
        checkpoint (dict): ``default_hooks.checkpoint``.
        max_iters (int): Training iterations. Default: 3.
        val_interval (int): Evaluate (with :class:`RisingMetric`) every so many iterations;
            0 for never. Default: 0.
        name (str): Experiment name, unique per runner in one process. Default: 'toy'.
        custom_hooks (Sequence): Hooks or their configs. Default: none.
        load_from (str, optional): Load this checkpoint. Default: None.
        resume (bool): Resume from ``load_from``. Default: False.
        workers (int): Worker processes of each data loader (persistent). Default: 0.
    """
    def loader(sampler: str) -> dict:
        return dict(dataset=[dict(inputs=torch.ones(2))] * 4, batch_size=2,
                    sampler=dict(type=sampler, shuffle=False), num_workers=workers,
                    persistent_workers=workers > 0)

    val = dict(val_dataloader=loader('DefaultSampler'), val_cfg=dict(),
               val_evaluator=Evaluator(RisingMetric()))
    return Runner(
        model=ToyModel(),
        work_dir=work_dir,
        experiment_name=name,
        train_dataloader=loader('InfiniteSampler'),
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=val_interval or 1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=checkpoint),
        default_scope='mmdet',
        custom_hooks=list(custom_hooks),
        load_from=load_from,
        resume=resume,
        **(val if val_interval else {}))


def main(work_dir: str, hook_type: str, max_keep: str, kill_file: Optional[str] = None,
         occurrence: str = '1', best: str = '') -> None:
    if kill_file:
        from tests.test_engine.kill_mid_write import kill_during_write
        kill_during_write(kill_file, int(occurrence))
    checkpoint = dict(type=hook_type, interval=1, by_epoch=False, max_keep_ckpts=int(max_keep))
    if best:
        checkpoint.update(save_best='score', rule='greater')
    build_toy_runner(work_dir, checkpoint, val_interval=1 if best else 0).train()


if __name__ == '__main__':
    main(*sys.argv[1:])
