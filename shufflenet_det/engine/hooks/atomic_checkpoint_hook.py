"""Checkpoints that a kill (SIGKILL, OOM killer, preemption) cannot leave half-written, and that
never hold a NaN or infinite tensor.

MMEngine's ``CheckpointHook`` writes each checkpoint in place, and removes checkpoints beyond
``max_keep_ckpts`` (and the previous best one) before it writes the new one, so a kill at the
wrong moment can leave ``--resume`` nothing complete to continue from. It also saves diverged
weights (an infinite BatchNorm ``running_var`` while the loss is still finite) that every resume
from them then fails on.
"""
import difflib
import inspect
import logging
import os
import os.path as osp
from pathlib import Path
from typing import Any, Iterator, List, Optional, Union

import torch
from mmengine.fileio import LocalBackend, get_file_backend, register_backend
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from mmdet.registry import HOOKS
from shufflenet_det.errors import ConfigError


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
    """MMEngine's ``LocalBackend`` whose writes are atomic and whose removals wait.

    ``put`` and ``put_text`` write through :func:`atomic_write`. ``remove`` and ``rmtree`` only
    note the path; :meth:`commit_removals` removes what was noted, so the caller decides when
    an old file may go (after the file that replaces it is complete). Use it through
    ``backend_args=dict(backend='atomic_local')``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.pending_removals: List[str] = []

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

    def remove(self, filepath: Union[str, Path]) -> None:
        """Note ``filepath`` for removal by :meth:`commit_removals`.

        Args:
            filepath (str | Path): A file.
        """
        self.pending_removals.append(str(filepath))

    def rmtree(self, dir_path: Union[str, Path]) -> None:
        """Note ``dir_path`` (a DeepSpeed checkpoint) for removal by :meth:`commit_removals`.

        Args:
            dir_path (str | Path): A directory.
        """
        self.pending_removals.append(str(dir_path))

    def commit_removals(self) -> None:
        """Remove the files and directories noted since the last call."""
        pending, self.pending_removals = self.pending_removals, []
        for path in pending:
            if osp.isdir(path):
                super().rmtree(path)
            elif osp.isfile(path):
                super().remove(path)

@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """MMEngine's ``CheckpointHook``, with no checkpoint half-written or removed too early by a
    kill, and none holding a NaN or infinite tensor.

    Local checkpoints go through :class:`AtomicLocalBackend`: each one (interval, last and
    best) is written to ``.<name>.tmp`` beside its final name, flushed to disk and renamed into
    place, so a kill leaves the old file or the new one; a leftover ``.<name>.tmp`` is never
    resumed from and is replaced when that checkpoint is written again. The checkpoint that
    ``max_keep_ckpts`` or a new best one retires is only removed after the hook's step is done:
    after the new checkpoint is complete and MMEngine has pointed ``last_checkpoint`` at it.
    (MMEngine writes ``last_checkpoint``, a line of text, in place: a kill in that instant can
    leave it cut short; ``tools/train.py --resume`` then takes the newest checkpoint that
    loads, which is complete.)

    Before any checkpoint is written (by this hook or another), every floating-point tensor in
    it (weights, buffers such as BatchNorm statistics, optimizer state) is checked: if one is
    NaN or infinite, the weights have diverged, and training stops with
    :class:`NonFiniteCheckpointError` naming the iteration and the tensor; the checkpoint is not
    written, none is removed, and ``last_checkpoint`` still names the last one that was.

    The arguments are those of :class:`mmengine.hooks.CheckpointHook`. With ``backend_args``
    or ``file_client_args`` naming a non-local storage, checkpoints are written and removed by
    that storage as in MMEngine.
    """

    def before_train(self, runner) -> None:
        """Write local checkpoints through :class:`AtomicLocalBackend`, then set up as
        MMEngine's hook does.

        Args:
            runner (Runner): The runner of the training process.

        Raises:
            ConfigError: For an argument the hook does not take (MMEngine would pass it on to
                ``Runner.save_checkpoint``, which fails only at the first checkpoint).
        """
        taken = inspect.signature(runner.save_checkpoint).parameters
        unknown = sorted(set(self.args) - set(taken))
        if unknown and not any(p.kind == p.VAR_KEYWORD for p in taken.values()):
            known = list(inspect.signature(CheckpointHook.__init__).parameters)[1:-1]
            close = difflib.get_close_matches(unknown[0], known, n=1)
            raise ConfigError(f'the checkpoint hook does not take {", ".join(unknown)}'
                              + (f" (did you mean '{close[0]}'?)" if close else '')
                              + f'; it takes {", ".join(known)}')
        backend = get_file_backend(self.out_dir or runner.work_dir,
                                   backend_args=self.backend_args)
        if self.file_client_args is None and isinstance(backend, LocalBackend):
            self.backend_args = dict(backend='atomic_local')
        super().before_train(runner)
        self._commit_removals()  # checkpoints beyond a lowered max_keep_ckpts, on resume

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None,
                         outputs: Optional[dict] = None) -> None:
        """Save as MMEngine does, then remove the checkpoint it retired.

        Args:
            runner (Runner): The runner of the training process.
            batch_idx (int): The index of the current batch in the train loop.
            data_batch (dict or tuple or list, optional): Data from dataloader.
            outputs (dict, optional): Outputs from model.
        """
        super().after_train_iter(runner, batch_idx, data_batch, outputs)
        self._commit_removals()

    def after_train_epoch(self, runner) -> None:
        """Save as MMEngine does, then remove the checkpoint it retired.

        Args:
            runner (Runner): The runner of the training process.
        """
        super().after_train_epoch(runner)
        self._commit_removals()

    def after_val_epoch(self, runner, metrics: dict) -> None:
        """Save the best checkpoint as MMEngine does, then remove the previous best.

        Args:
            runner (Runner): The runner of the training process.
            metrics (dict): The evaluation results.
        """
        super().after_val_epoch(runner, metrics)
        self._commit_removals()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Stop training instead of writing a checkpoint with a NaN or infinite tensor.

        Args:
            runner (Runner): The runner of the training process.
            checkpoint (dict): The checkpoint about to be written.

        Raises:
            NonFiniteCheckpointError: Naming the iteration, the tensor and the last checkpoint
                written.
        """
        bad = list(non_finite_tensors(checkpoint))
        if not bad:
            return
        more = f' (and {len(bad) - 1} more tensors)' if len(bad) > 1 else ''
        last = osp.join(runner.work_dir, 'last_checkpoint')
        kept = (f'The last checkpoint written is {Path(last).read_text().strip()}, unchanged'
                if osp.isfile(last) else 'No checkpoint was written in this work dir')
        message = (f'Training stopped at iteration {checkpoint["meta"]["iter"]}: {bad[0]}{more} '
                   'holds NaN or infinite values, so the model has diverged and its checkpoint '
                   f'was not written. {kept}. Lower the learning rate or check the data, and '
                   'resume from a checkpoint saved before the loss grew (--resume PATH).')
        print_log(message, logger='current', level=logging.ERROR)
        raise NonFiniteCheckpointError(message)

    def _commit_removals(self) -> None:
        if isinstance(self.file_backend, AtomicLocalBackend):
            self.file_backend.commit_removals()
