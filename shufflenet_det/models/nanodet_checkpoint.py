"""Read NanoDet-m's and NanoDet-Plus's checkpoints, in NanoDet's own layout, as weights of this
project's detectors.

NanoDet writes two formats:

- the PyTorch Lightning ``.ckpt`` of NanoDet >= 0.3: ``state_dict`` holds the detector's weights
  under ``model.`` and, when it was trained with EMA, their moving average under ``avg_model.``;
- a ``.pth`` whose ``state_dict`` holds the weights without a prefix: NanoDet 0.x's
  checkpoints, and the inference "weights" files NanoDet-Plus is released as (the EMA weights
  when it was trained with EMA).

NanoDet-m is ``backbone`` (ShuffleNetV2 in torchvision's layout), ``fpn`` (PAN) and ``head``
(NanoDetHead with a shared cls/reg output). Its keys map one to one onto ``ShuffleNetV2``,
``LightPAN`` and ``NanoDetHead``, except ``head.gfl_reg``, which NanoDet builds with
``share_cls_reg=True`` but never runs. NanoDet-Plus is ``backbone``, ``fpn`` (GhostPAN),
``head`` (NanoDetPlusHead) and, for training, ``aux_fpn`` and ``aux_head``: they map onto
``ShuffleNetV2``, ``GhostPAN``, ``NanoDetPlusHead``, ``aux_neck`` and ``SimpleConvHead``.
"""
import re
from typing import Dict, List, Tuple

import torch

from shufflenet_det.utils.key_renames import StateDict, prefixed, rename_keys, rename_rules
from shufflenet_det.utils.safe_checkpoint import CheckpointError

from .backbones.shufflenet_v2_checkpoint import (TORCHVISION_RULES, infer_widen_factor,
                                                 rename_torchvision)

# NanoDet's DepthwiseConvModule and GhostBottleneck parts -> mmcv's and this project's names.
DEPTHWISE_SEPARABLE = {'depthwise': 'depthwise_conv.conv', 'dwnorm': 'depthwise_conv.bn',
                       'pointwise': 'pointwise_conv.conv', 'pwnorm': 'pointwise_conv.bn'}
GHOST_BOTTLENECK = {
    **{f'{ghost}.{part}.{index}': f'{ghost}.{part}.{name}'
       for ghost in ('ghost1', 'ghost2') for part in ('primary_conv', 'cheap_operation')
       for index, name in ((0, 'conv'), (1, 'bn'))},
    **{f'shortcut.{index}': f'shortcut.{name}' for index, name in enumerate(
        ('depthwise_conv.conv', 'depthwise_conv.bn', 'pointwise_conv.conv', 'pointwise_conv.bn'))},
}


def _module_rules(source: str, target: str, parts: Dict[str, str]) -> List[Tuple[str, str]]:
    """Rules for the parts of one kind of module: ``source`` and ``target`` are a pattern and
    its replacement for the module's path (with the same groups), ``parts`` maps NanoDet's
    names of its submodules to this project's."""
    return [(rf'{source}\.{re.escape(theirs)}\.(?P<param>\w+)', rf'{target}.{ours}.\g<param>')
            for theirs, ours in parts.items()]


def _ghost_pan_rules(source: str, target: str) -> List[Tuple[str, str]]:
    """NanoDet's GhostPAN under ``source`` -> this project's under ``target``."""
    return (_module_rules(rf'{source}\.reduce_layers\.(\d+)', rf'{target}.reduce_layers.\1',
                          {'conv': 'conv', 'bn': 'bn'}) +
            _module_rules(rf'{source}\.(top_down|bottom_up)_blocks\.(\d+)\.blocks\.(\d+)',
                          rf'{target}.\1_blocks.\2.\3', GHOST_BOTTLENECK) +
            _module_rules(rf'{source}\.downsamples\.(\d+)', rf'{target}.downsamples.\1',
                          DEPTHWISE_SEPARABLE) +
            _module_rules(rf'{source}\.extra_lvl_(in|out)_conv\.(\d+)',
                          rf'{target}.extra_\1_convs.\2', DEPTHWISE_SEPARABLE))


# The NanoDet head (NanoDet-m's with share_cls_reg=True, and NanoDet-Plus's): towers, one 1x1
# cls/reg output per level, the distribution's bins.
HEAD_RULES = _module_rules(r'head\.cls_convs\.(\d+)\.(\d+)', r'bbox_head.towers.\1.\2',
                           DEPTHWISE_SEPARABLE) + [
    (r'head\.gfl_cls\.(\d+)\.(weight|bias)', r'bbox_head.out_convs.\1.\2'),
    (r'head\.distribution_project\.project', 'bbox_head.integral.project')]
BACKBONE_RULES = prefixed(TORCHVISION_RULES, 'backbone.', 'backbone.')
# Each NanoDet model this project converts: its rename table (backbone by torchvision's table),
# and the keys that say a file holds it.
NANODET_MODELS = {
    # NanoDet-m: PAN laterals; head.gfl_reg, which NanoDet builds but never runs, is dropped.
    'NanoDet-m': (BACKBONE_RULES + rename_rules(
        [(r'fpn\.lateral_convs\.(\d+)\.conv\.(weight|bias)', r'neck.lateral_convs.\1.conv.\2'),
         *HEAD_RULES, (r'head\.gfl_reg\.\d+\.(weight|bias)', None)]),
        'fpn.lateral_convs.0.conv.weight'),
    # NanoDet-Plus: GhostPAN, its training copy aux_fpn, and the auxiliary SimpleConvHead,
    # whose names are MMDetection's GFLHead's.
    'NanoDet-Plus': (BACKBONE_RULES + rename_rules(
        [*_ghost_pan_rules('fpn', 'neck'), *_ghost_pan_rules('aux_fpn', 'aux_neck'),
         *HEAD_RULES, (r'aux_head\.(.+)', r'aux_head.\1')]),
        'fpn.reduce_layers.0.conv.weight'),
}
# Weights that only NanoDet models this project does not have hold.
OTHER_MODELS = {
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


def identify_nanodet(state_dict: StateDict) -> Tuple[str, float, int]:
    """Which NanoDet model weights are of: the model, the backbone's ``widen_factor`` and the
    neck's channels.

    Args:
        state_dict (dict): NanoDet's weights without prefix.

    Returns:
        tuple[str, float, int]: ``'NanoDet-m'`` or ``'NanoDet-Plus'``, ``widen_factor`` and
        neck channels.

    Raises:
        CheckpointError: The weights are of another NanoDet model or no NanoDet model.
    """
    for prefix, model in OTHER_MODELS.items():
        if any(k.startswith(prefix) for k in state_dict):
            raise CheckpointError(
                f'this is {model}: it has {prefix}* weights. NanoDet-m and NanoDet-Plus '
                '(ShuffleNetV2, PAN or GhostPAN, a head with shared cls/reg output) convert')
    backbone = rename_torchvision(
        {k[len('backbone.'):]: v for k, v in state_dict.items() if k.startswith('backbone.')})
    width = infer_widen_factor(backbone)
    for model, (_, neck_key) in NANODET_MODELS.items():
        if width is not None and neck_key in state_dict:
            return model, width, state_dict[neck_key].shape[0]
    raise CheckpointError(
        'not NanoDet-m or NanoDet-Plus: expected ShuffleNetV2 weights in torchvision\'s layout '
        "under backbone.* ('backbone.stage2.0.branch2.0.weight', ...) and PAN laterals "
        "'fpn.lateral_convs.N.conv.weight' or GhostPAN 'fpn.reduce_layers.N.conv.weight'; "
        f'found {sorted(state_dict)[:5]}')


def convert_nanodet(state_dict: StateDict, model: str) -> StateDict:
    """Rename NanoDet weights to this project's detector keys.

    Args:
        state_dict (dict): NanoDet's weights without prefix.
        model (str): ``'NanoDet-m'`` or ``'NanoDet-Plus'`` (see :func:`identify_nanodet`).

    Returns:
        dict: The weights under ``backbone.``, ``neck.`` and ``bbox_head.`` (and, for
        NanoDet-Plus, ``aux_neck.`` and ``aux_head.``).

    Raises:
        CheckpointError: Some key belongs to no module of that model.
    """
    converted, unknown = rename_keys(state_dict, NANODET_MODELS[model][0])
    if unknown:
        raise CheckpointError(f'{len(unknown)} keys belong to no {model} module, e.g. '
                              f'{unknown[:5]}')
    return converted
