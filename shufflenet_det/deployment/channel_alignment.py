"""ShuffleNetV2 with its channel counts padded for ONNX Runtime's fast kernels, for export.

ONNX Runtime runs an FP32 convolution in its blocked NCHWc layout only when its channels are a
multiple of 4, and a pooling only for a multiple of the block size (16 with AVX-512, 8 with
AVX2); its INT8 depthwise convolution is several times faster for a multiple of 16 (at 40x40,
one thread: 199 us for 60 channels, 29 us for 64). ShuffleNetV2's
stem has 24 channels and its branches are 24, 48, 96 (0.5x), 58, 116, 232 (1.0x), 88, 176, 352
(1.5x) or 122, 244, 488 (2.0x) wide. :class:`AlignedShuffleNetV2` rebuilds the network with a
32-channel stem and every branch padded to the next multiple of 16, computing the same outputs.

A stage's feature map then carries ``2 * padded`` channels: the ``2 * branch`` channels of the
original come first, in the original order, and the rest are ignored by every later
convolution (zero weights). The shuffle keeps that layout because it interleaves the two padded
halves: the first ``2 * branch`` interleaved channels are those of the two real halves. A
stride-1 unit passes ``x[:, :padded]`` through (its extra channels fall into the ignored tail
after the shuffle) and feeds its branch the real second half, widened to the left to a
multiple of 4 channels (of 16 for ShuffleNetV2*'s extra depthwise conv). The padded layout runs
from stage to stage; only the outputs the backbone returns are cut to their real channels.
"""
import copy
from typing import Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, fuse_conv_bn
from torch.nn.modules.batchnorm import _BatchNorm

from shufflenet_det.models.backbones import ShuffleNetV2
from shufflenet_det.models.backbones.shufflenet_v2 import InvertedResidual, concat_shuffle

ALIGNMENT = 16  # INT8 depthwise convs, NCHWc pooling (AVX-512's block; AVX2's is 8)
CONV_INPUT_MULTIPLE = 4  # NCHWc convolutions take any multiple of 4 channels


def round_up(channels: int, multiple: int = ALIGNMENT) -> int:
    return -(-channels // multiple) * multiple


def placed_conv(module: ConvModule, in_positions: Sequence[int], in_channels: int,
                out_channels: int) -> nn.Sequential:
    """A BN-folded ``ConvModule`` reading its input channel ``i`` from ``in_positions[i]`` of
    an ``in_channels`` input and writing its outputs first among ``out_channels``; every other
    weight is zero. A depthwise conv keeps its channels where its input has them.

    Args:
        module (ConvModule): The conv module, its BN already folded into the conv.
        in_positions (Sequence[int]): Where each input channel of the conv is.
        in_channels (int): Channels of the padded input.
        out_channels (int): Channels of the padded output (ignored for a depthwise conv).

    Returns:
        nn.Sequential: The padded conv and the module's activation.
    """
    conv = module.conv
    if conv.groups not in (1, conv.in_channels):
        raise ValueError(f'only dense and depthwise convs can be placed, got groups={conv.groups}')
    depthwise = conv.groups > 1
    padded_conv = nn.Conv2d(in_channels, in_channels if depthwise else out_channels,
                            conv.kernel_size, conv.stride, conv.padding,
                            groups=in_channels if depthwise else 1)
    positions = torch.as_tensor(list(in_positions))
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels)
    with torch.no_grad():
        padded_conv.weight.zero_()
        padded_conv.bias.zero_()
        if depthwise:
            padded_conv.weight[positions] = conv.weight
            padded_conv.bias[positions] = bias
        else:
            padded_conv.weight[:conv.out_channels, positions] = conv.weight
            padded_conv.bias[:conv.out_channels] = bias
    return nn.Sequential(padded_conv, module.activate if module.with_activation else nn.Identity())


class AlignedUnit(nn.Module):
    """An ``InvertedResidual`` unit on the padded layout (see the module docstring).

    Args:
        unit (InvertedResidual): The unit, its BNs folded.
        in_channels (int): Channels of the unit's input: the original count for a stride-2
            unit, the padded layout's for a stride-1 unit.
    """

    def __init__(self, unit: InvertedResidual, in_channels: int) -> None:
        super().__init__()
        first, depthwise, last = unit.branch2
        branch = first.conv.out_channels
        self.padded = round_up(branch)
        self.stride = unit.stride
        if self.stride == 2:
            in_positions = range(first.conv.in_channels)
            self.branch1 = nn.Sequential(
                placed_conv(unit.branch1[0], in_positions, in_channels, in_channels),
                placed_conv(unit.branch1[1], in_positions, in_channels, self.padded))
        else:  # the branch reads the second half, widened to the left to a multiple of 4
            multiple = ALIGNMENT if unit.extra_dw is not None else CONV_INPUT_MULTIPLE
            self.branch_start = 2 * branch - round_up(branch, multiple)
            self.branch_end = 2 * branch
            in_positions = range(branch - self.branch_start, 2 * branch - self.branch_start)
            in_channels = self.branch_end - self.branch_start
        layers = []
        if unit.extra_dw is not None:
            layers.append(placed_conv(unit.extra_dw, in_positions, in_channels, in_channels))
        layers += [placed_conv(first, in_positions, in_channels, self.padded),
                   placed_conv(depthwise, range(branch), self.padded, self.padded),
                   placed_conv(last, range(branch), self.padded, self.padded)]
        self.branch2 = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:
            return concat_shuffle(self.branch1(x), self.branch2(x))
        return concat_shuffle(x[:, :self.padded],
                              self.branch2(x[:, self.branch_start:self.branch_end]))


class AlignedStage(nn.Module):
    """A ShuffleNetV2 stage on the padded layout: its output holds the original stage's
    ``out_channels`` first, then ``padded_channels - out_channels`` ignored ones.

    Args:
        stage (nn.Sequential): The stage's units, their BNs folded.
        in_channels (int): Channels of the stage's input; the original stage's come first.
    """

    def __init__(self, stage: nn.Sequential, in_channels: int) -> None:
        super().__init__()
        first = stage[0]
        units = [AlignedUnit(first, in_channels)]
        units += [AlignedUnit(unit, 2 * units[0].padded) for unit in stage[1:]]
        self.units = nn.Sequential(*units)
        self.out_channels = 2 * first.branch2[0].conv.out_channels
        self.padded_channels = 2 * units[0].padded

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.units(x)


class AlignedShuffleNetV2(nn.Module):
    """A ``ShuffleNetV2`` with BN, rebuilt on the padded layout (see the module docstring):
    the same outputs, channel counts that ONNX Runtime's fast kernels take. Only for inference
    and export: its BNs are folded into plain convs.

    Args:
        backbone (ShuffleNetV2): The backbone; it is copied, not changed.
    """

    def __init__(self, backbone: ShuffleNetV2) -> None:
        super().__init__()
        folded = fuse_conv_bn(copy.deepcopy(backbone).eval())
        channels = round_up(folded.conv1.conv.out_channels)
        self.conv1 = placed_conv(folded.conv1, range(3), 3, channels)
        self.maxpool = folded.maxpool
        self.stages = nn.ModuleList()
        for stage in folded.layers[:3]:
            self.stages.append(AlignedStage(stage, channels))
            channels = self.stages[-1].padded_channels
        self.conv5 = None
        if len(folded.layers) > 3:  # conv5, built only when the backbone returns it
            conv5 = folded.layers[3]
            self.conv5 = placed_conv(conv5, range(conv5.conv.in_channels), channels,
                                     conv5.conv.out_channels)
        self.out_indices = folded.out_indices
        self.train(backbone.training)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Return the feature maps selected by ``out_indices``, with their real channels."""
        x = self.maxpool(self.conv1(x))
        outs = []
        for index, stage in enumerate(self.stages):
            x = stage(x)
            if index in self.out_indices:
                outs.append(x[:, :stage.out_channels])
        if self.conv5 is not None:
            outs.append(self.conv5(x))
        return tuple(outs)


def align_branch_channels(model: nn.Module) -> nn.Module:
    """Replace every ``ShuffleNetV2`` with BN in ``model`` by an :class:`AlignedShuffleNetV2`,
    computing the same outputs (up to float rounding). A backbone with norms other than BN is
    left as it is. Only for inference and export.

    Args:
        model (nn.Module): A detector, a backbone, or any module holding one; in eval mode.

    Returns:
        nn.Module: ``model``, changed in place, or the aligned backbone if ``model`` is one.
    """
    if is_alignable(model):
        return AlignedShuffleNetV2(model)
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if is_alignable(child):
                setattr(parent, name, AlignedShuffleNetV2(child))
    return model


def is_alignable(module: nn.Module) -> bool:
    """Whether ``module`` is a ``ShuffleNetV2`` whose norms are all BN (they fold away)."""
    return isinstance(module, ShuffleNetV2) and all(
        isinstance(m.norm, _BatchNorm) for m in module.modules()
        if isinstance(m, ConvModule) and m.with_norm)
