"""YOLOv8's neck: the ``head`` section of Ultralytics' ``yolov8.yaml`` before ``Detect``."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig

from ..layers.c2f import YOLOV8_ACT, YOLOV8_NORM, C2f


@MODELS.register_module()
class YOLOv8PAFPN(BaseModule):
    """YOLOv8's path aggregation neck on any backbone's (P3, P4, P5).

    Top-down, from the coarsest input: nearest x2 upsample, concatenate with the next finer
    input, a C2f (no shortcut). Bottom-up, from the finest top-down output: a 3x3 stride-2
    conv, concatenate with the next coarser top-down output (the coarsest input itself at
    the top), a C2f. Output ``i`` has ``make_divisible(widths[i] * widen_factor)`` channels
    and each C2f ``max(round(num_blocks * deepen_factor), 1)`` bottlenecks: Ultralytics'
    scaling, so the defaults are YOLOv8n's neck (64, 128, 256 channels, one bottleneck).

    Args:
        in_channels (Sequence[int]): Channels of the inputs, finest first.
        widths (Sequence[int]): Unscaled output channels, finest first.
            Default: YOLOv8's (256, 512, 1024).
        widen_factor (float): Width multiplier (YOLOv8n: 0.25). Default: 0.25.
        deepen_factor (float): Depth multiplier (YOLOv8n: 0.33). Default: 0.33.
        num_blocks (int): Unscaled bottlenecks per C2f. Default: 3.
        max_width (int): Widths are capped here before scaling (YOLOv8n: 1024). Default: 1024.
        norm_cfg (dict): Norm of every conv. Default: YOLOv8's BN (eps 1e-3, momentum 0.03).
        act_cfg (dict): Activation of every conv. Default: SiLU.
        init_cfg (dict or list[dict], optional): Initialization config. Default: None
            (PyTorch's default initialisation, as Ultralytics trains).
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 widths: Sequence[int] = (256, 512, 1024),
                 widen_factor: float = 0.25,
                 deepen_factor: float = 0.33,
                 num_blocks: int = 3,
                 max_width: int = 1024,
                 norm_cfg: ConfigType = YOLOV8_NORM,
                 act_cfg: ConfigType = YOLOV8_ACT,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg)
        if len(in_channels) != len(widths):
            raise ValueError(f'YOLOv8PAFPN: {len(in_channels)} in_channels '
                             f'{list(in_channels)} for {len(widths)} widths {list(widths)}')
        self.in_channels = list(in_channels)
        self.out_channels = [make_divisible(min(w, max_width) * widen_factor) for w in widths]
        blocks = max(round(num_blocks * deepen_factor), 1)
        out = self.out_channels
        levels = len(in_channels)
        # top_down_blocks[i] makes level i from level i + 1 (upsampled) and input i
        self.top_down_blocks = nn.ModuleList(
            C2f((out[i + 1] if i < levels - 2 else in_channels[-1]) + in_channels[i], out[i],
                blocks, norm_cfg=norm_cfg, act_cfg=act_cfg) for i in range(levels - 1))
        self.downsamples = nn.ModuleList(
            ConvModule(out[i], out[i], 3, stride=2, padding=1, norm_cfg=norm_cfg,
                       act_cfg=act_cfg) for i in range(levels - 1))
        # bottom_up_blocks[i] makes level i + 1 from level i (downsampled) and its top-down map
        self.bottom_up_blocks = nn.ModuleList(
            C2f(out[i] + (out[i + 1] if i < levels - 2 else in_channels[-1]), out[i + 1],
                blocks, norm_cfg=norm_cfg, act_cfg=act_cfg) for i in range(levels - 1))

    def init_weights(self) -> None:
        """PyTorch's default initialisation of every conv (Ultralytics keeps it)."""
        super().init_weights()
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                module.reset_parameters()

    def forward(self, inputs: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
        """The merged maps, finest first."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'YOLOv8PAFPN expects {len(self.in_channels)} feature maps '
                             f'(in_channels={self.in_channels}), got {len(inputs)}')
        top_down: List[Tensor] = [inputs[-1]]
        for i in range(len(inputs) - 2, -1, -1):
            upsampled = F.interpolate(top_down[0], scale_factor=2.0, mode='nearest')
            top_down.insert(0, self.top_down_blocks[i](torch.cat([upsampled, inputs[i]], 1)))
        outs = [top_down[0]]
        for i in range(len(inputs) - 1):
            outs.append(self.bottom_up_blocks[i](
                torch.cat([self.downsamples[i](outs[-1]), top_down[i + 1]], 1)))
        return tuple(outs)


def make_divisible(channels: float, divisor: int = 8) -> int:
    """The smallest multiple of ``divisor`` at or above ``channels`` (Ultralytics' rounding of
    scaled widths)."""
    return int(-(-channels // divisor) * divisor)
