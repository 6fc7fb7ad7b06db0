"""NanoDet-Plus's head: NanoDet-m's head shape, trained with dynamic soft-label assignment."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox2distance
from mmdet.utils import InstanceList, OptInstanceList, reduce_mean

from .nanodet_head import NanoDetHead

# Class scores, box distributions and decoded boxes of every prior of a batch:
# (N, P, num_classes), (N, P, 4 * (reg_max + 1)), (N, P, 4).
Predictions = Tuple[Tensor, Tensor, Tensor]


@MODELS.register_module()
class NanoDetPlusHead(NanoDetHead):
    """The head of NanoDet-Plus.

    The layers are :class:`NanoDetHead`'s (NanoDet-Plus uses 5x5 depthwise convs and strides
    8/16/32/64, and its priors sit at ``i * stride``: set ``center_offset=0`` in the anchor
    generator). Training follows NanoDet-Plus: the targets come from the train config's
    assigner (``DynamicSoftLabelAssigner``) applied to the predictions of a guide (the
    auxiliary head, see ``NanoDetPlus``) or, without one, to this head's own; QFL scores are
    the assigned IoUs, GIoU and DFL losses are weighted by the best class score, as in
    NanoDet's ``NanoDetPlusHead.loss``. The guide is trained on the same targets.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels of every input level.
        kernel_size (int): Kernel of the depthwise convs. Default: 5.
        **kwargs: Passed to :class:`NanoDetHead`.
    """

    def __init__(self, num_classes: int, in_channels: int, kernel_size: int = 5,
                 **kwargs) -> None:
        super().__init__(num_classes=num_classes, in_channels=in_channels,
                         kernel_size=kernel_size, **kwargs)

    def loss_by_feat(self,
                     cls_scores: List[Tensor],
                     bbox_preds: List[Tensor],
                     batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore: OptInstanceList = None,
                     guide: Optional[Tuple[List[Tensor], List[Tensor]]] = None
                     ) -> Dict[str, Tensor]:
        """Losses of this head and, with a guide, of the guide (keys prefixed ``aux_``).

        Args:
            cls_scores (list[Tensor]): Class scores of each level, (N, C, H, W).
            bbox_preds (list[Tensor]): Box distributions of each level,
                (N, 4 * (reg_max + 1), H, W).
            batch_gt_instances (list[InstanceData]): ``bboxes`` and ``labels`` per image.
            batch_img_metas (list[dict]): Meta information of each image.
            batch_gt_instances_ignore (list[InstanceData], optional): Not used: the
                assigner has no ignore regions.
            guide (tuple, optional): Class scores and box distributions of the guiding head,
                in the same layout, whose predictions assign the targets.

        Returns:
            dict[str, Tensor]: ``loss_cls`` (QFL), ``loss_bbox`` (GIoU), ``loss_dfl`` and,
            with a guide, ``aux_loss_cls``, ``aux_loss_bbox``, ``aux_loss_dfl``.
        """
        centers, strides, _ = self._point_priors([s.shape[-2:] for s in cls_scores],
                                                 cls_scores[0].device)
        predictions = self._decode(cls_scores, bbox_preds, centers, strides)
        guide_predictions = predictions if guide is None else self._decode(
            *guide, centers, strides)
        targets = self._targets(guide_predictions, centers, strides, batch_gt_instances)
        losses = self._losses(predictions, targets)
        if guide is not None:
            losses.update({f'aux_{name}': value
                           for name, value in self._losses(guide_predictions, targets).items()})
        return losses

    def _decode(self, cls_scores: Sequence[Tensor], bbox_preds: Sequence[Tensor],
                centers: Tensor, strides: Tensor) -> Predictions:
        """Flatten the levels and decode every prior's box."""
        scores = torch.cat([self._flatten(s, self.cls_out_channels) for s in cls_scores], 1)
        distributions = torch.cat([self._flatten(b, 4 * (self.reg_max + 1)) for b in bbox_preds],
                                  1)
        num_images, num_priors = scores.shape[:2]
        distances = self.integral(distributions.reshape(-1, 4 * (self.reg_max + 1)))
        distances = distances.reshape(num_images, num_priors, 4) * strides[:, None]
        bboxes = self.bbox_coder.decode(centers.expand(num_images, -1, -1), distances)
        return scores, distributions, bboxes

    @torch.no_grad()
    def _targets(self, predictions: Predictions, centers: Tensor, strides: Tensor,
                 batch_gt_instances: InstanceList) -> Tuple[Tensor, ...]:
        """Assign every prior of every image from ``predictions``.

        Returns:
            tuple: Flat over the batch: labels (``num_classes`` for background), label
            scores (the assigned IoU), label weights, box targets, distance targets (in
            strides, clamped below ``reg_max``), and the number of positives.
        """
        scores, _, bboxes = predictions
        priors = torch.cat([centers, strides[:, None].expand(-1, 2)], 1)  # x, y, stride, stride
        targets: List[List[Tensor]] = [[] for _ in range(5)]
        num_positives = 0
        for image_scores, image_bboxes, gt in zip(scores, bboxes, batch_gt_instances):
            result = self.assigner.assign(
                InstanceData(priors=priors, bboxes=image_bboxes, scores=image_scores), gt)
            positive = (result.gt_inds > 0).nonzero().squeeze(1)
            assigned = gt.bboxes[result.gt_inds[positive] - 1]
            labels = centers.new_full((len(priors), ), self.num_classes, dtype=torch.long)
            labels[positive] = result.labels[positive]
            label_scores = centers.new_zeros(len(priors))
            label_scores[positive] = result.max_overlaps[positive]
            label_weights = (result.gt_inds >= 0).float()
            box_targets = centers.new_zeros(len(priors), 4)
            box_targets[positive] = assigned
            distance_targets = centers.new_zeros(len(priors), 4)
            distance_targets[positive] = (
                bbox2distance(centers[positive], assigned) / strides[positive, None]).clamp(
                    min=0, max=self.reg_max - 0.1)
            for target, value in zip(targets, (labels, label_scores, label_weights,
                                               box_targets, distance_targets)):
                target.append(value)
            num_positives += len(positive)
        return (*(torch.cat(target) for target in targets), num_positives)

    def _losses(self, predictions: Predictions, targets: Tuple[Tensor, ...]
                ) -> Dict[str, Tensor]:
        """QFL over all priors; GIoU and DFL over the positives, weighted by their best class
        score; each averaged over the whole batch (and all processes)."""
        labels, label_scores, label_weights, box_targets, distance_targets, num_positives = \
            targets
        scores, distributions, bboxes = (p.reshape(-1, p.shape[-1]) for p in predictions)
        device = scores.device
        num_total = max(reduce_mean(torch.tensor(float(num_positives), device=device)).item(),
                        1.0)
        loss_cls = self.loss_cls(scores, (labels, label_scores), weight=label_weights,
                                 avg_factor=num_total)
        positive = ((labels >= 0) & (labels < self.num_classes)).nonzero().squeeze(1)
        if len(positive) == 0:
            zero = distributions.sum() * 0
            return dict(loss_cls=loss_cls, loss_bbox=zero, loss_dfl=zero)
        weights = scores[positive].detach().sigmoid().max(dim=1)[0]
        box_average = max(reduce_mean(weights.sum()).item(), 1.0)
        loss_bbox = self.loss_bbox(bboxes[positive], box_targets[positive], weight=weights,
                                   avg_factor=box_average)
        loss_dfl = self.loss_dfl(
            distributions[positive].reshape(-1, self.reg_max + 1),
            distance_targets[positive].reshape(-1),
            weight=weights[:, None].expand(-1, 4).reshape(-1), avg_factor=4.0 * box_average)
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox, loss_dfl=loss_dfl)
