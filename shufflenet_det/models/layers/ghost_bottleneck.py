"""GhostNet's building blocks as NanoDet-Plus's GhostPAN uses them (stride 1, no SE)."""
import math
from typing import Optional

import torch
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet.utils import ConfigType, OptConfigType


class GhostModule(BaseModule):
    """Half the output channels from a 1x1 conv, the other half from a cheap 3x3 depthwise
    conv on them ("GhostNet: More Features from Cheap Operations", Han et al., 2020).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels (the primary conv gives ``ceil(out / 2)``).
        norm_cfg (dict): Norm after each conv. Default: dict(type='BN').
        act_cfg (dict, optional): Activation after each conv; None for a linear module.
            Default: dict(type='LeakyReLU', negative_slope=0.1).
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: OptConfigType = dict(type='LeakyReLU', negative_slope=0.1)) -> None:
        super().__init__()
        primary = math.ceil(out_channels / 2)
        self.primary_conv = ConvModule(in_channels, primary, 1, norm_cfg=norm_cfg,
                                       act_cfg=act_cfg)
        self.cheap_operation = ConvModule(primary, primary, 3, padding=1, groups=primary,
                                          norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        primary = self.primary_conv(x)
        return torch.cat([primary, self.cheap_operation(primary)], 1)


class GhostBottleneck(BaseModule):
    """Ghost module, linear ghost module, plus a shortcut: the input itself, or a
    ``kernel_size`` depthwise + 1x1 conv (each with norm, no activation) where the channel
    count changes.

    Args:
        in_channels (int): Input channels.
        mid_channels (int): Channels between the two ghost modules.
        out_channels (int): Output channels.
        kernel_size (int): Kernel of the shortcut's depthwise conv. Default: 5.
        norm_cfg (dict): Norm config. Default: dict(type='BN').
        act_cfg (dict): Activation of the first ghost module.
            Default: dict(type='LeakyReLU', negative_slope=0.1).
        init_cfg (dict, optional): Initialization config. Default: None.
    """

    def __init__(self,
                 in_channels: int,
                 mid_channels: int,
                 out_channels: int,
                 kernel_size: int = 5,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='LeakyReLU', negative_slope=0.1),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.ghost1 = GhostModule(in_channels, mid_channels, norm_cfg, act_cfg)
        self.ghost2 = GhostModule(mid_channels, out_channels, norm_cfg, act_cfg=None)
        self.shortcut = nn.Identity() if in_channels == out_channels else \
            DepthwiseSeparableConvModule(in_channels, out_channels, kernel_size,
                                         padding=kernel_size // 2, norm_cfg=norm_cfg,
                                         act_cfg=None)

    def forward(self, x: Tensor) -> Tensor:
        return self.ghost2(self.ghost1(x)) + self.shortcut(x)
