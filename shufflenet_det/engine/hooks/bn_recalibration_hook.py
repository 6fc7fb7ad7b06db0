"""Fine-tune from weights whose BatchNorm statistics do not describe the new data."""
from typing import Iterable, Tuple

import torch
import torch.nn as nn
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader, RandomSampler

from mmdet.registry import HOOKS


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable[dict]) -> Tuple[int, int]:
    """Set every BatchNorm's statistics to those of its input on ``batches``, keeping what the
    model computes in eval mode.

    The batches run through the model in eval mode; each BN's input mean ``m`` and variance
    ``v`` per channel are measured over all of them (and over processes, when distributed). Then, with
    ``rm``, ``rv``, ``w``, ``b`` the BN's old statistics and affine parameters,
    ``w' = w * sqrt(v + eps) / sqrt(rv + eps)``, ``b' = b + w * (m - rm) / sqrt(rv + eps)`` and
    the running statistics become ``m`` and ``v``: the eval-mode output is the same function,
    and the training-mode output (normalised with the batch's statistics) is close to it.

    Args:
        model (nn.Module): A model whose ``data_preprocessor`` takes the batches and which
            runs in ``mode='tensor'``; left in eval mode.
        batches (Iterable[dict]): Training batches, as the dataloader yields them.

    Returns:
        tuple[int, int]: How many BatchNorm layers were recalibrated, on how many batches.
    """
    layers = {module: [0., 0., 0] for module in model.modules()
              if isinstance(module, _BatchNorm) and module.affine and module.track_running_stats}

    def measure(module: _BatchNorm, inputs: tuple) -> None:
        x = inputs[0].transpose(0, 1).flatten(1).double()
        sums = layers[module]
        sums[0] = sums[0] + x.sum(1)
        sums[1] = sums[1] + x.pow(2).sum(1)
        sums[2] += x.shape[1]

    handles = [module.register_forward_pre_hook(measure) for module in layers]
    model.eval()
    num_batches = 0
    try:
        for batch in batches:
            data = model.data_preprocessor(batch, True)
            model(data['inputs'], data.get('data_samples'), mode='tensor')
            num_batches += 1
    finally:
        for handle in handles:
            handle.remove()
    recalibrated = 0
    for module, (total, squares, count) in layers.items():
        if not count:  # not used in the forward pass
            continue
        stats = torch.stack([total, squares, torch.full_like(total, count)])
        all_reduce(stats)  # sums over processes, in place
        mean = stats[0] / stats[2]
        var = (stats[1] / stats[2] - mean.pow(2)).clamp(min=0)
        old_std = (module.running_var.double() + module.eps).sqrt()
        weight = module.weight.double()
        module.bias.copy_(module.bias.double() + weight * (mean - module.running_mean) / old_std)
        module.weight.copy_(weight * (var + module.eps).sqrt() / old_std)
        module.running_mean.copy_(mean)
        module.running_var.copy_(var)
        recalibrated += 1
    return recalibrated, num_batches


@HOOKS.register_module()
class BNRecalibrationHook(Hook):
    """Recalibrate every BatchNorm on the training data before fine-tuning from ``load_from``.

    In training mode BatchNorm normalises with each batch's statistics, so a checkpoint whose
    running statistics do not describe the new data's activations computes something else as
    soon as training starts. The extreme case is an inference export with BatchNorm folded into
    the convolutions (weight 1, mean 0, variance ``1 - eps``, as NanoDet-m's weights in its ncnn
    model): fine-tuning it as it is destroys what it learnt. Before the first iteration this hook
    runs :func:`recalibrate_batchnorm` on ``num_batches`` training batches, which keeps the
    eval-mode network exactly as loaded. It does nothing when training starts from scratch
    (no ``load_from``) or resumes.

    Args:
        num_batches (int): Training batches to measure (fewer if the dataset has fewer).
            Default: 10.
    """

    priority = 'VERY_HIGH'

    def __init__(self, num_batches: int = 10) -> None:
        if num_batches < 1:
            raise ValueError(f'num_batches must be at least 1, got {num_batches}')
        self.num_batches = num_batches
        self.loaded = False

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Note that the run starts from a checkpoint (``load_from`` or ``--resume``)."""
        self.loaded = True

    def before_train(self, runner) -> None:
        """Recalibrate after ``load_from``, before the first iteration.

        Args:
            runner (Runner): The runner.
        """
        if not self.loaded or runner.iter > 0:  # from scratch, or resumed
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        train_loader = runner.train_loop.dataloader
        # A loader of its own: drawing from the training loop's would disturb its iterator.
        # (MMDetection's configs batch with a batch sampler, which leaves batch_size None.)
        batch_size = train_loader.batch_size or train_loader.batch_sampler.batch_size
        loader = DataLoader(train_loader.dataset, batch_size=batch_size,
                            num_workers=train_loader.num_workers,
                            collate_fn=train_loader.collate_fn,
                            sampler=RandomSampler(train_loader.dataset,
                                                  generator=torch.Generator().manual_seed(0)))
        layers, batches = recalibrate_batchnorm(
            model, (batch for _, batch in zip(range(self.num_batches), loader)))
        model.train()
        runner.logger.info(
            f'BNRecalibrationHook: the statistics of {layers} BatchNorm layers re-estimated on '
            f'{batches} training batches; the loaded network computes the same in eval mode')
