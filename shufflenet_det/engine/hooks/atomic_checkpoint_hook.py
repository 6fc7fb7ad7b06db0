"""Checkpoints that a kill (SIGKILL, OOM killer, preemption) cannot leave half-written.

MMEngine's ``CheckpointHook`` writes each checkpoint and then ``last_checkpoint`` in place, and
removes checkpoints beyond ``max_keep_ckpts`` before it writes the new one, so a kill at the
wrong moment can leave ``--resume`` nothing complete to continue from.
"""
import os
import os.path as osp
from pathlib import Path
from typing import Union

from mmengine.dist import is_main_process
from mmengine.fileio import LocalBackend, get_file_backend, register_backend
from mmengine.hooks import CheckpointHook

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
    """MMEngine's ``CheckpointHook``, with every write complete or absent after a kill.

    Each checkpoint (interval, last and best) is written to ``.<name>.tmp`` beside its final
    name, flushed to disk and renamed into place; only then is ``last_checkpoint`` replaced
    the same way, and only then is the checkpoint beyond ``max_keep_ckpts`` removed. So
    ``last_checkpoint`` always names a complete file. A leftover ``.<name>.tmp`` from a killed
    write is never resumed from, and is replaced when that checkpoint is written again.
    (MMEngine's ``save_best`` logic, inherited unchanged, still removes the previous best
    checkpoint before writing the new one; ``--resume`` never uses best checkpoints.)

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
