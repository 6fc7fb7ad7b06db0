"""YOLOv8 as Ultralytics builds, decodes and trains it, as a test oracle.

Plain PyTorch written from Ultralytics' documented architecture (``yolov8.yaml``; the ``Conv``,
``Bottleneck``, ``C2f``, ``SPPF``, ``DFL`` and ``Detect`` modules; the ``make_anchors`` /
``dist2bbox`` decoding, the validator's NMS; ``TaskAlignedAssigner`` and ``v8DetectionLoss``).
Ultralytics itself cannot be installed here (it needs torchvision). The module tree is
Ultralytics' (``model.<layer>.cv1.conv.weight``, ``model.22.cv3.0.2.bias``), so ``state_dict()``
has the keys of a YOLOv8 checkpoint.
"""
import math
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.ops import nms

STRIDES = (8, 16, 32)


class Conv(nn.Sequential):
    """Conv2d (no bias, 'same' padding) + BN (eps 1e-3, momentum 0.03) + SiLU."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=0.001, momentum=0.03)
        self.act = nn.SiLU()


class Bottleneck(nn.Module):
    def __init__(self, c1: int, c2: int, shortcut: bool):
        super().__init__()
        self.cv1, self.cv2 = Conv(c1, c2, 3), Conv(c2, c2, 3)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = False):
        super().__init__()
        self.c = c2 // 2
        self.cv1 = Conv(c1, 2 * self.c)
        self.cv2 = Conv((2 + n) * self.c, c2)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c1: int, c2: int, k: int = 5):
        super().__init__()
        self.cv1, self.cv2 = Conv(c1, c1 // 2), Conv(c1 // 2 * 4, c2)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        y.extend(self.m(y[-1]) for _ in range(3))
        return self.cv2(torch.cat(y, 1))


class DFL(nn.Module):
    """The expectation of a softmax over ``reg_max`` bins, as a fixed 1x1 conv."""

    def __init__(self, reg_max: int = 16):
        super().__init__()
        self.conv = nn.Conv2d(reg_max, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(reg_max, dtype=torch.float).view(1, reg_max, 1, 1)
        self.reg_max = reg_max

    def forward(self, x):  # (b, 4 * reg_max, n) -> (b, 4, n)
        b, _, n = x.shape
        return self.conv(x.view(b, 4, self.reg_max, n).transpose(2, 1).softmax(1)).view(b, 4, n)


class Detect(nn.Module):
    def __init__(self, nc: int, ch: Sequence[int], reg_max: int = 16):
        super().__init__()
        self.nc, self.reg_max, self.stride = nc, reg_max, torch.tensor(STRIDES, dtype=torch.float)
        c2, c3 = max(16, ch[0] // 4, reg_max * 4), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * reg_max, 1))
            for x in ch)
        self.cv3 = nn.ModuleList(
            nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        self.dfl = DFL(reg_max)

    def forward(self, xs: List[torch.Tensor]) -> List[torch.Tensor]:
        """Raw maps per level, (b, 4 * reg_max + nc, h, w): the box logits, then the classes."""
        return [torch.cat((self.cv2[i](x), self.cv3[i](x)), 1) for i, x in enumerate(xs)]

    def decode(self, feats: List[torch.Tensor]) -> torch.Tensor:
        """Inference output (b, 4 + nc, n): xywh boxes in pixels, then sigmoid scores."""
        points, strides = make_anchors(feats, self.stride)
        x = torch.cat([f.flatten(2) for f in feats], 2)
        box, cls = x.split((4 * self.reg_max, self.nc), 1)
        boxes = dist2bbox(self.dfl(box), points.T[None], xywh=True) * strides.T
        return torch.cat((boxes, cls.sigmoid()), 1)


class Upsample(nn.Upsample):
    def __init__(self):
        super().__init__(scale_factor=2.0, mode='nearest')


def n_scale(c: int) -> int:
    """YOLOv8n's width: min(c, 1024) x 0.25, rounded up to a multiple of 8."""
    return int(math.ceil(min(c, 1024) * 0.25 / 8) * 8)


def n_depth(n: int) -> int:
    return max(round(n * 0.33), 1)


class YOLOv8(nn.Module):
    """YOLOv8n (``yolov8.yaml`` at depth 0.33, width 0.25). With ``backbone_channels`` (P3, P4,
    P5 of another backbone), the backbone layers are left out and ``forward`` takes the three
    maps; the layer indices of the head section stay Ultralytics' (10-22)."""

    def __init__(self, nc: int = 80, backbone_channels: Sequence[int] = None):
        super().__init__()
        layers = []
        if backbone_channels is None:
            layers = [Conv(3, n_scale(64), 3, 2), Conv(n_scale(64), n_scale(128), 3, 2),
                      C2f(n_scale(128), n_scale(128), n_depth(3), True),
                      Conv(n_scale(128), n_scale(256), 3, 2),
                      C2f(n_scale(256), n_scale(256), n_depth(6), True),
                      Conv(n_scale(256), n_scale(512), 3, 2),
                      C2f(n_scale(512), n_scale(512), n_depth(6), True),
                      Conv(n_scale(512), n_scale(1024), 3, 2),
                      C2f(n_scale(1024), n_scale(1024), n_depth(3), True),
                      SPPF(n_scale(1024), n_scale(1024))]
            p3, p4, p5 = n_scale(256), n_scale(512), n_scale(1024)
        else:
            layers = [nn.Identity() for _ in range(10)]  # keeps the head's indices
            p3, p4, p5 = backbone_channels
        w512, w256, w1024 = n_scale(512), n_scale(256), n_scale(1024)
        # nn.Identity in place of the parameter-free Concat layers (11, 14, 17, 20)
        layers += [Upsample(), nn.Identity(), C2f(p5 + p4, w512, n_depth(3)),  # 10-12
                   Upsample(), nn.Identity(), C2f(w512 + p3, w256, n_depth(3)),  # 13-15 (P3)
                   Conv(w256, w256, 3, 2), nn.Identity(), C2f(w256 + w512, w512, n_depth(3)),
                   Conv(w512, w512, 3, 2), nn.Identity(), C2f(w512 + p5, w1024, n_depth(3)),
                   Detect(nc, (w256, w512, w1024))]  # 16-18 (P4), 19-21 (P5), 22
        self.model = nn.Sequential(*layers)
        self.standalone = backbone_channels is None

    def backbone(self, x):
        m = self.model
        x = m[1](m[0](x))
        p3 = m[4](m[3](m[2](x)))
        p4 = m[6](m[5](p3))
        p5 = m[9](m[8](m[7](p4)))
        return p3, p4, p5

    def neck(self, p3, p4, p5) -> Tuple[torch.Tensor, ...]:
        m = self.model
        h12 = m[12](torch.cat([m[10](p5), p4], 1))
        h15 = m[15](torch.cat([m[13](h12), p3], 1))
        h18 = m[18](torch.cat([m[16](h15), h12], 1))
        h21 = m[21](torch.cat([m[19](h18), p5], 1))
        return h15, h18, h21

    def forward(self, *x):
        feats = self.backbone(x[0]) if self.standalone else x
        return self.model[22](list(self.neck(*feats)))


def make_anchors(feats: List[torch.Tensor], strides: torch.Tensor, offset: float = 0.5):
    """Cell centres in grid units (n, 2) and their strides (n, 1), level after level."""
    points, stride_list = [], []
    for f, s in zip(feats, strides):
        h, w = f.shape[-2:]
        sy, sx = torch.meshgrid(torch.arange(h) + offset, torch.arange(w) + offset,
                                indexing='ij')
        points.append(torch.stack((sx, sy), -1).view(-1, 2).float())
        stride_list.append(torch.full((h * w, 1), float(s)))
    return torch.cat(points), torch.cat(stride_list)


def dist2bbox(distance, points, xywh: bool = True, dim: int = 1):
    lt, rb = distance.chunk(2, dim)
    x1y1, x2y2 = points - lt, points + rb
    if xywh:
        return torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), dim)
    return torch.cat((x1y1, x2y2), dim)


def xywh2xyxy(x):
    return torch.cat((x[..., :2] - x[..., 2:] / 2, x[..., :2] + x[..., 2:] / 2), -1)


def non_max_suppression(prediction, conf: float = 0.001, iou: float = 0.7,
                        max_det: int = 300, max_nms: int = 30000, max_wh: int = 7680):
    """The validator's NMS (multi-label, class-wise by offsets): (n, 6) x1 y1 x2 y2 score
    class per image, best first."""
    output = []
    for x in prediction.transpose(-1, -2):  # (n, 4 + nc)
        box, cls = xywh2xyxy(x[:, :4]), x[:, 4:]
        i, j = torch.where(cls > conf)
        x = torch.cat((box[i], cls[i, j, None], j[:, None].float()), 1)
        x = x[x[:, 4].argsort(descending=True)[:max_nms]]
        offsets = x[:, 5:6] * max_wh
        _, keep = nms(x[:, :4] + offsets, x[:, 4], iou)
        output.append(x[keep[:max_det]])
    return output


def scale_boxes_to(boxes, ratio: float, shape: Tuple[int, int]):
    """Boxes of the resized image back to an image of ``shape`` (h, w), clipped to it."""
    boxes = boxes / ratio
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, shape[1])
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, shape[0])
    return boxes


def bbox_ciou(box1, box2, eps: float = 1e-7):
    """CIoU of xyxy boxes (broadcasting), Ultralytics' ``bbox_iou(..., CIoU=True)``."""
    (b1_x1, b1_y1, b1_x2, b1_y2), (b2_x1, b2_y1, b2_x2, b2_y2) = box1.chunk(4, -1), \
        box2.chunk(4, -1)
    w1, h1 = b1_x2 - b1_x1, b1_y2 - b1_y1 + eps
    w2, h2 = b2_x2 - b2_x1, b2_y2 - b2_y1 + eps
    inter = (b1_x2.minimum(b2_x2) - b1_x1.maximum(b2_x1)).clamp(0) * \
        (b1_y2.minimum(b2_y2) - b1_y1.maximum(b2_y1)).clamp(0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = b1_x2.maximum(b2_x2) - b1_x1.minimum(b2_x1)
    ch = b1_y2.maximum(b2_y2) - b1_y1.minimum(b2_y1)
    c2 = cw.pow(2) + ch.pow(2) + eps
    rho2 = ((b2_x1 + b2_x2 - b1_x1 - b1_x2).pow(2) + (b2_y1 + b2_y2 - b1_y1 - b1_y2).pow(2)) / 4
    v = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


class TaskAlignedAssigner:
    """Ultralytics' batched assigner: ground truths padded to the batch's maximum, with
    ``mask_gt`` marking the real ones."""

    def __init__(self, topk: int = 10, num_classes: int = 80, alpha: float = 0.5,
                 beta: float = 6.0, eps: float = 1e-9):
        self.topk, self.nc, self.alpha, self.beta, self.eps = topk, num_classes, alpha, beta, eps

    @torch.no_grad()
    def __call__(self, pd_scores, pd_bboxes, anc_points, gt_labels, gt_bboxes, mask_gt):
        bs, n_boxes = gt_bboxes.shape[:2]
        na = anc_points.shape[0]
        if n_boxes == 0:
            return (torch.zeros(bs, na, 4), torch.zeros_like(pd_scores),
                    torch.zeros(bs, na, dtype=torch.bool))
        lt, rb = gt_bboxes.view(-1, 1, 4).chunk(2, 2)
        deltas = torch.cat((anc_points[None] - lt, rb - anc_points[None]), 2)
        mask_in_gts = deltas.view(bs, n_boxes, na, 4).amin(3).gt_(self.eps)

        mask = (mask_in_gts * mask_gt).bool()
        overlaps = torch.zeros(bs, n_boxes, na)
        bbox_scores = torch.zeros(bs, n_boxes, na)
        batch_ind = torch.arange(bs).view(-1, 1).expand(-1, n_boxes)
        bbox_scores[mask] = pd_scores[batch_ind, :, gt_labels.squeeze(-1).long()][mask]
        pd_boxes = pd_bboxes.unsqueeze(1).expand(-1, n_boxes, -1, -1)[mask]
        gt_boxes = gt_bboxes.unsqueeze(2).expand(-1, -1, na, -1)[mask]
        overlaps[mask] = bbox_ciou(gt_boxes, pd_boxes).squeeze(-1).clamp_(0)
        align_metric = bbox_scores.pow(self.alpha) * overlaps.pow(self.beta)

        topk_idxs = torch.topk(align_metric, self.topk, dim=-1, largest=True).indices
        topk_idxs.masked_fill_(~mask_gt.expand(-1, -1, self.topk).bool(), 0)
        count = torch.zeros(align_metric.shape, dtype=torch.int8)
        for k in range(self.topk):
            count.scatter_add_(-1, topk_idxs[:, :, k:k + 1],
                               torch.ones_like(topk_idxs[:, :, :1], dtype=torch.int8))
        count.masked_fill_(count > 1, 0)
        mask_pos = count.float() * mask_in_gts * mask_gt

        fg_mask = mask_pos.sum(-2)
        if fg_mask.max() > 1:
            multi = (fg_mask.unsqueeze(1) > 1).expand(-1, n_boxes, -1)
            is_max = torch.zeros_like(mask_pos).scatter_(1, overlaps.argmax(1).unsqueeze(1), 1)
            mask_pos = torch.where(multi, is_max, mask_pos).float()
            fg_mask = mask_pos.sum(-2)
        target_gt_idx = mask_pos.argmax(-2)

        flat_idx = target_gt_idx + torch.arange(bs)[:, None] * n_boxes
        target_labels = gt_labels.long().flatten()[flat_idx].clamp_(0)
        target_bboxes = gt_bboxes.view(-1, 4)[flat_idx]
        target_scores = F.one_hot(target_labels, self.nc).float() * (fg_mask[..., None] > 0)

        align_metric *= mask_pos
        pos_align = align_metric.amax(-1, keepdim=True)
        pos_overlaps = (overlaps * mask_pos).amax(-1, keepdim=True)
        norm = (align_metric * pos_overlaps / (pos_align + self.eps)).amax(-2).unsqueeze(-1)
        return target_bboxes, target_scores * norm, fg_mask.bool()


def df_loss(pred_dist, target):
    """Distribution focal loss per anchor (mean over the 4 sides)."""
    tl = target.long()
    tr = tl + 1
    wl, wr = tr - target, target - tl
    return (F.cross_entropy(pred_dist, tl.view(-1), reduction='none').view(tl.shape) * wl +
            F.cross_entropy(pred_dist, tr.view(-1), reduction='none').view(tl.shape) * wr
            ).mean(-1, keepdim=True)


def detection_loss(feats: List[torch.Tensor], gt_labels, gt_bboxes, mask_gt, nc: int,
                   reg_max: int = 16, gains=(7.5, 0.5, 1.5)):
    """``v8DetectionLoss``: (box, cls, dfl) with their gains, before the multiplication by the
    batch size, and the assigner's targets. ``gt_bboxes`` are xyxy pixels, padded (b, m, 4)."""
    bs = feats[0].shape[0]
    pred_distri, pred_scores = torch.cat([f.view(bs, 4 * reg_max + nc, -1) for f in feats],
                                         2).split((4 * reg_max, nc), 1)
    pred_scores, pred_distri = pred_scores.permute(0, 2, 1), pred_distri.permute(0, 2, 1)
    anchor_points, stride_tensor = make_anchors(feats, torch.tensor(STRIDES))
    proj = torch.arange(reg_max, dtype=torch.float)
    b, a, _ = pred_distri.shape
    pred_bboxes = dist2bbox(pred_distri.view(b, a, 4, reg_max).softmax(3).matmul(proj),
                            anchor_points, xywh=False, dim=-1)
    target_bboxes, target_scores, fg_mask = TaskAlignedAssigner(num_classes=nc)(
        pred_scores.detach().sigmoid(), pred_bboxes.detach() * stride_tensor,
        anchor_points * stride_tensor, gt_labels, gt_bboxes, mask_gt)
    target_scores_sum = max(target_scores.sum(), 1)
    loss_cls = F.binary_cross_entropy_with_logits(pred_scores, target_scores,
                                                  reduction='none').sum() / target_scores_sum
    loss_box = loss_dfl = torch.zeros(())
    if fg_mask.sum():
        grid_targets = target_bboxes / stride_tensor
        weight = target_scores.sum(-1)[fg_mask].unsqueeze(-1)
        iou = bbox_ciou(pred_bboxes[fg_mask], grid_targets[fg_mask])
        loss_box = ((1.0 - iou) * weight).sum() / target_scores_sum
        lt, rb = grid_targets.chunk(2, -1)
        target_ltrb = torch.cat((anchor_points - lt, rb - anchor_points), -1).clamp_(
            0, reg_max - 1 - 0.01)
        loss_dfl = (df_loss(pred_distri[fg_mask].view(-1, reg_max), target_ltrb[fg_mask]) *
                    weight).sum() / target_scores_sum
    losses = torch.stack([loss_box * gains[0], loss_cls * gains[1], loss_dfl * gains[2]])
    return losses, (target_bboxes, target_scores, fg_mask)


def sizes(image_size: int) -> dict:
    """Parameters and MMEngine's multiply-adds of YOLOv8n's backbone (layers 0-9), neck (10-21)
    and Detect (22) at ``image_size``, and Ultralytics' GFLOPs of the whole."""
    from mmengine.analysis import FlopAnalyzer

    model = YOLOv8(80).eval()
    analyzer = FlopAnalyzer(model, (torch.rand(1, 3, image_size, image_size), ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)  # the DFL: inference decoding, not traced
    analyzer.tracer_warnings('none')
    by_module = analyzer.by_module()
    parts = dict(backbone=range(10), neck=range(10, 22), detect=[22])
    table = {name: (sum(p.numel() for i in layers for p in model.model[i].parameters()),
                    sum(by_module[f'model.{i}'] for i in layers))
             for name, layers in parts.items()}
    return dict(table, whole=(sum(p.numel() for p in model.parameters()), analyzer.total()),
                ultralytics_gflops=2 * analyzer.by_operator()['conv'] / 1e9)


if __name__ == '__main__':  # python -m tests.reference_yolov8: YOLOv8n's size table
    for size in (320, 640):
        result = sizes(size)
        print(f'{size}x{size}: GFLOPs as Ultralytics counts {result.pop("ultralytics_gflops"):.2f}')
        for name, (params, flops) in result.items():
            print(f'  {name}: {params:,} params, {flops / 1e9:.3f} G multiply-adds')
