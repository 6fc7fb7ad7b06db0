"""Check that weights fit a model exactly before anything is copied into it."""
from typing import Dict, List

import torch

from .safe_checkpoint import CheckpointError


def _first(keys: List[str], count: int = 5) -> str:
    return f'{keys[:count]}{" ..." if len(keys) > count else ""} ({len(keys)} in all)'


def check_weights_fit(expected: Dict[str, torch.Tensor], state_dict: Dict[str, torch.Tensor],
                      source: str, target: str, hint: str = '') -> None:
    """Raise unless ``state_dict`` has exactly the keys and shapes of ``expected``.

    ``num_batches_tracked`` buffers may be missing (``load_state_dict(strict=False)`` keeps the
    model's).

    Args:
        expected (dict): The state dict of the model the weights are meant for.
        state_dict (dict): The weights.
        source (str): What the weights are, for the message.
        target (str): What the model is, for the message.
        hint (str): Appended to the message. Default: ''.

    Raises:
        CheckpointError: Naming the missing, unexpected or mismatched keys.
    """
    optional = {k for k in expected if k.endswith('num_batches_tracked')}
    missing = sorted(set(expected) - set(state_dict) - optional)
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f'{source} does not match {target}: missing keys '
                              f'{_first(missing)}, unexpected keys {_first(unexpected)}{hint}')
    mismatched = [(k, tuple(v.shape), tuple(expected[k].shape)) for k, v in state_dict.items()
                  if v.shape != expected[k].shape]
    if mismatched:
        key, found, wanted = mismatched[0]
        raise CheckpointError(
            f'{source} does not fit {target}: {len(mismatched)} tensors have other shapes, e.g. '
            f'{key} is {found} in the file but {wanted} in the model{hint}')
