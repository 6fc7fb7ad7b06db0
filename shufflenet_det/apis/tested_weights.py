"""Whether a checkpoint holds the weights of a config's detector, checked before a test, a
demo or an export runs it: MMEngine loads what fits and leaves the rest untrained, with a log
line."""
import re
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import nn

from shufflenet_det.engine.hooks import checkpoint_classes
from shufflenet_det.engine.hooks.class_transfer_hook import HEADS
from shufflenet_det.utils import CheckpointError, check_weights_fit


def checkpoint_weights(checkpoint: Any, path: str) -> Dict[str, torch.Tensor]:
    """The state dict of a loaded checkpoint, its keys without a ``module.`` prefix, as
    MMEngine's ``load_checkpoint`` reads them.

    Args:
        checkpoint: The loaded checkpoint file (``state_dict`` in a dict, or the dict itself).
        path (str): Its path, for the message.

    Returns:
        dict[str, Tensor]: The weights.

    Raises:
        CheckpointError: When it holds no dict of tensors.
    """
    weights = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(weights, dict) or not all(
            isinstance(value, torch.Tensor) for value in weights.values()):
        raise CheckpointError(f'{path} holds no weights (a state_dict of tensors)')
    return {re.sub(r'^module\.', '', key): value for key, value in weights.items()}


def class_rows(model: nn.Module, weights: Dict[str, torch.Tensor], loaded: Sequence[str],
               classes: Sequence[str]) -> List[str]:
    """The heads' class-score tensors that ``ClassTransferHook`` rewrites for ``classes``
    from a checkpoint of the classes ``loaded``: those its heads name, whose rows beyond the
    classes and whose other dimensions agree with the model's."""
    expected, keys = model.state_dict(), []
    for name in HEADS:
        head = getattr(model, name, None)
        for param in getattr(head, 'class_score_params', lambda: [])():
            key = f'{name}.{param}'
            if key in weights and key in expected \
                    and weights[key].shape[1:] == expected[key].shape[1:] \
                    and weights[key].shape[0] - len(loaded) == \
                    expected[key].shape[0] - len(classes):
                keys.append(key)
    return keys


def check_tested_weights(model: nn.Module, checkpoint: Any, path: str, config: str,
                         classes: Optional[Sequence[str]] = None,
                         maps_classes: bool = False) -> None:
    """Refuse weights that would leave part of ``model`` untrained, or whose labels would mean
    other classes than ``classes``: every tensor must fit, and the checkpoint's class names
    (when it names them) must be ``classes``, unless ``maps_classes`` (the config's
    ``ClassTransferHook`` takes each class's scores by name) and each of ``classes`` is one of
    the checkpoint's.

    Args:
        model (nn.Module): The detector (unwrapped).
        checkpoint: The loaded checkpoint file.
        path (str): Its path, for the messages.
        config (str): The config's path, for the messages.
        classes (Sequence[str], optional): The class names the labels are scored or shown as;
            None when they are the checkpoint's own (a demo). Default: None.
        maps_classes (bool): Whether ``ClassTransferHook`` maps class scores by name on
            loading. Default: False.

    Raises:
        CheckpointError: In one line, naming what does not fit and what to do.
    """
    weights = checkpoint_weights(checkpoint, path)
    expected = model.state_dict()
    loaded = checkpoint_classes(checkpoint) or []
    if classes and loaded and loaded != list(classes):
        missing = [name for name in classes if name not in loaded]
        mapped = class_rows(model, weights, loaded, classes) if maps_classes else []
        if missing or not mapped:
            order = ' (the same classes in another order)' if sorted(loaded) == sorted(classes) \
                else ''
            raise CheckpointError(
                f'{path} was trained for the classes {", ".join(loaded[:5])}'
                f'{" ..." if len(loaded) > 5 else ""}, not those of {config} '
                f'({", ".join(list(classes)[:5])}{" ..." if len(classes) > 5 else ""})'
                f'{order}; give the config it was trained with')
        expected = {key: weights[key] if key in mapped else value
                    for key, value in expected.items()}  # ClassTransferHook's to rewrite
    check_weights_fit(expected, weights, path, f'the detector of {config}',
                      hint='; give the config it was trained with')
