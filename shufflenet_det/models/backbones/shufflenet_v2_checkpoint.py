"""Read ShuffleNet V2 weights in any public layout into :class:`ShuffleNetV2`.

Recognised layouts, told apart by their keys:

- ``native``: this project's and mmpretrain's module names (``conv1.conv.weight``,
  ``layers.0.0.branch2.0.conv.weight``), optionally under ``backbone.`` (mmpretrain / mmcls
  classifier files and MMDetection detector checkpoints; other top-level modules are skipped).
- ``torchvision``: ``conv1.0``, ``stage2.0.branch1.0``, ``conv5.0``, ``fc``.
- ``megvii``: the official ShuffleNet-Series files, ``module.first_conv``,
  ``module.features.N.branch_main`` / ``branch_proj``, ``module.conv_last``. Their channels
  are in another order, which ``megvii_channel_order`` puts right, so that the converted
  network computes exactly the same function.

Each layout is a table of key renames (:mod:`shufflenet_det.utils.key_renames`).
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.runner import CheckpointLoader

from shufflenet_det.utils.checkpoint_fit import check_weights_fit
from shufflenet_det.utils.key_renames import StateDict, rename_keys, rename_rules
from shufflenet_det.utils.safe_checkpoint import CheckpointError

from .megvii_channel_order import permute_megvii_channels
from .shufflenet_v2_arch import ARCH_SETTINGS, STAGE_BLOCKS

CLASSIFIER_PREFIXES = ('fc.', 'head.', 'classifier.')
# Sequential indices of a unit's branches in torchvision's (and Megvii's) layout -> this
# project's ConvModule names.
BRANCH1_LAYERS = {0: '0.conv', 1: '0.bn', 2: '1.conv', 3: '1.bn'}
BRANCH2_LAYERS = {0: '0.conv', 1: '0.bn', 3: '1.conv', 4: '1.bn', 5: '2.conv', 6: '2.bn'}


def _stem_and_conv5_rules(stem: str, conv5: str, classifier: str) -> list:
    """Rules for the stem conv-BN, the last conv-BN and the (dropped) classifier."""
    return [(rf'{classifier}\..*', None),
            (rf'{stem}\.0\.(\w+)', r'conv1.conv.\1'), (rf'{stem}\.1\.(\w+)', r'conv1.bn.\1'),
            (rf'{conv5}\.0\.(\w+)', r'layers.3.conv.\1'),
            (rf'{conv5}\.1\.(\w+)', r'layers.3.bn.\1')]


# torchvision: stageS.U.branchB.I -> layers.(S-2).U.branchB.NAME (NanoDet's backbone too).
TORCHVISION_RULES = rename_rules(_stem_and_conv5_rules('conv1', 'conv5', 'fc') + [
    (rf'stage{stage + 2}\.(\d+)\.{branch}\.{index}\.(\w+)',
     rf'layers.{stage}.\1.{branch}.{name}.\2')
    for stage in range(3)
    for branch, layers in (('branch1', BRANCH1_LAYERS), ('branch2', BRANCH2_LAYERS))
    for index, name in layers.items()])
# Megvii: features.N (all units in one Sequential) .branch_proj / .branch_main.
MEGVII_RULES = rename_rules(_stem_and_conv5_rules('first_conv', 'conv_last', 'classifier') + [
    (rf'features\.{sum(STAGE_BLOCKS[:stage]) + unit}\.{branch}\.{index}\.(\w+)',
     rf'layers.{stage}.{unit}.{target}.{name}.\1')
    for stage, blocks in enumerate(STAGE_BLOCKS) for unit in range(blocks)
    for branch, target, layers in (('branch_proj', 'branch1', BRANCH1_LAYERS),
                                   ('branch_main', 'branch2', BRANCH2_LAYERS))
    for index, name in layers.items()])


def detect_layout(state_dict: StateDict) -> str:
    """Name the layout of a ShuffleNet V2 state dict: native, torchvision or megvii."""
    keys = set(state_dict)
    if any(k.startswith('first_conv.') for k in keys):
        return 'megvii'
    if any(k.startswith('stage2.') for k in keys) and 'conv1.0.weight' in keys:
        return 'torchvision'
    if 'conv1.conv.weight' in keys:
        return 'native'
    sample = ', '.join(sorted(keys)[:5])
    raise CheckpointError(
        'not a ShuffleNet V2 checkpoint in a known layout (expected torchvision '
        "'conv1.0.weight'/'stage2.*', mmpretrain 'backbone.conv1.conv.weight' or Megvii "
        f"'first_conv.*' keys); found: {sample}")


def rename_torchvision(state_dict: StateDict) -> StateDict:
    """Rename torchvision-layout weights (also NanoDet's backbone) to the native layout; the
    classifier ``fc`` is dropped, keys of no known module are kept as they are (and then
    reported by the strict load)."""
    renamed, unmatched = rename_keys(state_dict, TORCHVISION_RULES)
    renamed.update((key, state_dict[key]) for key in unmatched)
    return renamed


def _convert_megvii(state_dict: StateDict) -> StateDict:
    """Rename Megvii-layout weights to the native layout and put their channels in its order."""
    renamed, unmatched = rename_keys(state_dict, MEGVII_RULES)
    renamed.update((key, state_dict[key]) for key in unmatched)
    return permute_megvii_channels(renamed)


def extract_state_dict(checkpoint: object, prefix: Optional[str] = None) -> StateDict:
    """Take the weights out of a loaded checkpoint file.

    Args:
        checkpoint: The loaded file: a state dict, or a dict holding one
            under ``state_dict`` or ``model`` (MMEngine, mmpretrain and other trainers).
        prefix (str, optional): Keep only keys under this prefix and strip it, as MMEngine's
            ``PretrainedInit`` does (``'backbone'`` for a detector checkpoint). Default: None.
            A ``module.`` prefix shared by every key (DataParallel) is removed.

    Returns:
        dict: The state dict.
    """
    if isinstance(checkpoint, dict):
        for key in ('state_dict', 'model'):
            if isinstance(checkpoint.get(key), dict):
                checkpoint = checkpoint[key]
                break
    if not isinstance(checkpoint, dict) or not all(
            isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise CheckpointError('the checkpoint holds no state dict of tensors')
    state_dict = dict(checkpoint)
    if prefix:
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        state_dict = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
        if not state_dict:
            raise CheckpointError(f'the checkpoint has no keys under prefix {prefix!r}')
    if all(k.startswith('module.') for k in state_dict):  # saved from (Distributed)DataParallel
        state_dict = {k[len('module.'):]: v for k, v in state_dict.items()}
    return state_dict


def convert_to_native(state_dict: StateDict) -> Tuple[StateDict, str]:
    """Rename (and for Megvii files, permute) weights into this project's layout.

    Args:
        state_dict (dict): Weights in the native, mmpretrain (``backbone.``), torchvision or
            Megvii layout. Classifier weights are dropped.

    Returns:
        tuple[dict, str]: The converted weights and the name of the source layout.
    """
    if any(k.startswith('backbone.') for k in state_dict):
        skipped = sorted({k.split('.', 1)[0] for k in state_dict if not k.startswith('backbone.')})
        if skipped:
            MMLogger.get_current_instance().info(
                f'ShuffleNetV2: loading the backbone.* weights, skipping {skipped}')
        state_dict = {k[len('backbone.'):]: v for k, v in state_dict.items()
                      if k.startswith('backbone.')}
        layout = detect_layout(state_dict)
        if layout != 'native':
            raise CheckpointError(f'backbone.* keys in the {layout} layout are not supported')
        return state_dict, 'mmpretrain'
    layout = detect_layout(state_dict)
    if layout == 'torchvision':
        return rename_torchvision(state_dict), layout
    if layout == 'megvii':
        return _convert_megvii(state_dict), layout
    return {k: v for k, v in state_dict.items() if not k.startswith(CLASSIFIER_PREFIXES)}, layout


def infer_widen_factor(state_dict: StateDict) -> Optional[float]:
    """The ``widen_factor`` whose stage-2 width matches native-layout weights, if any."""
    weight = state_dict.get('layers.0.0.branch2.2.conv.weight')
    if weight is None:
        return None
    widths = [w for w, c in ARCH_SETTINGS.items() if c[0] == 2 * weight.shape[0]]
    return widths[0] if widths else None


def init_extra_dw_as_identity(state_dict: StateDict, backbone: nn.Module) -> None:
    """Fill in every ``extra_dw`` conv-BN of ``backbone`` so that it passes its input through.

    The depthwise kernel is a centred delta; BN has weight 1, bias 0, mean 0 and a running
    variance of ``1 - eps``, so that ``running_var + eps`` is exactly 1 and the eval-mode scale
    is exactly 1.
    """
    for key, value in backbone.state_dict().items():
        if '.extra_dw.' not in key:
            continue
        if key.endswith('conv.weight'):
            weight = torch.zeros_like(value)
            weight[:, :, value.shape[2] // 2, value.shape[3] // 2] = 1
            state_dict[key] = weight
        elif key.endswith('bn.weight'):
            state_dict[key] = torch.ones_like(value)
        elif key.endswith(('bn.bias', 'bn.running_mean')):
            state_dict[key] = torch.zeros_like(value)
        elif key.endswith('bn.running_var'):
            bn = backbone.get_submodule(key[:-len('.running_var')])
            state_dict[key] = torch.ones_like(value) - bn.eps
        else:
            state_dict[key] = value.clone()


def read_shufflenet_v2_checkpoint(filename: str,
                                  prefix: Optional[str] = None,
                                  map_location: str = 'cpu') -> Tuple[StateDict, str]:
    """Read a checkpoint file of any known layout and convert it to the native layout.

    Args:
        filename (str): Checkpoint path or URL, read through MMEngine's ``CheckpointLoader``
            with the project's safe loaders.
        prefix (str, optional): Prefix of the backbone's keys in the file. Default: None.
        map_location (str): Where to put the tensors. Default: 'cpu'.

    Returns:
        tuple[dict, str]: Native-layout weights and the layout the file was in.
    """
    checkpoint = CheckpointLoader.load_checkpoint(filename, map_location=map_location)
    return convert_to_native(extract_state_dict(checkpoint, prefix))


def load_native_weights(backbone: nn.Module, state_dict: StateDict, source: str) -> None:
    """Load native-layout weights into ``backbone`` strictly, or load nothing.

    V2 weights may go into a V2* backbone: then, and only then, the ``extra_dw`` layers are
    missing, and they are set to identity (:func:`init_extra_dw_as_identity`) so V2* computes
    what V2 computes. conv5 weights (``layers.3``) are skipped when the backbone does not build
    conv5. Any other missing, unexpected or mis-shaped key raises :class:`CheckpointError`
    before anything is copied.

    Args:
        backbone (ShuffleNetV2): The backbone to fill.
        state_dict (dict): Native-layout weights (not modified).
        source (str): Where the weights came from, for messages.
    """
    expected = backbone.state_dict()
    if 3 not in backbone.out_indices:  # conv5 is not built: its weights have no place
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith('layers.3.')}
    else:
        state_dict = dict(state_dict)
    extra_dw_keys = {k for k in expected
                     if '.extra_dw.' in k and not k.endswith('num_batches_tracked')}
    if extra_dw_keys and not extra_dw_keys & set(state_dict):  # V2 weights into V2*
        init_extra_dw_as_identity(state_dict, backbone)
    width = infer_widen_factor(state_dict)
    check_weights_fit(
        expected, state_dict, source,
        f'ShuffleNetV2(widen_factor={backbone.widen_factor}, extra_dw={backbone.extra_dw})',
        hint=f'; the file looks like widen_factor={width}' if width else '')
    backbone.load_state_dict(state_dict, strict=False)


def load_shufflenet_v2_weights(backbone: nn.Module,
                               filename: str,
                               prefix: Optional[str] = None,
                               map_location: str = 'cpu') -> str:
    """Read a checkpoint of any known layout and load it into ``backbone`` strictly.

    Args:
        backbone (ShuffleNetV2): The backbone to fill.
        filename (str): Checkpoint path.
        prefix (str, optional): Prefix of the backbone's keys in the file. Default: None.
        map_location (str): Where to put the tensors. Default: 'cpu'.

    Returns:
        str: The layout the file was in.
    """
    state_dict, layout = read_shufflenet_v2_checkpoint(filename, prefix, map_location)
    source = f'{filename} ({layout} layout)'
    load_native_weights(backbone, state_dict, source)
    MMLogger.get_current_instance().info(f'ShuffleNetV2: loaded {source}')
    return layout
