"""Load checkpoints without running code from them, on torch >= 2.6 and through MMEngine.

``torch.load(weights_only=True)`` only rebuilds tensors and plain containers. A training
checkpoint written by MMEngine's runner also holds a few harmless objects in ``meta`` and
``message_hub``; exactly those are allow-listed here, and nothing reachable beyond them.
"""
import pickle
from typing import Any, Callable, List, Tuple, Union

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import CheckpointLoader


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded: unreadable, unsafe or mismatched."""


def _history_buffer_attribute(obj: Any, name: str) -> Any:
    """Stand-in for ``builtins.getattr`` while unpickling.

    MMEngine pickles each ``HistoryBuffer``'s statistics methods as
    ``getattr(HistoryBuffer, 'min')`` and so on. Only those lookups are answered: a real
    ``getattr`` would let a pickle walk from any allowed object to arbitrary modules.
    """
    if obj is HistoryBuffer and name in HistoryBuffer._statistics_methods:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({getattr(obj, "__name__", type(obj).__name__)}, {name!r}) is not allowed')


def _numpy_globals() -> List[Union[Callable, Tuple[Callable, str]]]:
    """NumPy objects that runner checkpoints pickle (arrays, scalars, dtypes)."""
    reconstruct = np._core.multiarray._reconstruct  # numpy >= 2
    scalar = np._core.multiarray.scalar
    allowed: List[Union[Callable, Tuple[Callable, str]]] = [np.ndarray, np.dtype]
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        allowed += [(reconstruct, f'{module}._reconstruct'), (scalar, f'{module}.scalar')]
    allowed += [type(np.dtype(code)) for code in '?bBhHiIlLqQefdgFDGSUV']
    return allowed


SAFE_GLOBALS = [HistoryBuffer, (_history_buffer_attribute, 'builtins.getattr')] + _numpy_globals()


# What torch's weights-only unpickler says when a file asks for more than data.
UNSAFE_MARKERS = ('GLOBAL', 'not allowed', 'reduce', 'build', 'create new object')


def _refusal_reason(message: str) -> str:
    """The specific line of torch's weights-only error, without its generic advice."""
    boilerplate = ('Weights only load failed', 'Please file an issue', 'Check the documentation')
    lines = [line.strip() for line in message.splitlines()]
    return ' '.join(line for line in lines if line and not line.startswith(boilerplate)) or message


def safe_torch_load(filename: str, map_location: Any = 'cpu') -> Any:
    """``torch.load`` with ``weights_only=True`` plus MMEngine's training-state objects.

    Args:
        filename (str): Path of the checkpoint.
        map_location: Passed to :func:`torch.load`. Default: 'cpu'.

    Returns:
        The unpickled object (a state dict or an MMEngine checkpoint dict).

    Raises:
        CheckpointError: the file is missing, truncated, not a checkpoint, or asks for any
            object beyond the allow-list (its payload is never run).
    """
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except FileNotFoundError as err:
        raise CheckpointError(f'checkpoint not found: {filename}') from err
    except pickle.UnpicklingError as err:
        reason = _refusal_reason(str(err))
        if any(marker in reason for marker in UNSAFE_MARKERS):
            raise CheckpointError(
                f'refusing to load {filename}: {reason}. Such a file could run code when '
                'unpickled; only tensors, plain containers and MMEngine training state are '
                'accepted, and nothing from the file was run.') from err
        raise CheckpointError(f'cannot read checkpoint {filename}: {reason}') from err
    except (RuntimeError, EOFError, ValueError, OSError) as err:
        raise CheckpointError(
            f'cannot read checkpoint {filename}: the file is truncated, corrupt or not a '
            f'PyTorch checkpoint ({type(err).__name__}: {err})') from err


def _load_from_local(filename: str, map_location: Any) -> Any:
    """MMEngine's loader for local paths, with :func:`safe_torch_load`."""
    return safe_torch_load(filename.removeprefix('file://'), map_location)


def register_safe_checkpoint_loader() -> None:
    """Make MMEngine load local checkpoints (``--resume``, ``load_from``, ``init_cfg``)
    through :func:`safe_torch_load` instead of its own ``torch.load``."""
    CheckpointLoader.register_scheme(prefixes='', force=True)(_load_from_local)
