"""NanoDet-Plus's GhostPAN: a path aggregation neck of ghost bottlenecks, with an extra level."""
from typing import List, Sequence, Tuple

import torch
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig

from ..layers import GhostBottleneck


@MODELS.register_module()
class GhostPAN(BaseModule):
    """Path aggregation with ghost bottlenecks, as NanoDet-Plus builds it.

    Every input first goes through a 1x1 conv to ``out_channels``. Top-down, each coarser map
    is upsampled (bilinear, x2), concatenated with the finer one and merged by ghost
    bottlenecks; bottom-up, each finer map is downsampled by a ``kernel_size`` stride-2
    depthwise-separable conv, concatenated with the coarser one and merged the same way. Each
    extra level (stride 64 for inputs at 8/16/32) adds a stride-2 depthwise-separable conv of the
    coarsest reduced input to one of the coarsest output.

    Args:
        in_channels (Sequence[int]): Channels of each input, finest first.
        out_channels (int): Channels of every output.
        kernel_size (int): Kernel of the depthwise convs. Default: 5.
        expand (int): Ghost bottleneck expansion (middle channels / out_channels). Default: 1.
        num_blocks (int): Ghost bottlenecks per merge. Default: 1.
        num_extra_levels (int): Extra coarser outputs. Default: 1.
        norm_cfg (dict): Norm config. Default: dict(type='BN').
        act_cfg (dict): Activation config. Default: dict(type='LeakyReLU', negative_slope=0.1).
        init_cfg (dict or list[dict], optional): Initialization config. Default: None.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int,
                 kernel_size: int = 5,
                 expand: int = 1,
                 num_blocks: int = 1,
                 num_extra_levels: int = 1,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='LeakyReLU', negative_slope=0.1),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.num_outs = len(self.in_channels) + num_extra_levels
        conv = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)

        def merge() -> nn.Sequential:
            return nn.Sequential(*[
                GhostBottleneck(out_channels * 2 if i == 0 else out_channels,
                                out_channels * expand, out_channels, kernel_size, **conv)
                for i in range(num_blocks)])

        def downsample() -> DepthwiseSeparableConvModule:
            return DepthwiseSeparableConvModule(out_channels, out_channels, kernel_size,
                                                stride=2, padding=kernel_size // 2, **conv)

        levels = len(self.in_channels)
        self.reduce_layers = nn.ModuleList(
            [ConvModule(channels, out_channels, 1, **conv) for channels in self.in_channels])
        self.upsample = nn.Upsample(scale_factor=2, mode='bilinear')
        self.top_down_blocks = nn.ModuleList([merge() for _ in range(levels - 1)])
        self.downsamples = nn.ModuleList([downsample() for _ in range(levels - 1)])
        self.bottom_up_blocks = nn.ModuleList([merge() for _ in range(levels - 1)])
        self.extra_in_convs = nn.ModuleList([downsample() for _ in range(num_extra_levels)])
        self.extra_out_convs = nn.ModuleList([downsample() for _ in range(num_extra_levels)])

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Merge the feature maps, finest first; the extra levels follow."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'GhostPAN expects {len(self.in_channels)} feature maps '
                             f'(in_channels={self.in_channels}), got {len(inputs)}')
        reduced = [reduce(x) for reduce, x in zip(self.reduce_layers, inputs)]
        inner: List[Tensor] = [reduced[-1]]
        for block, finer in zip(self.top_down_blocks, reduced[-2::-1]):
            inner.insert(0, block(torch.cat([self.upsample(inner[0]), finer], 1)))
        outs = [inner[0]]
        for downsample, block, coarser in zip(self.downsamples, self.bottom_up_blocks,
                                              inner[1:]):
            outs.append(block(torch.cat([downsample(outs[-1]), coarser], 1)))
        for extra_in, extra_out in zip(self.extra_in_convs, self.extra_out_convs):
            outs.append(extra_in(reduced[-1]) + extra_out(outs[-1]))
        return tuple(outs)
