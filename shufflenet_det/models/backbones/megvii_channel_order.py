"""Megvii's ShuffleNet-Series weights in this project's channel order.

Megvii's units concatenate their branches unshuffled and shuffle at the start of the next unit
(even channels pass through, odd ones enter the branch), where this project's units shuffle at
their end. So each channel of an intermediate feature map sits at another position. The
conversion traces every channel through both networks, matches the channels read by the same
consumers, and permutes the weights accordingly: the converted network computes exactly the
same function.
"""
from collections import defaultdict
from typing import Dict, FrozenSet, List, Sequence, Tuple

import torch

from shufflenet_det.utils.key_renames import StateDict
from shufflenet_det.utils.safe_checkpoint import CheckpointError

from .shufflenet_v2_arch import STAGE_BLOCKS, STEM_CHANNELS

Label = Tuple[str, int]  # (producer, output channel)


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


def _permute(state_dict: StateDict, prefix: str, perm: List[int], dim: int = 0) -> None:
    """Reorder dimension ``dim`` of every non-scalar tensor under ``prefix``."""
    keys = [k for k in state_dict if k.startswith(prefix) and state_dict[k].dim() > dim]
    if not keys:
        raise CheckpointError(f'the Megvii checkpoint has no weights for {prefix}*')
    for key in keys:
        state_dict[key] = state_dict[key].index_select(dim, torch.tensor(perm))


def permute_megvii_channels(renamed: StateDict) -> StateDict:
    """Reorder the channels of Megvii weights, already renamed to this project's keys.

    Args:
        renamed (dict): Megvii's weights under this project's module names.

    Returns:
        dict: The weights in this project's channel order.

    Raises:
        CheckpointError: When the file's shapes cannot be loaded exactly (every Megvii width
            but 0.5x) or a layer is missing.
    """
    renamed = dict(renamed)
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


