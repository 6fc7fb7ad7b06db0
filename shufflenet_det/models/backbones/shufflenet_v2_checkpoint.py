"""Read ShuffleNet V2 weights in any public layout into :class:`ShuffleNetV2`.

Recognised layouts, told apart by their keys:

- ``native``: this project's and mmpretrain's module names (``conv1.conv.weight``,
  ``layers.0.0.branch2.0.conv.weight``), optionally under ``backbone.`` (mmpretrain / mmcls
  classifier files and MMDetection detector checkpoints; other top-level modules are skipped).
- ``torchvision``: ``conv1.0``, ``stage2.0.branch1.0``, ``conv5.0``, ``fc``.
- ``megvii``: the official ShuffleNet-Series files, ``module.first_conv``,
  ``module.features.N.branch_main`` / ``branch_proj``, ``module.conv_last``. Their units
  concatenate unshuffled and shuffle at the start of the next unit, so each channel sits at
  another position: the conversion traces every channel through both networks and permutes
  the weights accordingly, which makes the converted network compute exactly the same
  function (up to the order of the channels of intermediate feature maps).
"""
import re
from collections import defaultdict
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.runner import CheckpointLoader

from shufflenet_det.utils.checkpoint_fit import check_weights_fit
from shufflenet_det.utils.safe_checkpoint import CheckpointError
from .shufflenet_v2_arch import ARCH_SETTINGS, STAGE_BLOCKS, STEM_CHANNELS

StateDict = Dict[str, torch.Tensor]
Label = Tuple[str, int]  # (producer, output channel)

CLASSIFIER_PREFIXES = ('fc.', 'head.', 'classifier.')
# torchvision's Sequential indices -> this project's ConvModule names.
TORCHVISION_BRANCH = {
    'branch1': {'0': '0.conv', '1': '0.bn', '2': '1.conv', '3': '1.bn'},
    'branch2': {'0': '0.conv', '1': '0.bn', '3': '1.conv', '4': '1.bn', '5': '2.conv',
                '6': '2.bn'},
}
MEGVII_BRANCH = {
    'branch_proj': ('branch1', {'0': '0.conv', '1': '0.bn', '2': '1.conv', '3': '1.bn'}),
    'branch_main': ('branch2', TORCHVISION_BRANCH['branch2']),
}


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
    classifier ``fc`` is dropped, keys of no known module are kept as they are."""
    renamed = {}
    for key, value in state_dict.items():
        if key.startswith('fc.'):
            continue
        match = re.fullmatch(r'stage(\d)\.(\d+)\.(branch[12])\.(\d+)\.(\w+)', key)
        if match:
            stage, unit, branch, index, param = match.groups()
            name = TORCHVISION_BRANCH[branch].get(index)
            key = f'layers.{int(stage) - 2}.{unit}.{branch}.{name}.{param}' if name else key
        else:
            key = re.sub(r'^conv1\.0\.', 'conv1.conv.', key)
            key = re.sub(r'^conv1\.1\.', 'conv1.bn.', key)
            key = re.sub(r'^conv5\.0\.', 'layers.3.conv.', key)
            key = re.sub(r'^conv5\.1\.', 'layers.3.bn.', key)
        renamed[key] = value
    return renamed


def _trace_channels(stage_channels: Sequence[int], megvii: bool
                    ) -> Dict[str, List[Label]]:
    """Follow every channel through the network.

    Returns, for each consumer (``'s.i.branch1'``, ``'s.i.branch2'``, ``'conv5'``), the
    labels of the channels its first convolution reads, in input order. Producers are the
    stem (``'conv1'``) and each branch's last convolution (``'s.i.branch1|2'``).
    """
    inputs: Dict[str, List[Label]] = {}
    x = [('conv1', c) for c in range(STEM_CHANNELS)]
    for s, (channels, blocks) in enumerate(zip(stage_channels, STAGE_BLOCKS)):
        half = channels // 2
        for i in range(blocks):
            unit = f'{s}.{i}'
            if i == 0:
                inputs[f'{unit}.branch1'] = inputs[f'{unit}.branch2'] = x
                branch1 = len(x) if megvii else half
                out = [(f'{unit}.branch1', c) for c in range(branch1)]
                out += [(f'{unit}.branch2', c) for c in range(channels - branch1)]
            elif megvii:  # even channels pass through, odd ones enter the branch
                inputs[f'{unit}.branch2'] = x[1::2]
                out = x[0::2] + [(f'{unit}.branch2', c) for c in range(half)]
            else:  # first half passes through, second half enters the branch
                inputs[f'{unit}.branch2'] = x[half:]
                out = x[:half] + [(f'{unit}.branch2', c) for c in range(half)]
            # Megvii defers the shuffle to the next unit; native shuffles here.
            x = out if megvii else [c for pair in zip(out[:half], out[half:]) for c in pair]
    inputs['conv5'] = x
    return inputs


def _fates(inputs: Dict[str, List[Label]]) -> Dict[Label, FrozenSet[str]]:
    fates: Dict[Label, set] = defaultdict(set)
    for consumer, labels in inputs.items():
        for label in labels:
            fates[label].add(consumer)
    return {label: frozenset(consumers) for label, consumers in fates.items()}


def _producer_permutations(stage_channels: Sequence[int]
                           ) -> Tuple[Dict[str, List[int]], Dict[str, List[int]]]:
    """Match the channels of both networks that are read by the same consumers.

    Returns ``rows``: for each producer, the Megvii output channel behind each native one;
    and ``cols``: for each consumer, the Megvii input position behind each native one.
    """
    native_inputs = _trace_channels(stage_channels, megvii=False)
    megvii_inputs = _trace_channels(stage_channels, megvii=True)
    groups: Dict[Tuple[str, FrozenSet[str]], List[List[int]]] = defaultdict(lambda: [[], []])
    for side, inputs in enumerate((native_inputs, megvii_inputs)):
        for (producer, channel), fate in sorted(_fates(inputs).items()):
            groups[producer, fate][side].append(channel)
    megvii_channel: Dict[Label, int] = {}
    for (producer, _), (native, megvii) in groups.items():
        if len(native) != len(megvii):
            raise CheckpointError('the Megvii and native unit layouts route channels '
                                  f'differently at {producer}; cannot convert exactly')
        megvii_channel.update({(producer, n): m for n, m in zip(native, megvii)})
    rows: Dict[str, List[int]] = defaultdict(list)
    for producer, channel in sorted(megvii_channel):
        rows[producer].append(megvii_channel[producer, channel])
    cols = {}
    for consumer, labels in native_inputs.items():
        position = {label: k for k, label in enumerate(megvii_inputs[consumer])}
        cols[consumer] = [position[p, megvii_channel[p, c]] for p, c in labels]
    return rows, cols


def _rename_megvii(state_dict: StateDict) -> StateDict:
    renamed = {}
    for key, value in state_dict.items():
        if key.startswith('classifier.'):
            continue
        match = re.fullmatch(r'features\.(\d+)\.(branch_main|branch_proj)\.(\d+)\.(\w+)', key)
        if match:
            index, branch, layer, param = match.groups()
            stage = sum(int(index) >= sum(STAGE_BLOCKS[:s + 1]) for s in range(3))
            unit = int(index) - sum(STAGE_BLOCKS[:stage])
            target, names = MEGVII_BRANCH[branch]
            name = names.get(layer)
            key = f'layers.{stage}.{unit}.{target}.{name}.{param}' if name else key
        else:
            key = re.sub(r'^first_conv\.0\.', 'conv1.conv.', key)
            key = re.sub(r'^first_conv\.1\.', 'conv1.bn.', key)
            key = re.sub(r'^conv_last\.0\.', 'layers.3.conv.', key)
            key = re.sub(r'^conv_last\.1\.', 'layers.3.bn.', key)
        renamed[key] = value
    return renamed


def _permute(state_dict: StateDict, prefix: str, perm: List[int], dim: int = 0) -> None:
    """Reorder dimension ``dim`` of every non-scalar tensor under ``prefix``."""
    keys = [k for k in state_dict if k.startswith(prefix) and state_dict[k].dim() > dim]
    if not keys:
        raise CheckpointError(f'the Megvii checkpoint has no weights for {prefix}*')
    for key in keys:
        state_dict[key] = state_dict[key].index_select(dim, torch.tensor(perm))


def _convert_megvii(state_dict: StateDict) -> StateDict:
    renamed = _rename_megvii(state_dict)
    try:
        main = renamed['layers.0.0.branch2.2.conv.weight'].shape[0]
        stage_channels = [main + STEM_CHANNELS] + [
            renamed[f'layers.{s}.0.branch2.2.conv.weight'].shape[0] * 2 for s in (1, 2)]
    except KeyError as err:
        raise CheckpointError(f'the Megvii checkpoint lacks {err.args[0]}') from err
    if main != stage_channels[0] // 2:
        raise CheckpointError(
            f'this Megvii checkpoint (stage-2 width {stage_channels[0]}) cannot be loaded '
            f'exactly: its first stage-2 unit concatenates a {STEM_CHANNELS}-channel projection '
            f'with a {main}-channel main branch, where ShuffleNetV2 has two '
            f'{stage_channels[0] // 2}-channel branches. Only the 0.5x Megvii model has '
            'matching shapes.')
    rows, cols = _producer_permutations(stage_channels)
    for producer, perm in rows.items():
        if producer == 'conv1':
            _permute(renamed, 'conv1.', perm)
        else:
            unit, branch = producer.rsplit('.', 1)
            last = '1' if branch == 'branch1' else '2'
            _permute(renamed, f'layers.{unit}.{branch}.{last}.', perm)
    for consumer, perm in cols.items():
        if consumer == 'conv5':
            _permute(renamed, 'layers.3.conv.weight', perm, dim=1)
            continue
        unit, branch = consumer.rsplit('.', 1)
        if branch == 'branch2':
            _permute(renamed, f'layers.{unit}.branch2.0.conv.weight', perm, dim=1)
        else:  # depthwise conv + BN, then the 1x1 conv that reads them
            _permute(renamed, f'layers.{unit}.branch1.0.', perm)
            _permute(renamed, f'layers.{unit}.branch1.1.conv.weight', perm, dim=1)
    return renamed


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
