"""ShuffleNet V2 in plain PyTorch and torchvision's layout: the reference the benchmarks time
this project's backbone against, and the tests' oracle for torchvision's checkpoints."""
from typing import Callable, Optional

import torch
import torch.nn as nn

from shufflenet_det.models.backbones.shufflenet_v2_arch import (ARCH_SETTINGS, STAGE_BLOCKS,
                                                                STEM_CHANNELS)


def _conv(in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
          groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                     groups=groups, bias=False)


def _relu() -> nn.Module:
    return nn.ReLU(inplace=True)


class ReferenceUnit(nn.Module):
    """torchvision's unit: ``branch1`` (stride 2 only) and ``branch2``, concatenated, then
    the channels shuffled in two groups by view, transpose and reshape.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): 1 or 2.
        act (Callable): Makes an activation module. Default: ``nn.ReLU(inplace=True)``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 act: Callable[[], nn.Module] = _relu) -> None:
        super().__init__()
        half = out_channels // 2
        self.stride = stride
        if stride == 2:
            self.branch1 = nn.Sequential(
                _conv(in_channels, in_channels, 3, 2, in_channels), nn.BatchNorm2d(in_channels),
                _conv(in_channels, half), nn.BatchNorm2d(half), act())
        self.branch2 = nn.Sequential(
            _conv(in_channels if stride == 2 else half, half), nn.BatchNorm2d(half), act(),
            _conv(half, half, 3, stride, half), nn.BatchNorm2d(half),
            _conv(half, half), nn.BatchNorm2d(half), act())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 2:
            out = torch.cat((self.branch1(x), self.branch2(x)), 1)
        else:
            kept, passed = x.chunk(2, 1)
            out = torch.cat((kept, self.branch2(passed)), 1)
        n, c, h, w = out.shape
        return out.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)


class ReferenceShuffleNetV2(nn.Module):
    """ShuffleNet V2 with torchvision's module names (``conv1.0``, ``stage2.0.branch1.0``,
    ``conv5.0``, ``fc``), so that ``state_dict()`` has the keys of torchvision's files.

    Args:
        width (float): Widen factor: 0.5, 1.0, 1.5 or 2.0.
        num_classes (int, optional): Classifier outputs; None: no classifier, and ``forward``
            returns the conv5 feature map. Default: 1000.
        act (Callable): Makes an activation module. Default: ``nn.ReLU(inplace=True)``.
    """

    def __init__(self, width: float = 1.0, num_classes: Optional[int] = 1000,
                 act: Callable[[], nn.Module] = _relu) -> None:
        super().__init__()
        *stage_channels, last_channels = ARCH_SETTINGS[width]
        self.conv1 = nn.Sequential(_conv(3, STEM_CHANNELS, 3, 2), nn.BatchNorm2d(STEM_CHANNELS),
                                   act())
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_channels = STEM_CHANNELS
        for i, (channels, blocks) in enumerate(zip(stage_channels, STAGE_BLOCKS)):
            units = [ReferenceUnit(in_channels, channels, 2, act)]
            units += [ReferenceUnit(channels, channels, 1, act) for _ in range(blocks - 1)]
            setattr(self, f'stage{i + 2}', nn.Sequential(*units))
            in_channels = channels
        self.conv5 = nn.Sequential(_conv(in_channels, last_channels),
                                   nn.BatchNorm2d(last_channels), act())
        self.fc = None if num_classes is None else nn.Linear(last_channels, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The conv5 feature map."""
        x = self.maxpool(self.conv1(x))
        return self.conv5(self.stage4(self.stage3(self.stage2(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.features(x)
        return features if self.fc is None else self.fc(features.mean([2, 3]))
