"""Load checkpoints without running code from them, on torch >= 2.6 and through MMEngine.

``torch.load(weights_only=True)`` only rebuilds tensors and plain containers. A training
checkpoint written by MMEngine's runner also holds a few harmless objects in ``meta`` and
``message_hub``; exactly those are allow-listed here, and nothing reachable beyond them.
"""
import os
import pickle
import zipfile
from typing import Any, Callable, List, Optional, Tuple, Union

import mmengine.runner.checkpoint as mmengine_checkpoint
import numpy as np
import torch
from mmengine.dist import get_dist_info
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader

from shufflenet_det.engine import checkpoint_classes
from shufflenet_det.errors import UserError

try:
    from numpy._core import multiarray  # numpy >= 2
except ImportError:  # numpy 1.x
    from numpy.core import multiarray


class CheckpointError(UserError, RuntimeError):
    """A checkpoint that cannot be loaded: unreadable, unsafe or mismatched."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint whose pickle would run code or reach beyond the allow-list if loaded."""


class _UnpickledHistoryBuffer(HistoryBuffer):
    """What a pickled ``HistoryBuffer`` is rebuilt as.

    ``HistoryBuffer.__setstate__`` merges the file's statistics methods into a dict shared by
    the class, so a file could change how every buffer in the process computes statistics.
    This keeps only the buffer's data and becomes a plain ``HistoryBuffer``.
    """
    DATA_KEYS = ('max_length', '_log_history', '_count_history')

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({k: state[k] for k in self.DATA_KEYS if k in state})
        self.__class__ = HistoryBuffer
        self._set_default_statistics()


def _history_buffer_attribute(obj: Any, name: str) -> Any:
    """Stand-in for ``builtins.getattr`` while unpickling.

    MMEngine pickles each ``HistoryBuffer``'s statistics methods as
    ``getattr(HistoryBuffer, 'min')`` and so on. Only those lookups are answered (and the
    answers are discarded by :class:`_UnpickledHistoryBuffer`): a real ``getattr`` would let a
    pickle walk from any allowed object to arbitrary modules.
    """
    if obj is _UnpickledHistoryBuffer and name in ('min', 'max', 'current', 'mean'):
        return getattr(HistoryBuffer, name)
    owner = 'HistoryBuffer' if obj is _UnpickledHistoryBuffer else getattr(
        obj, '__name__', type(obj).__name__)
    raise pickle.UnpicklingError(f'getattr({owner}, {name!r}) is not allowed')


def _numpy_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """NumPy objects that runner checkpoints pickle (arrays, scalars, dtypes)."""
    allowed: List[Union[Callable, Tuple[Callable, str]]] = [np.ndarray, np.dtype]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        allowed += [(multiarray._reconstruct, f'{module}._reconstruct'),
                    (multiarray.scalar, f'{module}.scalar')]
    allowed += [type(np.dtype(code)) for code in '?bBhHiIlLqQefdgFDGSUV']
    return allowed


SAFE_GLOBALS = [
    (_UnpickledHistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer'),
    (_history_buffer_attribute, 'builtins.getattr'),
] + _numpy_globals()

# What torch's weights-only unpickler says when a file asks for more than data.
UNSAFE_MARKERS = ('GLOBAL', 'not allowed', 'reduce', 'build', 'create new object')
# The generic advice torch appends to its zip reader's errors.
MINIZ_ADVICE = '. This is an internal miniz error.'


def _refusal_reason(message: str) -> str:
    """The specific line of torch's weights-only error, without its generic advice."""
    boilerplate = ('Weights only load failed', 'Please file an issue', 'Check the documentation')
    lines = [line.strip() for line in message.splitlines()]
    return ' '.join(line for line in lines if line and not line.startswith(boilerplate)) or message


def safe_torch_load(filename: str, map_location: Any = 'cpu', mmap: bool = False) -> Any:
    """``torch.load`` with ``weights_only=True`` plus MMEngine's training-state objects.

    Args:
        filename (str): Path of the checkpoint (a ``file://`` prefix is accepted).
        map_location: Passed to :func:`torch.load`. Default: 'cpu'.
        mmap (bool): Map the tensors' storage from the file instead of reading it, which is
            enough to check a checkpoint's structure. Default: False.

    Returns:
        The unpickled object (a state dict or an MMEngine checkpoint dict).

    Raises:
        CheckpointError: the file is missing, truncated, not a checkpoint, or asks for any
            object beyond the allow-list (its payload is never run).
    """
    filename = os.path.expanduser(str(filename).removeprefix('file://'))
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(filename, map_location=map_location, weights_only=True,
                              mmap=mmap and zipfile.is_zipfile(filename))  # not legacy files
    except FileNotFoundError as err:
        raise CheckpointError(f'checkpoint not found: {filename}') from err
    except pickle.UnpicklingError as err:
        reason = _refusal_reason(str(err)).rstrip('.')
        if any(marker in reason for marker in UNSAFE_MARKERS):
            raise UnsafeCheckpointError(
                f'refusing to load {filename}: {reason}. Such a file could run code when '
                'unpickled; only tensors, plain containers and MMEngine training state are '
                'accepted, and nothing from the file was run.') from err
        raise CheckpointError(f'cannot read checkpoint {filename} (not a PyTorch checkpoint?): '
                              f'{reason}') from err
    except (RuntimeError, EOFError, ValueError, OSError, KeyError, IndexError,
            TypeError) as err:  # the last three: bytes the unpickler cannot follow
        reason = str(err).partition(MINIZ_ADVICE)[0]
        found = (f'its {os.path.getsize(filename)} bytes' if os.path.isfile(filename) else
                 'it')
        raise CheckpointError(
            f'cannot read checkpoint {filename} (truncated, corrupt or not a PyTorch '
            'checkpoint?): expected a complete PyTorch checkpoint, but '
            f'{found} could not be read: {type(err).__name__}: {reason}') from err


def _drop_meta_naming_nothing(checkpoint: Any) -> Any:
    """Remove the parts of a checkpoint's ``meta`` that are not what MMEngine writes.

    MMEngine and MMDetection read ``meta`` as a dict holding a ``dataset_meta`` dict
    (``Runner.resume``, ``DetInferencer``); a script that saved a checkpoint by hand may have
    written None (or anything) at either place, or ``classes`` that are no list of names. Such
    a part names nothing and is removed (see :func:`checkpoint_classes`), so every reader
    treats the checkpoint as one that names no classes.

    Args:
        checkpoint: A loaded checkpoint file; changed in place.

    Returns:
        The same checkpoint.
    """
    if not isinstance(checkpoint, dict) or 'meta' not in checkpoint:
        return checkpoint
    meta = checkpoint['meta']
    if not isinstance(meta, dict):
        del checkpoint['meta']
    elif 'dataset_meta' in meta and not isinstance(meta['dataset_meta'], dict):
        del meta['dataset_meta']
    elif 'classes' in meta.get('dataset_meta', {}) and checkpoint_classes(checkpoint) is None:
        del meta['dataset_meta']['classes']
    return checkpoint


def _load_from_local(filename: str, map_location: Any = None) -> Any:
    """MMEngine's loader for local paths, through :func:`safe_torch_load`."""
    return _drop_meta_naming_nothing(safe_torch_load(filename, map_location))


def _load_from_http(filename: str,
                    map_location: Any = None,
                    model_dir: Optional[str] = None,
                    progress: bool = False) -> Any:
    """MMEngine's loader for URLs: download into torch's hub cache, then load safely.

    As in MMEngine's ``load_from_http``, in a distributed run rank 0 alone downloads (into a
    temporary file renamed into place) while the other ranks wait, then every rank loads the
    cached file.
    """
    model_dir = model_dir or os.path.join(torch.hub.get_dir(), 'checkpoints')
    cached = os.path.join(model_dir, os.path.basename(filename.split('?')[0]))
    rank, world_size = get_dist_info()
    if rank == 0 and not os.path.exists(cached):
        os.makedirs(model_dir, exist_ok=True)
        torch.hub.download_url_to_file(filename, cached, progress=progress)
    if world_size > 1:
        torch.distributed.barrier()
    return _drop_meta_naming_nothing(safe_torch_load(cached, map_location))


def register_safe_checkpoint_loader() -> None:
    """Make MMEngine load checkpoints (``--resume``, ``load_from``, ``init_cfg``) through
    :func:`safe_torch_load`: local paths, URLs, and the ``open-mmlab://``-style schemes that
    MMEngine resolves to URLs (they call its module-level ``load_from_http``). What they load
    goes through :func:`_drop_meta_naming_nothing`."""
    CheckpointLoader.register_scheme(prefixes='', force=True)(_load_from_local)
    CheckpointLoader.register_scheme(prefixes=('http://', 'https://'),
                                     force=True)(_load_from_http)
    mmengine_checkpoint.load_from_http = _load_from_http
