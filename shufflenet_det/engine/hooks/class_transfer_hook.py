"""Fine-tune from a detector of other classes: class scores matched by name, the rest kept."""
import difflib
from typing import Any, List, Optional, Sequence

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdet.registry import HOOKS


def transfer_class_rows(loaded: torch.Tensor, initial: torch.Tensor,
                        loaded_classes: Sequence[str], classes: Sequence[str]) -> torch.Tensor:
    """The tensor for ``classes`` built from one trained for ``loaded_classes``.

    Both tensors hold one row per class first, then rows that do not depend on the classes
    (NanoDet's box distribution). Row ``j`` of the result is the loaded row of the class named
    ``classes[j]``, or the initial row where ``loaded_classes`` has no such name; the rows after
    the classes are the loaded ones.

    Args:
        loaded (Tensor): The checkpoint's tensor, ``len(loaded_classes) + K`` rows.
        initial (Tensor): The model's initialised tensor, ``len(classes) + K`` rows.
        loaded_classes (Sequence[str]): The checkpoint's class names.
        classes (Sequence[str]): The run's class names.

    Returns:
        Tensor: Shaped as ``initial``.
    """
    index = {name: i for i, name in enumerate(loaded_classes)}
    result = initial.clone()
    for j, name in enumerate(classes):
        if name in index:
            result[j] = loaded[index[name]]
    result[len(classes):] = loaded[len(loaded_classes):]
    return result


def checkpoint_classes(checkpoint: Any) -> Optional[List[str]]:
    """The class names a checkpoint was trained for (``meta.dataset_meta.classes``), or None.

    MMEngine saves ``meta`` as it is given, and scripts that save a state dict by hand write
    what they hold, so any level may be missing, None or another type. A checkpoint names
    classes only with a non-empty list or tuple there; anything else names none.

    Args:
        checkpoint: A loaded checkpoint file (a dict, or whatever the file holds).

    Returns:
        list | None: The class names, or None when the checkpoint names none.
    """
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    dataset_meta = meta.get('dataset_meta') if isinstance(meta, dict) else None
    classes = dataset_meta.get('classes') if isinstance(dataset_meta, dict) else None
    return list(classes) if isinstance(classes, (list, tuple)) and classes else None


# The detector's heads whose class scores follow the run's classes (``aux_head``: NanoDet-Plus).
HEADS = ('bbox_head', 'aux_head')


@HOOKS.register_module()
class ClassTransferHook(Hook):
    """Load a checkpoint trained on other classes into a head with the run's classes.

    MMEngine skips every checkpoint tensor whose shape differs from the model's, so loading a
    COCO detector into a config with 3 classes would drop NanoDet's whole output convs, box
    distributions included. Before the weights are loaded (``load_from``, ``--resume``,
    ``tools/test.py``), this hook rewrites the head's class-score tensors of the checkpoint for
    the run's classes, matched by name in any order (see :func:`transfer_class_rows`): a class
    the checkpoint has (``meta.dataset_meta.classes``) takes its trained scores; another one
    starts from the model's initialisation; the channels after the class scores are kept. The
    log names the classes of each kind. It needs heads that name their class-score parameters
    (``class_score_params()``, as ``NanoDetHead`` and NanoDet-Plus's auxiliary
    ``SimpleConvHead`` do); it does nothing when the classes agree.
    """

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Rewrite ``checkpoint['state_dict']`` for the run's classes, in place.

        Args:
            runner (Runner): The runner; the classes are those of the dataset its loops
                were built with (MMEngine's loops pass them to the visualizer).
            checkpoint (dict): The loaded checkpoint.
        """
        loaded_classes = checkpoint_classes(checkpoint) or []
        classes = list((runner.visualizer.dataset_meta or {}).get('classes') or [])
        if not classes or loaded_classes == classes:
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        heads = {name: getattr(model, name) for name in HEADS if hasattr(model, name)}
        state_dict = checkpoint.get('state_dict', checkpoint)
        lacking = [type(h).__name__ for h in heads.values() if not hasattr(h, 'class_score_params')]
        if lacking or not heads:
            runner.logger.warning(
                f'ClassTransferHook: {" and ".join(lacking) or type(model).__name__} names no '
                "class-score parameters, so the checkpoint's classes cannot be matched to the "
                "run's by name")
            return
        initial = model.state_dict()
        keys = [f'{name}.{param}' for name, head in heads.items()
                for param in head.class_score_params() if f'{name}.{param}' in state_dict]
        if not loaded_classes:
            if any(state_dict[key].shape != initial[key].shape for key in keys):
                runner.logger.warning(
                    'ClassTransferHook: the checkpoint names no classes '
                    '(meta.dataset_meta.classes), so class scores cannot be matched by name; '
                    'its class-score tensors, of other shapes, are not loaded')
            return
        for key in keys:
            loaded = state_dict[key]
            extra = initial[key].shape[0] - len(classes)
            if loaded.shape[0] - len(loaded_classes) != extra or \
                    loaded.shape[1:] != initial[key].shape[1:]:
                runner.logger.warning(
                    f'ClassTransferHook: {key} is {tuple(loaded.shape)} in the checkpoint, '
                    f'which does not fit its {len(loaded_classes)} classes and the model\'s '
                    f'{tuple(initial[key].shape)}; it is not loaded')
                continue
            state_dict[key] = transfer_class_rows(loaded, initial[key], loaded_classes, classes)
        runner.logger.info(self._report(loaded_classes, classes))

    @staticmethod
    def _report(loaded_classes: Sequence[str], classes: Sequence[str]) -> str:
        """One line: which classes were transferred, which start fresh."""
        transferred = [name for name in classes if name in loaded_classes]
        fresh = []
        for name in classes:
            if name not in loaded_classes:
                close = difflib.get_close_matches(name, loaded_classes, 1)
                fresh.append(repr(name) + (f' (the checkpoint has {close[0]!r})' if close
                                           else ''))
        return (f'ClassTransferHook: {len(transferred)} of {len(classes)} classes take their '
                f'scores from the checkpoint\'s {len(loaded_classes)} classes: '
                f'{", ".join(map(repr, transferred)) or "none"}; starting fresh: '
                f'{", ".join(fresh) or "none"}; the channels after the class scores (box '
                'distributions) are kept.')
