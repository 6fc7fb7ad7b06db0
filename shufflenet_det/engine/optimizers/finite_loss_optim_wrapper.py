"""An optimizer wrapper that never steps on a NaN or infinite loss or gradient."""
import logging
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.logging import MessageHub, print_log
from mmengine.optim import OptimWrapper

from mmdet.registry import OPTIM_WRAPPERS


class NonFiniteLossError(FloatingPointError):
    """Training stopped because the loss or the gradients are NaN or infinite."""


@OPTIM_WRAPPERS.register_module()
class FiniteLossOptimWrapper(OptimWrapper):
    """``OptimWrapper`` that checks the loss before backward and the gradients before the step.

    MMDetection's ``CheckInvalidLossHook`` looks at the loss after the optimizer step (and only
    every ``interval`` iterations), when the weights are already spoiled and may be saved in a
    checkpoint. This wrapper checks before anything changes: the loss before ``backward``, the
    gradient norm before ``step``. On a NaN or infinite value it either raises
    :class:`NonFiniteLossError` naming the iteration (``on_nonfinite='raise'``), so training
    stops before that step changes the weights or the optimizer state, and nothing is saved
    after it (``AtomicCheckpointHook`` also never writes a checkpoint with a non-finite tensor,
    which a loss that is huge but finite can leave in BatchNorm statistics), or skips
    the update with a warning (``on_nonfinite='skip'``) and raises only when
    ``max_consecutive_skips`` updates in a row were skipped. In distributed training all
    processes make the same decision, so none waits for the others in a gradient all-reduce.
    A skip cannot undo what the forward pass itself changed: BatchNorm running statistics
    updated from non-finite activations stay non-finite, so ``'raise'`` is the default.

    Args:
        on_nonfinite (str): ``'raise'`` or ``'skip'``. Default: ``'raise'``.
        max_consecutive_skips (int): With ``'skip'``, stop after this many skipped updates in a
            row. Default: 10.
        **kwargs: Passed to :class:`mmengine.optim.OptimWrapper` (``optimizer``,
            ``clip_grad``, ``accumulative_counts``).
    """

    def __init__(self, on_nonfinite: str = 'raise', max_consecutive_skips: int = 10,
                 **kwargs) -> None:
        if on_nonfinite not in ('raise', 'skip'):
            raise ValueError(f"on_nonfinite must be 'raise' or 'skip', got {on_nonfinite!r}")
        if max_consecutive_skips < 1:
            raise ValueError(f'max_consecutive_skips must be at least 1, got '
                             f'{max_consecutive_skips}')
        super().__init__(**kwargs)
        self.on_nonfinite = on_nonfinite
        self.max_consecutive_skips = max_consecutive_skips
        self.consecutive_skips = 0

    def update_params(self, loss: torch.Tensor, step_kwargs: Optional[dict] = None,
                      zero_kwargs: Optional[dict] = None) -> None:
        """Backward and step, as ``OptimWrapper.update_params``, if loss and gradients are
        finite.

        A skipped loss still counts towards ``accumulative_counts``; when it ends an
        accumulation, the gradients gathered so far are dropped with it.

        Args:
            loss (torch.Tensor): The loss to back-propagate.
            step_kwargs (dict, optional): Arguments for ``optimizer.step``.
            zero_kwargs (dict, optional): Arguments for ``optimizer.zero_grad``.
        """
        if not self._all_finite(loss.detach()):
            self._inner_count += 1
            if self.should_update():
                self.zero_grad(**(zero_kwargs or {}))
            self._handle_nonfinite(f'the loss is {loss.item()}')
            return
        self.backward(self.scale_loss(loss))
        if not self.should_update():
            return
        gradients = [p.grad for group in self.optimizer.param_groups for p in group['params']
                     if p.grad is not None]
        gradient_norm = torch.nn.utils.get_total_norm(gradients)
        if not self._all_finite(gradient_norm):
            self.zero_grad(**(zero_kwargs or {}))
            self._handle_nonfinite(f'the gradient norm is {gradient_norm.item()} (the loss '
                                   f'is {loss.item():.4g})')
            return
        self.step(**(step_kwargs or {}))
        self.zero_grad(**(zero_kwargs or {}))
        self.consecutive_skips = 0

    @staticmethod
    def _all_finite(value: torch.Tensor) -> bool:
        """Whether ``value`` is finite in every process."""
        finite = torch.isfinite(value).all().to(torch.int32)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        return bool(finite)

    def _handle_nonfinite(self, what: str) -> None:
        """Raise, or count a skipped update and raise when too many came in a row."""
        iteration = MessageHub.get_current_instance().get_info('iter', 0) + 1
        where = f'at iteration {iteration}'
        if self.on_nonfinite == 'skip':
            self.consecutive_skips += 1
            if self.consecutive_skips < self.max_consecutive_skips:
                print_log(f'Skipped the update {where}: {what} (in this process or another). '
                          f'{self.consecutive_skips} skipped in a row.', logger='current',
                          level=logging.WARNING)
                return
            what += f' ({self.consecutive_skips} updates in a row skipped)'
        message = (f'Training stopped {where}: {what} (in this process or another). The '
                   'optimizer did not step on it and nothing was saved after it. Checkpoints '
                   "saved before are unchanged; with AtomicCheckpointHook (the configs' "
                   'checkpoint hook) none holds a NaN or infinite tensor, but one saved while '
                   'the loss was already growing holds diverged weights. Resume from a '
                   'checkpoint saved before the loss grew (--resume PATH) with a lower learning '
                   "rate, check the data, or set optim_wrapper.on_nonfinite='skip' to skip "
                   'such updates.')
        print_log(message, logger='current', level=logging.ERROR)
        raise NonFiniteLossError(message)
