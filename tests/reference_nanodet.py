"""NanoDet-m as NanoDet's own code builds and decodes it, as a test oracle.

Plain PyTorch, written from NanoDet's source (``nanodet/model/backbone/shufflenetv2.py``,
``fpn/pan.py``, ``module/conv.py``, ``head/nanodet_head.py``, ``head/gfl_head.py``,
``module/nms.py``) with its module names, so that ``state_dict()`` has the keys of NanoDet's
checkpoints: ``backbone.stage2.0.branch1.0.weight``, ``fpn.lateral_convs.0.conv.weight``,
``head.cls_convs.0.0.depthwise.weight``, ``head.gfl_cls.0.weight``, ``head.gfl_reg.0.weight``
(built, never used) and ``head.distribution_project.project``.
"""
from collections import OrderedDict
from typing import List, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.ops import nms

from shufflenet_det.benchmarking import ReferenceShuffleNetV2

# NanoDet-m configs (config/legacy_v0.x_configs): widen factor -> PAN and head channels.
NANODET_M_CHANNELS = {0.5: 96, 1.0: 96, 1.5: 128}
STRIDES = (8, 16, 32)
REG_MAX = 7


def leaky_relu():
    return nn.LeakyReLU(negative_slope=0.1, inplace=True)


class NanoDetShuffleNetV2(ReferenceShuffleNetV2):
    """NanoDet's ShuffleNetV2: torchvision's layout and LeakyReLU, no conv5 and no fc."""

    def __init__(self, width: float):
        super().__init__(width, act=leaky_relu)
        del self.conv5, self.fc

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        outs = []
        for stage in (self.stage2, self.stage3, self.stage4):
            x = stage(x)
            outs.append(x)
        return outs


class LateralConv(nn.Module):
    """NanoDet's ``ConvModule`` without norm and activation: a 1x1 conv with bias."""

    def __init__(self, inp, oup):
        super().__init__()
        self.conv = nn.Conv2d(inp, oup, 1)

    def forward(self, x):
        return self.conv(x)


class PAN(nn.Module):

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.lateral_convs = nn.ModuleList(LateralConv(c, out_channels) for c in in_channels)

    def forward(self, inputs):
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], scale_factor=2, mode='bilinear')
        for i in range(len(laterals) - 1):
            laterals[i + 1] = laterals[i + 1] + F.interpolate(
                laterals[i], scale_factor=0.5, mode='bilinear')
        return laterals


class DepthwiseConvModule(nn.Module):
    """depthwise kxk (3x3 in NanoDet-m), dwnorm, act, pointwise 1x1, pwnorm, act (no conv
    bias: BN follows)."""

    def __init__(self, inp, oup, kernel_size=3, stride=1):
        super().__init__()
        self.depthwise = nn.Conv2d(inp, inp, kernel_size, stride, kernel_size // 2,
                                   groups=inp, bias=False)
        self.pointwise = nn.Conv2d(inp, oup, 1, bias=False)
        self.dwnorm = nn.BatchNorm2d(inp)
        self.pwnorm = nn.BatchNorm2d(oup)
        self.act = leaky_relu()

    def forward(self, x):
        x = self.act(self.dwnorm(self.depthwise(x)))
        return self.act(self.pwnorm(self.pointwise(x)))


class Integral(nn.Module):

    def __init__(self):
        super().__init__()
        self.register_buffer('project', torch.linspace(0, REG_MAX, REG_MAX + 1))

    def forward(self, x):
        shape = x.size()
        x = F.softmax(x.reshape(*shape[:-1], 4, REG_MAX + 1), dim=-1)
        return F.linear(x, self.project.type_as(x)).reshape(*shape[:-1], 4)


class NanoDetHead(nn.Module):
    """``share_cls_reg=True``: ``gfl_cls`` emits the class scores, then the 4 x 8 bins."""

    def __init__(self, num_classes, channels, stacked_convs=2):
        super().__init__()
        self.num_classes = num_classes
        self.cls_convs = nn.ModuleList(
            nn.ModuleList(DepthwiseConvModule(channels, channels) for _ in range(stacked_convs))
            for _ in STRIDES)
        self.reg_convs = nn.ModuleList(nn.ModuleList() for _ in STRIDES)  # empty when shared
        self.gfl_cls = nn.ModuleList(
            nn.Conv2d(channels, num_classes + 4 * (REG_MAX + 1), 1) for _ in STRIDES)
        self.gfl_reg = nn.ModuleList(nn.Conv2d(channels, 4 * (REG_MAX + 1), 1) for _ in STRIDES)
        self.distribution_project = Integral()

    def forward(self, feats):
        """(N, num_points, num_classes + 32), the levels' points concatenated row by row."""
        outputs = []
        for x, cls_convs, gfl_cls in zip(feats, self.cls_convs, self.gfl_cls):
            for conv in cls_convs:
                x = conv(x)
            outputs.append(gfl_cls(x).flatten(start_dim=2))
        return torch.cat(outputs, dim=2).permute(0, 2, 1)

    def get_bboxes(self, preds, input_shape) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """NanoDet's decoding: ``(i + 0.5) * stride`` centres, distances times stride, boxes
        clamped to the input, sigmoid scores, ``multiclass_nms`` (0.05, IoU 0.6, 100)."""
        cls_preds, reg_preds = preds.split([self.num_classes, 4 * (REG_MAX + 1)], dim=-1)
        height, width = input_shape
        priors = []
        for stride in STRIDES:
            h, w = -(-height // stride), -(-width // stride)
            ys = (torch.arange(h, dtype=torch.float32) + 0.5) * stride
            xs = (torch.arange(w, dtype=torch.float32) + 0.5) * stride
            y, x = torch.meshgrid(ys, xs, indexing='ij')
            priors.append(torch.stack([x.flatten(), y.flatten(),
                                       torch.full((h * w, ), float(stride))], -1))
        priors = torch.cat(priors)
        distances = self.distribution_project(reg_preds) * priors[:, 2, None]
        bboxes = torch.stack([
            (priors[:, 0] - distances[..., 0]).clamp(min=0, max=width),
            (priors[:, 1] - distances[..., 1]).clamp(min=0, max=height),
            (priors[:, 0] + distances[..., 2]).clamp(min=0, max=width),
            (priors[:, 1] + distances[..., 3]).clamp(min=0, max=height)], -1)
        return [multiclass_nms(b, s) for b, s in zip(bboxes, cls_preds.sigmoid())]


def multiclass_nms(bboxes, scores, score_thr=0.05, iou_threshold=0.6, max_num=100):
    """NanoDet's ``multiclass_nms`` and ``batched_nms``: candidates above ``score_thr``,
    classes kept apart by coordinate offsets (per-class NMS past 10000 candidates)."""
    valid = scores > score_thr
    boxes = bboxes[:, None].expand(-1, scores.shape[1], 4)[valid]
    labels = valid.nonzero()[:, 1]
    scores = scores[valid]
    if len(boxes) == 0:
        return bboxes.new_zeros((0, 5)), labels
    shifted = boxes + (labels.to(boxes) * (boxes.max() + 1))[:, None]
    if len(shifted) < 10000:
        keep = nms(shifted, scores, iou_threshold)[1]
    else:
        mask = torch.zeros_like(scores, dtype=torch.bool)
        for label in labels.unique():
            members = (labels == label).nonzero().view(-1)
            mask[members[nms(shifted[members], scores[members], iou_threshold)[1]]] = True
        keep = mask.nonzero().view(-1)
        keep = keep[scores[keep].argsort(descending=True)]
    keep = keep[:max_num]
    return torch.cat([boxes[keep], scores[keep, None]], -1), labels[keep]


class NanoDetM(nn.Module):
    """NanoDet-m (``OneStageDetector``): ``backbone``, ``fpn`` (PAN) and ``head``."""

    def __init__(self, width: float = 1.0, num_classes: int = 80):
        super().__init__()
        channels = NANODET_M_CHANNELS[width]
        self.backbone = NanoDetShuffleNetV2(width)
        stage_channels = [self.backbone.stage2[0].branch2[0].out_channels * 2,
                          self.backbone.stage3[0].branch2[0].out_channels * 2,
                          self.backbone.stage4[0].branch2[0].out_channels * 2]
        self.fpn = PAN(stage_channels, channels)
        self.head = NanoDetHead(num_classes, channels)

    def forward(self, x):
        return self.head(self.fpn(self.backbone(x)))


def lightning_checkpoint(model: nn.Module, ema: nn.Module = None) -> dict:
    """The ``.ckpt`` NanoDet >= 0.3 writes: ``model.``-prefixed weights, ``avg_model.`` EMA."""
    state_dict = OrderedDict(('model.' + k, v) for k, v in model.state_dict().items())
    if ema is not None:
        state_dict.update(('avg_model.' + k, v) for k, v in ema.state_dict().items())
    return {'epoch': 279, 'global_step': 172480, 'pytorch-lightning_version': '1.9.5',
            'state_dict': state_dict}


def legacy_checkpoint(model: nn.Module) -> dict:
    """The ``.pth`` NanoDet 0.x writes: ``{'state_dict': weights without prefix}``."""
    return {'state_dict': model.state_dict()}
