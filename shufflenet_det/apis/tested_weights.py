"""Whether a checkpoint holds the weights of a config's detector, checked before a test or a
demo runs it: MMEngine loads what fits and leaves the rest untrained, with a log line."""
import re
from typing import Any, Dict, Optional, Sequence

import torch
from torch import nn

from shufflenet_det.engine.hooks import checkpoint_classes
from shufflenet_det.utils import CheckpointError, check_weights_fit
from .starting_weights import HEADS


def checkpoint_weights(checkpoint: Any, path: str) -> Dict[str, torch.Tensor]:
    """The state dict of a loaded checkpoint (``state_dict``, or the file itself), its keys
    without a ``module.`` prefix, as MMEngine's ``load_checkpoint`` reads them.

    Raises:
        CheckpointError: When it holds no dict of tensors.
    """
    weights = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(weights, dict) or not all(
            isinstance(value, torch.Tensor) for value in weights.values()):
        raise CheckpointError(f'{path} holds no weights (a state_dict of tensors)')
    return {re.sub(r'^module\.', '', key): value for key, value in weights.items()}


def check_tested_weights(model: nn.Module, checkpoint: Any, path: str, config: str,
                         classes: Optional[Sequence[str]], maps_classes: bool) -> None:
    """Refuse weights that would leave part of ``model`` untrained: every tensor must fit,
    except the heads' class-score rows when ``maps_classes`` (the config's
    ``ClassTransferHook`` takes each class's scores by name) and each of ``classes`` is one of
    the checkpoint's.

    Args:
        model (nn.Module): The detector (unwrapped).
        checkpoint: The loaded checkpoint file.
        path (str): Its path, for the messages.
        config (str): The config's path, for the messages.
        classes (Sequence[str], optional): The config's class names.
        maps_classes (bool): Whether the run maps class scores by name on loading.

    Raises:
        CheckpointError: In one line, naming what does not fit and what to do.
    """
    weights = checkpoint_weights(checkpoint, path)
    expected = model.state_dict()
    other_classes = [key for key, value in weights.items() if key.startswith(HEADS)
                     and key in expected and value.shape != expected[key].shape
                     and value.shape[1:] == expected[key].shape[1:]]
    loaded = checkpoint_classes(checkpoint) or []
    if maps_classes and loaded and classes and loaded != list(classes):
        missing = [name for name in classes if name not in loaded]
        if missing:  # ClassTransferHook would start their scores untrained
            raise CheckpointError(
                f"{path} was trained for other classes than {config}: the config's "
                f"{', '.join(map(repr, missing[:5]))} {'is' if len(missing) == 1 else 'are'} "
                f'not among its {len(loaded)} classes; give the config it was trained with')
        expected = {key: weights[key] if key in other_classes else value
                    for key, value in expected.items()}  # ClassTransferHook's to map
    elif other_classes:
        key = other_classes[0]
        raise CheckpointError(
            f'{path} was trained for other classes than {config}: {key} is '
            f'{tuple(weights[key].shape)} in the file but {tuple(expected[key].shape)} in the '
            'model; give the config it was trained with')
    check_weights_fit(expected, weights, path, f'the detector of {config}',
                      hint='; give the config it was trained with')
