"""The checkpoint that ``tools/train.py --resume`` continues from: found in the work dir, or
the one named, checked."""
import glob
import logging
import os.path as osp
from typing import Any, List, Optional

from mmengine.logging import print_log

from shufflenet_det.errors import ConfigError

from .safe_checkpoint import CheckpointError, UnsafeCheckpointError, safe_torch_load

# What MMEngine's runner saves in every checkpoint (best ones too), unlike a bare state dict.
RUNNER_KEYS = ('meta', 'state_dict', 'message_hub')


def _unresumable_reason(path: str) -> Optional[str]:
    """Why ``path`` cannot be resumed from, or None when it can.

    Raises:
        UnsafeCheckpointError: When the file would run code: not a broken write but a
            planted file, which must stop the run rather than be skipped and overwritten.
    """
    try:
        checkpoint = safe_torch_load(path, mmap=True)  # the structure, not the tensor data
    except UnsafeCheckpointError:
        raise
    except CheckpointError as err:
        return str(err)
    return _not_training_reason(checkpoint, path)


def _not_training_reason(checkpoint: Any, path: str) -> Optional[str]:
    """Why a loaded checkpoint is not a training checkpoint, or None when it is one."""
    if not isinstance(checkpoint, dict) or not all(key in checkpoint for key in RUNNER_KEYS):
        return f'{path} is not a training checkpoint (no {"/".join(RUNNER_KEYS)})'
    if not isinstance(checkpoint['meta'], dict):  # MMEngine's Runner.resume reads it as one
        return f'{path} is not a training checkpoint (its meta is {checkpoint["meta"]!r})'
    return None


def _newest_first(dirs: List[str]) -> List[str]:
    """The ``*.pth`` files in ``dirs``, newest first, without ``best_*`` ones (they hold no
    optimizer state)."""
    paths = {
        osp.abspath(path)
        for d in dirs for path in glob.glob(osp.join(d, '*.pth'))
        if not osp.basename(path).startswith('best_')
    }
    return sorted(paths, key=lambda path: (osp.getmtime(path), path), reverse=True)


def _warn(message: str) -> None:
    print_log(message, logger='current', level=logging.WARNING)


def find_resumable_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint to resume from: what ``last_checkpoint`` names, when that loads.

    MMEngine resumes from whatever ``<work_dir>/last_checkpoint`` names. When that file is
    missing or names a checkpoint that is missing or does not load (a write that was killed,
    a power cut), this warns and takes the most recently modified ``*.pth`` that loads as a
    training checkpoint (``best_*`` ones excluded) in the work dir and the recorded file's
    dir instead. Each candidate's structure is loaded to check it; its tensors are only
    mapped from the file, not read.

    Args:
        work_dir (str): The training work dir.

    Returns:
        str | None: The checkpoint path, or None when there is none to resume from.

    Raises:
        UnsafeCheckpointError: When a candidate would run code if loaded.
    """
    record = osp.join(work_dir, 'last_checkpoint')
    dirs = [work_dir]
    if osp.isfile(record):
        with open(record, encoding='utf-8', errors='replace') as f:
            recorded = f.read().strip()
        if '://' in recorded:  # remote storage: cannot be checked here, left to MMEngine
            return recorded
        reason = _unresumable_reason(recorded) if recorded else 'the file is empty'
        if reason is None:
            print_log(f'Resuming from {recorded} (named in {record}).', logger='current')
            return recorded
        _warn(f'{record} names a checkpoint that cannot be resumed from: {reason}. '
              'Looking for the newest loadable checkpoint instead.')
        if osp.dirname(recorded):  # a hook's out_dir may be outside the work dir
            dirs.append(osp.dirname(recorded))
    elif _newest_first(dirs):
        _warn(f'{record} not found. Looking for the newest loadable checkpoint instead.')

    for path in _newest_first(dirs):
        reason = _unresumable_reason(path)
        if reason is None:
            _warn(f'Resuming from {path}, the newest loadable checkpoint.')
            return path
        _warn(f'Skipping {path}: {reason}')
    print_log(f'No checkpoint to resume from in {work_dir}: training starts from scratch.',
              logger='current')
    return None


def check_resumable(path: str) -> None:
    """Stop with one line when ``tools/train.py --resume PATH`` names a file that cannot be
    resumed from (MMEngine's runner would fail with a ``KeyError`` traceback on a bare state
    dict). A remote path is left to MMEngine.

    Args:
        path (str): The checkpoint named.

    Raises:
        ConfigError: When the file is missing, does not load, or is not a training checkpoint.
        UnsafeCheckpointError: When the file would run code if loaded.
    """
    if '://' in path:
        return
    try:
        checkpoint = safe_torch_load(path, mmap=True)
    except UnsafeCheckpointError:
        raise
    except CheckpointError as err:  # a file that does not load: no weights to train from either
        raise ConfigError(f'--resume {path}: {err}') from err
    reason = _not_training_reason(checkpoint, path)
    if reason is not None:
        raise ConfigError(f'--resume {path}: {reason}. To train from its weights without '
                          f'resuming, pass --cfg-options load_from={path}')
