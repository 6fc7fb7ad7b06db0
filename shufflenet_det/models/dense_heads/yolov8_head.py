"""YOLOv8's decoupled ``Detect`` head, its task-aligned training and its decoding."""
import math
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2distance
from mmdet.utils import ConfigType, InstanceList, OptInstanceList

from ..layers.c2f import YOLOV8_ACT, YOLOV8_NORM
from .nanodet_head import NanoDetHead


@MODELS.register_module()
class YOLOv8Head(NanoDetHead):
    """YOLOv8's ``Detect`` head.

    Each level has a box branch (two 3x3 conv-BN-SiLU of ``max(16, C3 / 4, 4 * reg_max)``
    channels, a 1x1 conv to ``4 * reg_max`` distribution logits) and a class branch (two 3x3
    conv-BN-SiLU of ``max(C3, min(num_classes, 100))`` channels, a 1x1 conv to the class
    logits), ``C3`` being the finest input's channels. Points sit at the cell centres.

    ``reg_max`` counts the bins of each side's distribution as YOLOv8 does (16); the box is
    the expectation of their softmax, times the stride, from the point: GFL's integral over
    ``reg_max - 1`` as GFL counts (``self.reg_max``), so decoding is :class:`NanoDetHead`'s,
    except that boxes are clipped to the image after NMS, as YOLOv8 does.

    Training is YOLOv8's: :class:`YOLOv8TaskAlignedAssigner` on the detached predictions,
    BCE on the class logits against the aligned target scores, YOLOv8's CIoU and the
    distribution focal loss on the positives weighted by their target score, each divided by
    the sum of the target scores (gains 0.5, 7.5 and 1.5 in the configs). Ultralytics then
    multiplies the total by the batch size; MMDetection's runner does not, which the
    configs' learning rate and weight decay account for.

    Args:
        num_classes (int): Number of classes.
        in_channels (Sequence[int]): Channels of each input level, finest first.
        reg_max (int): Bins per side. Default: 16.
        norm_cfg (dict): Norm of the branch convs. Default: YOLOv8's BN.
        act_cfg (dict): Activation of the branch convs. Default: SiLU.
        anchor_generator (dict): Points: one per cell, at its centre. Default: strides 8,
            16, 32.
        loss_cls (dict): Default: sigmoid BCE, weight 0.5.
        loss_bbox (dict): Default: ``YOLOv8CIoULoss``, weight 7.5.
        loss_dfl (dict): Default: ``DistributionFocalLoss``, weight 1.5.
        **kwargs: ``train_cfg``, ``test_cfg`` and the rest of :class:`NanoDetHead`'s.
    """

    clip_before_nms = False

    def __init__(self,
                 num_classes: int,
                 in_channels: Sequence[int],
                 reg_max: int = 16,
                 norm_cfg: ConfigType = YOLOV8_NORM,
                 act_cfg: ConfigType = YOLOV8_ACT,
                 anchor_generator: ConfigType = dict(
                     type='AnchorGenerator', ratios=[1.0], octave_base_scale=1,
                     scales_per_octave=1, center_offset=0.5, strides=[8, 16, 32]),
                 loss_cls: ConfigType = dict(
                     type='CrossEntropyLoss', use_sigmoid=True, loss_weight=0.5),
                 loss_bbox: ConfigType = dict(type='YOLOv8CIoULoss', loss_weight=7.5),
                 loss_dfl: ConfigType = dict(type='DistributionFocalLoss', loss_weight=1.5),
                 **kwargs) -> None:
        super().__init__(
            num_classes=num_classes,
            in_channels=list(in_channels),
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            reg_max=reg_max - 1,
            anchor_generator=anchor_generator,
            loss_cls=loss_cls,
            loss_bbox=loss_bbox,
            loss_dfl=loss_dfl,
            **kwargs)

    def _init_layers(self) -> None:
        """A box branch and a class branch per level."""
        bins = self.reg_max + 1
        if len(self.in_channels) != self.prior_generator.num_levels:
            raise ValueError(f'YOLOv8Head: {len(self.in_channels)} in_channels '
                             f'{self.in_channels} for strides {self.prior_generator.strides}')
        box_width = max(16, self.in_channels[0] // 4, 4 * bins)
        cls_width = max(self.in_channels[0], min(self.num_classes, 100))

        def branch(channels: int, width: int, outputs: int) -> nn.Sequential:
            return nn.Sequential(
                ConvModule(channels, width, 3, padding=1, norm_cfg=self.norm_cfg,
                           act_cfg=self.act_cfg),
                ConvModule(width, width, 3, padding=1, norm_cfg=self.norm_cfg,
                           act_cfg=self.act_cfg),
                nn.Conv2d(width, outputs, 1))

        self.box_branches = nn.ModuleList(
            branch(channels, box_width, 4 * bins) for channels in self.in_channels)
        self.cls_branches = nn.ModuleList(
            branch(channels, cls_width, self.cls_out_channels) for channels in self.in_channels)

    def init_weights(self) -> None:
        """PyTorch's default initialisation of the convs, then YOLOv8's output biases: 1.0
        for the box logits, and class logits at 5 objects per 640x640 image spread over the
        classes and the level's cells."""
        super(NanoDetHead, self).init_weights()  # NanoDetHead's initialises its own layers
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                module.reset_parameters()
        for box, cls, (stride, _) in zip(self.box_branches, self.cls_branches,
                                         self.prior_generator.strides):
            nn.init.constant_(box[-1].bias, 1.0)
            nn.init.constant_(cls[-1].bias,
                              math.log(5 / self.num_classes / (640 / stride)**2))

    def class_score_params(self) -> List[str]:
        """The class branches' output convs (every channel a class), for
        ``ClassTransferHook``."""
        return [f'cls_branches.{i}.2.{param}' for i in range(len(self.cls_branches))
                for param in ('weight', 'bias')]

    def forward(self, x: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        """Class logits and box distribution logits of every level."""
        if len(x) != len(self.cls_branches):
            raise ValueError(f'YOLOv8Head has {len(self.cls_branches)} levels (strides '
                             f'{self.prior_generator.strides}), got {len(x)} feature maps')
        return ([branch(feat) for feat, branch in zip(x, self.cls_branches)],
                [branch(feat).float() for feat, branch in zip(x, self.box_branches)])

    def loss_by_feat(self,
                     cls_scores: List[Tensor],
                     bbox_preds: List[Tensor],
                     batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore: OptInstanceList = None) -> Dict[str, Tensor]:
        """YOLOv8's losses of a batch (see the class docstring).

        Args:
            cls_scores (list[Tensor]): Class logits of each level, (N, C, H, W).
            bbox_preds (list[Tensor]): Distribution logits of each level,
                (N, 4 * reg_max, H, W).
            batch_gt_instances (list[InstanceData]): ``bboxes`` and ``labels`` of each image.
            batch_img_metas (list[dict]): Meta information of each image.
            batch_gt_instances_ignore (list[InstanceData], optional): Unused.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox`` and ``loss_dfl``.
        """
        bins = self.reg_max + 1
        centers, strides, _ = self._point_priors([s.shape[-2:] for s in cls_scores],
                                                 cls_scores[0].device)
        logits = torch.cat([self._flatten(s, self.cls_out_channels) for s in cls_scores], 1)
        distributions = torch.cat([self._flatten(b, 4 * bins) for b in bbox_preds], 1)
        cell_centers = centers / strides[:, None]  # in units of the level's stride
        sides = self.integral(distributions.reshape(-1, 4 * bins)).reshape(*logits.shape[:2], 4)
        boxes = torch.cat([cell_centers - sides[..., :2], cell_centers + sides[..., 2:]], -1)

        target_scores = torch.zeros_like(logits)
        target_boxes = boxes.new_zeros(boxes.shape)
        with torch.no_grad():
            scores, pixel_boxes = logits.sigmoid(), boxes * strides[:, None]
            for i, gt_instances in enumerate(batch_gt_instances):
                result = self.assigner.assign(
                    InstanceData(priors=centers, bboxes=pixel_boxes[i], scores=scores[i]),
                    gt_instances)
                positive = result.gt_inds > 0
                target_boxes[i, positive] = gt_instances.bboxes[result.gt_inds[positive] - 1]
                target_scores[i, positive, result.labels[positive]] = \
                    result.assign_metrics[positive]
        score_sum = target_scores.sum().clamp(min=1)
        loss_cls = self.loss_cls(logits, target_scores, avg_factor=score_sum)

        image, cell = (target_scores.sum(-1) > 0).nonzero(as_tuple=True)
        weight = target_scores[image, cell].sum(-1)
        cell_targets = target_boxes[image, cell] / strides[cell, None]
        loss_bbox = self.loss_bbox(boxes[image, cell], cell_targets, weight=weight,
                                   avg_factor=score_sum)
        target_sides = bbox2distance(cell_centers[cell], cell_targets, self.reg_max, eps=0.01)
        loss_dfl = self.loss_dfl(distributions[image, cell].reshape(-1, bins),
                                 target_sides.reshape(-1),
                                 weight=weight[:, None].expand(-1, 4).reshape(-1),
                                 avg_factor=4 * score_sum)
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox, loss_dfl=loss_dfl)
