"""Independent ShuffleNet V2 implementations in the public checkpoint layouts, as test oracles.

Plain PyTorch, written from the paper and the published module layouts: mmpretrain's
(``conv1.conv``, ``layers.0.0.branch2.0.conv``, ``head.fc``) and Megvii's ShuffleNet-Series
(``first_conv``, ``features.N.branch_main`` / ``branch_proj``, ``conv_last``, ``classifier``).
torchvision's (``conv1.0``, ``stage2.0.branch1.0``, ``conv5.0``, ``fc``) is the package's
``ReferenceShuffleNetV2``, which the benchmarks time too.
"""
from collections import OrderedDict

import torch
import torch.nn as nn

from shufflenet_det.benchmarking.reference_shufflenet_v2 import ReferenceUnit

CHANNELS = {0.5: (48, 96, 192, 1024), 1.0: (116, 232, 464, 1024),
            1.5: (176, 352, 704, 1024), 2.0: (244, 488, 976, 2048)}
REPEATS = (4, 8, 4)


def conv(inp, oup, k=1, stride=1, groups=1):
    return nn.Conv2d(inp, oup, k, stride, k // 2, groups=groups, bias=False)


def randomize_bn(model, seed=0):
    """Give every BN non-trivial affine parameters and running statistics."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = torch.rand(c, generator=gen) + 0.5
            m.bias.data = torch.randn(c, generator=gen) * 0.1
            m.running_mean = torch.randn(c, generator=gen) * 0.1
            m.running_var = torch.rand(c, generator=gen) + 0.5
    return model


class ConvBN(nn.Module):
    """mmcv ConvModule's parameter names: ``conv`` and ``bn``."""

    def __init__(self, inp, oup, k=1, stride=1, groups=1, relu=True):
        super().__init__()
        self.conv = conv(inp, oup, k, stride, groups)
        self.bn = nn.BatchNorm2d(oup)
        self.relu = relu

    def forward(self, x):
        x = self.bn(self.conv(x))
        return x.relu() if self.relu else x


class MmpretrainUnit(nn.Module):

    def __init__(self, inp, oup, stride):
        super().__init__()
        half = oup // 2
        self.stride = stride
        if stride == 2:
            self.branch1 = nn.Sequential(ConvBN(inp, inp, 3, 2, inp, relu=False),
                                         ConvBN(inp, half))
        self.branch2 = nn.Sequential(
            ConvBN(inp if stride == 2 else half, half),
            ConvBN(half, half, 3, stride, half, relu=False), ConvBN(half, half))

    forward = ReferenceUnit.forward


class MmpretrainClassifier(nn.Module):
    """mmpretrain's ImageClassifier layout: ``backbone.*`` and ``head.fc``."""

    def __init__(self, width=1.0, num_classes=1000):
        super().__init__()
        c2, c3, c4, c5 = CHANNELS[width]
        self.backbone = nn.Module()
        self.backbone.conv1 = ConvBN(3, 24, 3, 2)
        layers, inp = [], 24
        for oup, n in zip((c2, c3, c4), REPEATS):
            layers.append(nn.Sequential(MmpretrainUnit(inp, oup, 2),
                                        *[MmpretrainUnit(oup, oup, 1) for _ in range(n - 1)]))
            inp = oup
        layers.append(ConvBN(inp, c5))
        self.backbone.layers = nn.ModuleList(layers)
        self.head = nn.Module()
        self.head.fc = nn.Linear(c5, num_classes)


class MegviiUnit(nn.Module):
    """Megvii's ShuffleV2Block: concatenates unshuffled, splits even/odd channels on entry."""

    def __init__(self, inp, oup, mid, stride):
        super().__init__()
        self.stride = stride
        outputs = oup - inp
        self.branch_main = nn.Sequential(
            conv(inp, mid), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
            conv(mid, mid, 3, stride, mid), nn.BatchNorm2d(mid),
            conv(mid, outputs), nn.BatchNorm2d(outputs), nn.ReLU(inplace=True))
        if stride == 2:
            self.branch_proj = nn.Sequential(
                conv(inp, inp, 3, stride, inp), nn.BatchNorm2d(inp),
                conv(inp, inp), nn.BatchNorm2d(inp), nn.ReLU(inplace=True))

    def forward(self, x):
        if self.stride == 2:
            return torch.cat([self.branch_proj(x), self.branch_main(x)], 1)
        return torch.cat([x[:, 0::2], self.branch_main(x[:, 1::2])], 1)


class MegviiShuffleNetV2(nn.Module):
    """Megvii ShuffleNet-Series layout (saved under ``module.`` as their files are)."""

    def __init__(self, width=1.0, num_classes=1000):
        super().__init__()
        c2, c3, c4, c5 = CHANNELS[width]
        self.first_conv = nn.Sequential(conv(3, 24, 3, 2), nn.BatchNorm2d(24),
                                        nn.ReLU(inplace=True))
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        features, inp = [], 24
        for oup, n in zip((c2, c3, c4), REPEATS):
            for i in range(n):
                features.append(MegviiUnit(inp if i == 0 else inp // 2, oup, oup // 2,
                                           2 if i == 0 else 1))
                inp = oup
        self.features = nn.Sequential(*features)
        self.conv_last = nn.Sequential(conv(inp, c5), nn.BatchNorm2d(c5), nn.ReLU(inplace=True))
        self.classifier = nn.Sequential(nn.Linear(c5, num_classes, bias=False))

    def forward_features(self, x):
        return self.conv_last(self.features(self.maxpool(self.first_conv(x))))

    def state_dict_as_published(self):
        return OrderedDict(('module.' + k, v) for k, v in self.state_dict().items())
