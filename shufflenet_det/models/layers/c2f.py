"""YOLOv8's C2f block: a CSP block whose every bottleneck output joins the final 1x1 conv."""
from typing import Optional

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmdet.utils import ConfigType

#: YOLOv8's convs: BatchNorm with eps 1e-3 and momentum 0.03, then SiLU.
YOLOV8_NORM = dict(type='BN', momentum=0.03, eps=0.001)
YOLOV8_ACT = dict(type='SiLU')


class C2f(BaseModule):
    """YOLOv8's ``C2f`` (as its ``head`` section uses it, without shortcuts by default).

    A 1x1 conv to ``2 * hidden`` channels is split in two halves; the second half runs through
    ``num_blocks`` bottlenecks of two 3x3 convs each, and both halves with every bottleneck's
    output are concatenated into a 1x1 conv to ``out_channels``. ``hidden`` is
    ``int(out_channels * expand_ratio)``. Every conv is conv (no bias) + BN + activation.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        num_blocks (int): Bottlenecks. Default: 1.
        shortcut (bool): Add each bottleneck's input to its output. Default: False.
        expand_ratio (float): ``hidden / out_channels``. Default: 0.5.
        norm_cfg (dict): Norm of every conv. Default: YOLOv8's BN (eps 1e-3, momentum 0.03).
        act_cfg (dict): Activation of every conv. Default: SiLU.
        init_cfg (dict, optional): Initialization config. Default: None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 num_blocks: int = 1,
                 shortcut: bool = False,
                 expand_ratio: float = 0.5,
                 norm_cfg: ConfigType = YOLOV8_NORM,
                 act_cfg: ConfigType = YOLOV8_ACT,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        hidden = int(out_channels * expand_ratio)
        self.hidden = hidden
        self.shortcut = shortcut

        def conv(inputs: int, outputs: int, kernel: int) -> ConvModule:
            return ConvModule(inputs, outputs, kernel, padding=kernel // 2, norm_cfg=norm_cfg,
                              act_cfg=act_cfg)

        self.split_conv = conv(in_channels, 2 * hidden, 1)
        self.blocks = nn.ModuleList(
            nn.Sequential(conv(hidden, hidden, 3), conv(hidden, hidden, 3))
            for _ in range(num_blocks))
        self.final_conv = conv((2 + num_blocks) * hidden, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        parts = list(self.split_conv(x).split(self.hidden, 1))
        for block in self.blocks:
            out = block(parts[-1])
            parts.append(parts[-1] + out if self.shortcut else out)
        return self.final_conv(torch.cat(parts, 1))
