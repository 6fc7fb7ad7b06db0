"""Checkpoints that a kill (SIGKILL, OOM killer, preemption) cannot leave half-written, and that
never hold a NaN or infinite tensor.

MMEngine's ``CheckpointHook`` writes each checkpoint and then ``last_checkpoint`` in place, and
removes checkpoints beyond ``max_keep_ckpts`` before it writes the new one, so a kill at the
wrong moment can leave ``--resume`` nothing complete to continue from. It also saves diverged
weights (an infinite BatchNorm ``running_var`` while the loss is still finite) that every resume
from them then fails on.
"""
import logging
import os
import os.path as osp
from pathlib import Path
from typing import Any, Iterator, Union

import torch
from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, get_file_backend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from mmdet.registry import HOOKS


def atomic_write(data: bytes, filepath: Union[str, Path]) -> None:
    """Replace ``filepath`` with ``data`` so that a kill leaves the old file or the new one.

    The bytes go to ``.<name>.tmp`` in the same directory (a name that ``*.pth`` does not
    match), are flushed to disk, and the temporary file is renamed over ``filepath``; the
    directory is flushed too, so that the rename survives a power cut.

    Args:
        data (bytes): The new content.
        filepath (str | Path): The file to write; its directory is created if needed.
    """
    dirname, name = osp.split(osp.abspath(filepath))
    os.makedirs(dirname, exist_ok=True)
    tmp = osp.join(dirname, f'.{name}.tmp')
    try:
        with open(tmp, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    directory = os.open(dirname, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class NonFiniteCheckpointError(FloatingPointError):
    """A checkpoint was not written because a tensor in it is NaN or infinite."""


def non_finite_tensors(state: Any, prefix: str = '') -> Iterator[str]:
    """Yield the key of every floating-point tensor in ``state`` with a NaN or infinite value.

    Args:
        state: A checkpoint, or a part of one: dicts, lists and tuples are searched.
        prefix (str): The key of ``state``. Default: ''.

    Yields:
        str: Keys such as ``'state_dict.backbone.conv1.1.running_var'``.
    """
    if isinstance(state, torch.Tensor):
        if state.is_floating_point() and not torch.isfinite(state).all():
            yield prefix
    elif isinstance(state, dict):
        for key, value in state.items():
            yield from non_finite_tensors(value, f'{prefix}.{key}' if prefix else str(key))
    elif isinstance(state, (list, tuple)):
        for i, value in enumerate(state):
            yield from non_finite_tensors(value, f'{prefix}.{i}' if prefix else str(i))


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """MMEngine's ``LocalBackend`` whose ``put`` and ``put_text`` write atomically.

    Use it through ``backend_args=dict(backend='atomic_local')``; see :func:`atomic_write`.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes to ``filepath`` atomically.

        Args:
            obj (bytes): Data to be written.
            filepath (str | Path): Path to write data.
        """
        atomic_write(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically.

        Args:
            obj (str): Text to be written.
            filepath (str | Path): Path to write data.
            encoding (str): Encoding of the text. Default: 'utf-8'.
        """
        atomic_write(obj.encode(encoding), filepath)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """MMEngine's ``CheckpointHook``, with every write complete or absent after a kill, and no
    checkpoint holding a NaN or infinite tensor.

    Each checkpoint (interval, last and best) is written to ``.<name>.tmp`` beside its final
    name, flushed to disk and renamed into place; only then is ``last_checkpoint`` replaced
    the same way, and only then is the checkpoint beyond ``max_keep_ckpts`` removed. So
    ``last_checkpoint`` always names a complete file. A leftover ``.<name>.tmp`` from a killed
    write is never resumed from, and is replaced when that checkpoint is written again.
    (MMEngine's ``save_best`` logic, inherited unchanged, still removes the previous best
    checkpoint before writing the new one; ``--resume`` never uses best checkpoints.)

    Before any checkpoint is written (by this hook or another), every floating-point tensor in
    it (weights, buffers such as BatchNorm statistics, optimizer state) is checked: if one is
    NaN or infinite, the weights have diverged, and training stops with
    :class:`NonFiniteCheckpointError` naming the iteration and the tensor; the checkpoint is not
    written and ``last_checkpoint`` still names the last one that was. With ``save_best`` the
    weights are checked after each evaluation too, before the previous best checkpoint would be
    removed.

    The arguments are those of :class:`mmengine.hooks.CheckpointHook`. With ``backend_args``
    or ``file_client_args`` naming a non-local storage, checkpoints are written by that
    storage as in MMEngine; ``last_checkpoint`` (always local) is still replaced atomically.
    """

    def before_train(self, runner) -> None:
        """Write local checkpoints through :class:`AtomicLocalBackend`, then set up as
        MMEngine's hook does.

        Args:
            runner (Runner): The runner of the training process.
        """
        backend = get_file_backend(self.out_dir or runner.work_dir,
                                   backend_args=self.backend_args)
        if self.file_client_args is None and isinstance(backend, LocalBackend):
            self.backend_args = dict(backend='atomic_local')
        super().before_train(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Stop training instead of writing a checkpoint with a NaN or infinite tensor.

        Args:
            runner (Runner): The runner of the training process.
            checkpoint (dict): The checkpoint about to be written.

        Raises:
            NonFiniteCheckpointError: Naming the iteration, the tensor and the last checkpoint
                written.
        """
        self._stop_if_non_finite(runner, checkpoint, checkpoint['meta']['iter'])

    def after_val_epoch(self, runner, metrics: dict) -> None:
        """With ``save_best``, check the weights first: MMEngine removes the previous best
        checkpoint before it writes the new one, which a non-finite tensor would then stop.

        Args:
            runner (Runner): The runner of the training process.
            metrics (dict): The evaluation results.
        """
        if self.save_best is not None:
            self._stop_if_non_finite(runner, dict(state_dict=runner.model.state_dict()),
                                     runner.iter)
        super().after_val_epoch(runner, metrics)

    @staticmethod
    def _stop_if_non_finite(runner, state: dict, iteration: int) -> None:
        """Raise :class:`NonFiniteCheckpointError` when ``state`` holds a NaN or inf."""
        bad = list(non_finite_tensors(state))
        if not bad:
            return
        more = f' (and {len(bad) - 1} more tensors)' if len(bad) > 1 else ''
        last = osp.join(runner.work_dir, 'last_checkpoint')
        kept = (f'The last checkpoint written is {Path(last).read_text().strip()}, unchanged'
                if osp.isfile(last) else 'No checkpoint was written in this work dir')
        message = (f'Training stopped at iteration {iteration}: {bad[0]}{more} holds NaN or '
                   'infinite values, so the model has diverged and its checkpoint was not '
                   f'written. {kept}. Lower the learning rate or check the data, and resume '
                   'from a checkpoint saved before the loss grew (--resume PATH).')
        print_log(message, logger='current', level=logging.ERROR)
        raise NonFiniteCheckpointError(message)

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        """Save the checkpoint of ``step``, point ``last_checkpoint`` at it, then prune.

        Follows MMEngine 0.10.7's ``CheckpointHook._save_checkpoint_with_step``; re-check it
        when upgrading MMEngine.

        MMEngine prunes first, so with ``max_keep_ckpts=1`` a killed write would leave no
        checkpoint at all; the list of kept checkpoints saved in the message hub is the same.

        Args:
            runner (Runner): The runner of the training process.
            step (int): The epoch or iteration that the checkpoint is named after.
            meta (dict): Meta information saved in the checkpoint.
        """
        outdated = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            # the best-checkpoint path saves the same step twice in one epoch
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args)
        if not is_main_process():  # runner.save_checkpoint wrote on the main process only
            return

        atomic_write(str(self.last_ckpt).encode(), osp.join(runner.work_dir, 'last_checkpoint'))
        if outdated is not None:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(outdated))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # DeepSpeed saves directories
                self.file_backend.rmtree(path)
