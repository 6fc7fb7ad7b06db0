"""NanoDet-Plus as NanoDet's own code builds and decodes it, as a test oracle.

Plain PyTorch, written from NanoDet's source (``nanodet/model/arch/nanodet_plus.py``,
``fpn/ghost_pan.py``, ``backbone/ghostnet.py``, ``module/conv.py``, ``module/norm.py``,
``head/nanodet_plus_head.py``, ``head/simple_conv_head.py``) and its configs
``nanodet-plus-m_320.yml`` / ``nanodet-plus-m-1.5x_320.yml``, with its module names, so that
``state_dict()`` has the keys of NanoDet-Plus checkpoints: ``fpn.reduce_layers.0.conv.weight``,
``fpn.reduce_layers.0.bn.weight``, ``fpn.top_down_blocks.0.blocks.0.ghost1.primary_conv.0.weight``,
``head.distribution_project.project``, ``head.cls_convs.0.0.depthwise.weight``,
``head.gfl_cls.0.bias``, ``aux_fpn.*`` and ``aux_head.cls_convs.0.gn.weight``.

The backbone, ``Integral``, ``multiclass_nms`` and the checkpoint writers come from the
NanoDet-m oracle, ``tests/reference_nanodet.py``.
"""
import copy
import math
from typing import List, Tuple

import torch
import torch.nn as nn

from tests.reference_nanodet import (REG_MAX, DepthwiseConvModule, Integral,
                                     NanoDetShuffleNetV2, leaky_relu, legacy_checkpoint,
                                     lightning_checkpoint, multiclass_nms)

__all__ = [
    'NANODET_PLUS_CHANNELS', 'STRIDES', 'ConvModule', 'DepthwiseConvModule', 'GhostModule',
    'GhostBottleneck', 'GhostBlocks', 'GhostPAN', 'NanoDetPlusHead', 'SimpleConvHead',
    'NanoDetPlus', 'nanodet_plus_m', 'legacy_checkpoint', 'lightning_checkpoint'
]

# NanoDet-Plus-m configs: widen factor -> (backbone stage channels, GhostPAN and head channels).
NANODET_PLUS_CHANNELS = {1.0: ((116, 232, 464), 96), 1.5: ((176, 352, 704), 128)}
STRIDES = (8, 16, 32, 64)
GN_GROUPS = 32  # SimpleConvHead's default norm_cfg: dict(type='GN', num_groups=32)


class ConvModule(nn.Module):
    """conv, norm, act. ``build_norm_layer`` names the norm 'bn' or 'gn'; ``bias='auto'``
    puts a conv bias only where there is no norm."""

    def __init__(self, inp, oup, kernel_size, stride=1, norm='bn'):
        super().__init__()
        self.conv = nn.Conv2d(inp, oup, kernel_size, stride, kernel_size // 2,
                              bias=norm is None)
        self.norm_name = norm
        if norm == 'bn':
            self.bn = nn.BatchNorm2d(oup)
        elif norm == 'gn':
            self.gn = nn.GroupNorm(GN_GROUPS, oup)
        self.act = leaky_relu()

    def forward(self, x):
        x = self.conv(x)
        if self.norm_name is not None:
            x = getattr(self, self.norm_name)(x)
        return self.act(x)


class GhostModule(nn.Module):
    """1x1 conv to ``ceil(oup / 2)`` channels, a depthwise 3x3 "cheap" conv of those, both
    conv-BN(-act), concatenated (NanoDet does not slice the result back to ``oup``)."""

    def __init__(self, inp, oup, act=True):
        super().__init__()
        init_channels = math.ceil(oup / 2)
        self.primary_conv = nn.Sequential(
            nn.Conv2d(inp, init_channels, 1, bias=False), nn.BatchNorm2d(init_channels),
            leaky_relu() if act else nn.Sequential())
        self.cheap_operation = nn.Sequential(
            nn.Conv2d(init_channels, init_channels, 3, 1, 1, groups=init_channels, bias=False),
            nn.BatchNorm2d(init_channels), leaky_relu() if act else nn.Sequential())

    def forward(self, x):
        x1 = self.primary_conv(x)
        return torch.cat([x1, self.cheap_operation(x1)], dim=1)


class GhostBottleneck(nn.Module):
    """Stride 1, no SE: ghost1 (with act), ghost2 (linear), plus a shortcut that is a
    depthwise kxk-BN-1x1-BN projection when the channels change."""

    def __init__(self, inp, mid, oup, dw_kernel_size):
        super().__init__()
        self.ghost1 = GhostModule(inp, mid, act=True)
        self.ghost2 = GhostModule(mid, oup, act=False)
        if inp == oup:
            self.shortcut = nn.Sequential()
        else:
            self.shortcut = nn.Sequential(
                nn.Conv2d(inp, inp, dw_kernel_size, 1, (dw_kernel_size - 1) // 2, groups=inp,
                          bias=False),
                nn.BatchNorm2d(inp), nn.Conv2d(inp, oup, 1, bias=False), nn.BatchNorm2d(oup))

    def forward(self, x):
        return self.ghost2(self.ghost1(x)) + self.shortcut(x)


class GhostBlocks(nn.Module):
    """One GhostBottleneck (expand 1, ``use_res=False``: no ``reduce_conv``)."""

    def __init__(self, inp, oup, kernel_size=5):
        super().__init__()
        self.blocks = nn.Sequential(GhostBottleneck(inp, oup, oup, kernel_size))

    def forward(self, x):
        return self.blocks(x)


class GhostPAN(nn.Module):
    """``use_depthwise=True``, ``num_extra_level=1``, bilinear x2 upsampling."""

    def __init__(self, in_channels, out_channels, kernel_size=5, num_extra_level=1):
        super().__init__()
        self.in_channels = in_channels
        self.upsample = nn.Upsample(scale_factor=2, mode='bilinear')
        self.reduce_layers = nn.ModuleList(ConvModule(c, out_channels, 1) for c in in_channels)
        levels = len(in_channels) - 1
        self.top_down_blocks = nn.ModuleList(
            GhostBlocks(out_channels * 2, out_channels, kernel_size) for _ in range(levels))
        self.downsamples = nn.ModuleList(
            DepthwiseConvModule(out_channels, out_channels, kernel_size, 2)
            for _ in range(levels))
        self.bottom_up_blocks = nn.ModuleList(
            GhostBlocks(out_channels * 2, out_channels, kernel_size) for _ in range(levels))
        self.extra_lvl_in_conv = nn.ModuleList(
            DepthwiseConvModule(out_channels, out_channels, kernel_size, 2)
            for _ in range(num_extra_level))
        self.extra_lvl_out_conv = nn.ModuleList(
            DepthwiseConvModule(out_channels, out_channels, kernel_size, 2)
            for _ in range(num_extra_level))

    def forward(self, inputs):
        inputs = [reduce(x) for reduce, x in zip(self.reduce_layers, inputs)]
        inner_outs = [inputs[-1]]
        for i, block in enumerate(self.top_down_blocks):
            low = inputs[len(inputs) - 2 - i]
            inner_outs.insert(0, block(torch.cat([self.upsample(inner_outs[0]), low], 1)))
        outs = [inner_outs[0]]
        for i, (down, block) in enumerate(zip(self.downsamples, self.bottom_up_blocks)):
            outs.append(block(torch.cat([down(outs[-1]), inner_outs[i + 1]], 1)))
        for extra_in, extra_out in zip(self.extra_lvl_in_conv, self.extra_lvl_out_conv):
            outs.append(extra_in(inputs[-1]) + extra_out(outs[-1]))
        return tuple(outs)


class NanoDetPlusHead(nn.Module):
    """Inference part: per-level ``cls_convs`` (depthwise kxk modules) and a 1x1 ``gfl_cls``
    that emits the class scores, then the 4 x 8 bins."""

    def __init__(self, num_classes, in_channels, feat_channels, stacked_convs=2, kernel_size=5,
                 strides=STRIDES):
        super().__init__()
        self.num_classes = num_classes
        self.strides = strides
        self.distribution_project = Integral()  # registered first, as in NanoDet
        self.cls_convs = nn.ModuleList(
            nn.ModuleList(
                DepthwiseConvModule(in_channels if i == 0 else feat_channels, feat_channels,
                                    kernel_size) for i in range(stacked_convs))
            for _ in strides)
        self.gfl_cls = nn.ModuleList(
            nn.Conv2d(feat_channels, num_classes + 4 * (REG_MAX + 1), 1) for _ in strides)

    def forward(self, feats):
        """(N, num_points, num_classes + 32), the levels' points concatenated row by row."""
        outputs = []
        for x, cls_convs, gfl_cls in zip(feats, self.cls_convs, self.gfl_cls):
            for conv in cls_convs:
                x = conv(x)
            outputs.append(gfl_cls(x).flatten(start_dim=2))
        return torch.cat(outputs, dim=2).permute(0, 2, 1)

    def center_priors(self, input_shape) -> torch.Tensor:
        """(num_points, 3): x, y, stride; centres ``i * stride`` (no +0.5) on
        ``ceil(input / stride)`` grids."""
        height, width = input_shape
        priors = []
        for stride in self.strides:
            h, w = math.ceil(height / stride), math.ceil(width / stride)
            ys = torch.arange(h, dtype=torch.float32) * stride
            xs = torch.arange(w, dtype=torch.float32) * stride
            y, x = torch.meshgrid(ys, xs, indexing='ij')
            priors.append(torch.stack([x.flatten(), y.flatten(),
                                       torch.full((h * w, ), float(stride))], -1))
        return torch.cat(priors)

    def get_bboxes(self, preds, input_shape) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """NanoDet-Plus's decoding: distances times stride from the priors, boxes clamped to
        the input, sigmoid scores, ``multiclass_nms`` (0.05, IoU 0.6, 100)."""
        cls_preds, reg_preds = preds.split([self.num_classes, 4 * (REG_MAX + 1)], dim=-1)
        height, width = input_shape
        priors = self.center_priors(input_shape).to(preds.device)
        distances = self.distribution_project(reg_preds) * priors[:, 2, None]
        bboxes = torch.stack([
            (priors[:, 0] - distances[..., 0]).clamp(min=0, max=width),
            (priors[:, 1] - distances[..., 1]).clamp(min=0, max=height),
            (priors[:, 0] + distances[..., 2]).clamp(min=0, max=width),
            (priors[:, 1] + distances[..., 3]).clamp(min=0, max=height)], -1)
        return [multiclass_nms(b, s) for b, s in zip(bboxes, cls_preds.sigmoid())]


class Scale(nn.Module):
    """A learnable scalar factor."""

    def __init__(self, scale=1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(scale, dtype=torch.float))

    def forward(self, x):
        return x * self.scale


class SimpleConvHead(nn.Module):
    """The auxiliary head: ``cls_convs`` and ``reg_convs`` (3x3 conv-GN(32)-act, shared by
    the levels), 3x3 ``gfl_cls`` and ``gfl_reg``, and a learnable ``Scale`` per level."""

    def __init__(self, num_classes, in_channels, feat_channels, stacked_convs=4,
                 strides=STRIDES):
        super().__init__()
        self.cls_convs = nn.ModuleList(
            ConvModule(in_channels if i == 0 else feat_channels, feat_channels, 3, norm='gn')
            for i in range(stacked_convs))
        self.reg_convs = nn.ModuleList(
            ConvModule(in_channels if i == 0 else feat_channels, feat_channels, 3, norm='gn')
            for i in range(stacked_convs))
        self.gfl_cls = nn.Conv2d(feat_channels, num_classes, 3, padding=1)
        self.gfl_reg = nn.Conv2d(feat_channels, 4 * (REG_MAX + 1), 3, padding=1)
        self.scales = nn.ModuleList(Scale() for _ in strides)

    def forward(self, feats):
        """(N, num_points, num_classes + 32)."""
        outputs = []
        for x, scale in zip(feats, self.scales):
            cls_feat = reg_feat = x
            for conv in self.cls_convs:
                cls_feat = conv(cls_feat)
            for conv in self.reg_convs:
                reg_feat = conv(reg_feat)
            out = torch.cat([self.gfl_cls(cls_feat), scale(self.gfl_reg(reg_feat)).float()], 1)
            outputs.append(out.flatten(start_dim=2))
        return torch.cat(outputs, dim=2).permute(0, 2, 1)


class NanoDetPlus(nn.Module):
    """NanoDet-Plus: ``backbone``, ``fpn`` (GhostPAN), ``head``, ``aux_fpn`` (a copy of the
    GhostPAN) and ``aux_head`` (SimpleConvHead on both PANs' features, training only)."""

    def __init__(self, width: float = 1.0, num_classes: int = 80):
        super().__init__()
        stage_channels, channels = NANODET_PLUS_CHANNELS[width]
        self.backbone = NanoDetShuffleNetV2(width)
        self.fpn = GhostPAN(list(stage_channels), channels)
        self.head = NanoDetPlusHead(num_classes, channels, channels)
        self.aux_fpn = copy.deepcopy(self.fpn)
        self.aux_head = SimpleConvHead(num_classes, channels * 2, channels * 2)

    def forward(self, x):
        return self.head(self.fpn(self.backbone(x)))

    def aux_forward(self, x):
        """The aux head's output on ``cat([fpn_feat, aux_fpn_feat], 1)`` per level."""
        feats = self.backbone(x)
        dual = [torch.cat([f, a], 1) for f, a in zip(self.fpn(feats), self.aux_fpn(feats))]
        return self.aux_head(dual)


def nanodet_plus_m(width: float = 1.0, num_classes: int = 80) -> NanoDetPlus:
    """NanoDet-Plus-m (``width=1.0``, 96 channels) or NanoDet-Plus-m-1.5x (128 channels)."""
    return NanoDetPlus(width, num_classes)
