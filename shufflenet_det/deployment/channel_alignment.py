"""ShuffleNetV2 with its channel counts padded for ONNX Runtime's blocked layout, for export.

ONNX Runtime runs convolutions in its blocked NCHWc layout only when their channel count is a
multiple of 4, and pooling only for a multiple of the block size. ShuffleNetV2 1.0x's first
stage has 58-channel branches (2.0x: 122) and its stem 24 channels, so ONNX Runtime runs the
stem's pooling and that whole stage, where the feature maps are largest, in its slower plain
layout. :func:`align_branch_channels` rebuilds them with 60 (124) channel branches and a
32-channel stem that compute the same stage outputs.

Inside an aligned stage the feature map carries ``2 * padded`` channels: the ``2 * branch``
channels of the original come first, in the original order, and the rest are ignored by every
later convolution (zero weights) and dropped at the stage's end. The shuffle keeps that layout
because it interleaves the two padded halves: the first ``2 * branch`` interleaved channels are
those of the two real halves. A stride-1 unit passes ``x[:, :padded]`` through (its extra
channels fall into the ignored tail after the shuffle) and feeds its branch the narrowest slice
that ends at the last channel, holds the second half and is a multiple of 4 wide.
"""
import copy
from typing import Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, fuse_conv_bn
from torch.nn.modules.batchnorm import _BatchNorm

from shufflenet_det.models.backbones import ShuffleNetV2
from shufflenet_det.models.backbones.shufflenet_v2 import InvertedResidual, concat_shuffle

ALIGNMENT = 4  # NCHWc convolutions: a channel count that is a multiple of 4
STEM_ALIGNMENT = 16  # NCHWc pooling: a multiple of the block size (8 with AVX2, 16 AVX-512)


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
        else:
            branch_width = round_up(2 * self.padded - branch)
            self.branch_start = 2 * self.padded - branch_width
            in_positions = range(branch - self.branch_start, 2 * branch - self.branch_start)
            in_channels = branch_width
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
        return concat_shuffle(x[:, :self.padded], self.branch2(x[:, self.branch_start:]))


class AlignedStage(nn.Module):
    """A ShuffleNetV2 stage whose branch channels are padded to a multiple of 4; its output
    is the original stage's.

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.units(x)
        return x[:, :self.out_channels] if x.shape[1] > self.out_channels else x


def align_branch_channels(model: nn.Module) -> nn.Module:
    """Rebuild, in place, every ``ShuffleNetV2`` in ``model`` on channel counts that ONNX
    Runtime's NCHWc layout takes, computing the same outputs (up to float rounding).

    The stem gets ``STEM_ALIGNMENT`` channels (24 -> 32), so that the max pooling after it runs
    in NCHWc too; the first stage, which reads the stem, and every stage whose branch channels
    are not a multiple of 4 become :class:`AlignedStage` s. Only for inference and export:
    their BNs are folded into plain convs. A backbone with norms other than BN is left as it is.

    Args:
        model (nn.Module): A detector, a backbone, or any module holding one; in eval mode.

    Returns:
        nn.Module: ``model`` itself.
    """
    for backbone in [m for m in model.modules() if isinstance(m, ShuffleNetV2)]:
        if not all(isinstance(m.norm, _BatchNorm) for m in backbone.modules()
                   if isinstance(m, ConvModule) and m.with_norm):
            continue
        stem = fuse_conv_bn(copy.deepcopy(backbone.conv1).eval())
        channels = round_up(stem.conv.out_channels, STEM_ALIGNMENT)
        backbone.conv1 = placed_conv(stem, range(3), 3, channels)
        for index, stage in enumerate(backbone.layers[:3]):
            branch = stage[0].branch2[0].conv.out_channels
            if index == 0 or branch % ALIGNMENT:
                backbone.layers[index] = AlignedStage(
                    fuse_conv_bn(copy.deepcopy(stage).eval()), channels)
            channels = 2 * branch
    return model
