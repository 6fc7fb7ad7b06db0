"""Read NanoDet-m's checkpoints, in NanoDet's own layout, as weights of this project's detector.

NanoDet writes two formats:

- the PyTorch Lightning ``.ckpt`` of NanoDet >= 0.3: ``state_dict`` holds the detector's weights
  under ``model.`` and, when it was trained with EMA, their moving average under ``avg_model.``;
- the ``.pth`` of NanoDet 0.x: ``state_dict`` holds the weights without a prefix.

NanoDet-m is ``backbone`` (ShuffleNetV2 in torchvision's layout), ``fpn`` (PAN) and ``head``
(NanoDetHead with a shared cls/reg output). Its keys map one to one onto ``ShuffleNetV2``,
``LightPAN`` and ``NanoDetHead``, except ``head.gfl_reg``, which NanoDet builds with
``share_cls_reg=True`` but never runs.
"""
from typing import Tuple

import torch

from shufflenet_det.utils.key_renames import StateDict, prefixed, rename_keys, rename_rules
from shufflenet_det.utils.safe_checkpoint import CheckpointError

from .backbones.shufflenet_v2_checkpoint import (TORCHVISION_RULES, infer_widen_factor,
                                                 rename_torchvision)

# NanoDet-m's keys -> this project's: the backbone by torchvision's table; head.gfl_reg, which
# NanoDet builds but never runs, is dropped.
NANODET_M_RULES = prefixed(TORCHVISION_RULES, 'backbone.', 'backbone.') + rename_rules([
    (r'fpn\.lateral_convs\.(\d+)\.conv\.(weight|bias)', r'neck.lateral_convs.\1.conv.\2'),
    (r'head\.cls_convs\.(\d+)\.(\d+)\.depthwise\.weight',
     r'bbox_head.towers.\1.\2.depthwise_conv.conv.weight'),
    (r'head\.cls_convs\.(\d+)\.(\d+)\.dwnorm\.(\w+)',
     r'bbox_head.towers.\1.\2.depthwise_conv.bn.\3'),
    (r'head\.cls_convs\.(\d+)\.(\d+)\.pointwise\.weight',
     r'bbox_head.towers.\1.\2.pointwise_conv.conv.weight'),
    (r'head\.cls_convs\.(\d+)\.(\d+)\.pwnorm\.(\w+)',
     r'bbox_head.towers.\1.\2.pointwise_conv.bn.\3'),
    (r'head\.gfl_cls\.(\d+)\.(weight|bias)', r'bbox_head.out_convs.\1.\2'),
    (r'head\.distribution_project\.project', 'bbox_head.integral.project'),
    (r'head\.gfl_reg\.\d+\.(weight|bias)', None),
])
# Weights that only other NanoDet models have, and what those models are.
OTHER_MODELS = {
    'aux_head.': 'NanoDet-Plus (it has an auxiliary head)',
    'fpn.reduce_layers.': 'NanoDet-Plus (its neck is a GhostPAN)',
    'head.reg_convs.0.': 'a NanoDet head with separate box towers (share_cls_reg=False)',
}
LIGHTNING_PREFIXES = ('model.', 'avg_model.')


def select_nanodet_weights(checkpoint: object, use_ema: bool = True) -> Tuple[StateDict, str]:
    """Take NanoDet's weights out of a loaded checkpoint file, without prefix.

    Args:
        checkpoint: The loaded ``.ckpt`` or ``.pth``.
        use_ema (bool): From a ``.ckpt`` with an EMA copy, take ``avg_model.*`` rather than the
            raw ``model.*`` weights. Default: True.

    Returns:
        tuple[dict, str]: The weights, and which ones they are (``'avg_model.*'``,
        ``'model.*'`` or ``'state_dict'`` for a 0.x ``.pth``).
    """
    state_dict = checkpoint.get('state_dict') if isinstance(checkpoint, dict) else None
    if not isinstance(state_dict, dict) or not all(
            isinstance(v, torch.Tensor) for v in state_dict.values()):
        found = sorted(checkpoint)[:5] if isinstance(checkpoint, dict) else type(
            checkpoint).__name__
        raise CheckpointError('expected a NanoDet checkpoint: a dict whose state_dict holds '
                              f'tensors; found {found}')
    copies = {prefix: {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
              for prefix in LIGHTNING_PREFIXES}
    if not any(copies.values()):
        return dict(state_dict), 'state_dict'
    stray = sorted(k for k in state_dict if not k.startswith(LIGHTNING_PREFIXES))
    if stray:
        raise CheckpointError(f'unexpected keys beside model.* and avg_model.*: {stray[:5]}')
    prefix = 'avg_model.' if copies['avg_model.'] and (use_ema or not copies['model.']) else \
        'model.'
    return copies[prefix], prefix + '*'


def identify_nanodet_m(state_dict: StateDict) -> Tuple[float, int]:
    """The backbone's ``widen_factor`` and the PAN's channels of NanoDet-m weights.

    Args:
        state_dict (dict): NanoDet's weights without prefix.

    Returns:
        tuple[float, int]: ``widen_factor`` and neck channels.

    Raises:
        CheckpointError: The weights are of another NanoDet model or no NanoDet model.
    """
    for prefix, model in OTHER_MODELS.items():
        if any(k.startswith(prefix) for k in state_dict):
            raise CheckpointError(
                f'this is {model}: it has {prefix}* weights, which NanoDet-m has not. Only '
                'NanoDet-m (ShuffleNetV2, PAN, NanoDetHead with shared cls/reg output) '
                'converts')
    backbone = rename_torchvision(
        {k[len('backbone.'):]: v for k, v in state_dict.items() if k.startswith('backbone.')})
    lateral = state_dict.get('fpn.lateral_convs.0.conv.weight')
    width = infer_widen_factor(backbone)
    if width is None or lateral is None:
        raise CheckpointError(
            'not NanoDet-m: expected ShuffleNetV2 weights in torchvision\'s layout under '
            "backbone.* ('backbone.stage2.0.branch2.0.weight', ...) and PAN laterals "
            f"'fpn.lateral_convs.N.conv.weight'; found {sorted(state_dict)[:5]}")
    return width, lateral.shape[0]


def convert_nanodet_m(state_dict: StateDict) -> StateDict:
    """Rename NanoDet-m weights to this project's detector keys.

    Args:
        state_dict (dict): NanoDet's weights without prefix.

    Returns:
        dict: The weights under ``backbone.``, ``neck.`` and ``bbox_head.``; ``head.gfl_reg``
        (never used by NanoDet) is dropped.

    Raises:
        CheckpointError: Some key belongs to no NanoDet-m module.
    """
    converted, unknown = rename_keys(state_dict, NANODET_M_RULES)
    if unknown:
        raise CheckpointError(f'{len(unknown)} keys belong to no NanoDet-m module, e.g. '
                              f'{unknown[:5]}')
    return converted
