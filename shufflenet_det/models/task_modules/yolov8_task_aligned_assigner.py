"""Task-aligned assignment as YOLOv8 does it."""
from typing import Optional

import torch
from mmengine.structures import InstanceData

from mmdet.models.task_modules.assigners import AssignResult, TaskAlignedAssigner
from mmdet.registry import TASK_UTILS

from ..losses.yolov8_ciou_loss import yolov8_ciou


@TASK_UTILS.register_module()
class YOLOv8TaskAlignedAssigner(TaskAlignedAssigner):
    """``TaskAlignedAssigner`` with YOLOv8's choices.

    Each ground truth box scores the points strictly inside it by
    ``score ** alpha * CIoU ** beta`` (its class's predicted score, the CIoU of the predicted
    box, clamped at 0) and takes its ``topk`` best; a point taken by several boxes goes to the
    one whose CIoU with its prediction is largest. A positive's target score is its alignment
    metric scaled so that each box's best positive scores that box's best CIoU.

    MMDetection's ``TaskAlignedAssigner`` (TOOD's) differs in three places: it measures the
    plain IoU, not the CIoU; it takes the top-k among all points and only then drops those
    outside the box (YOLOv8 ranks the points inside only, so a small box keeps up to
    ``topk`` positives); and it returns the raw metric, which TOOD's head normalises.
    ``tests/test_models/test_yolov8.py`` shows MMDetection's assigning other points on the
    same batch.

    Args:
        topk (int): Positives per ground truth box at most. Default: 10.
        alpha (float): Exponent of the class score. Default: 0.5.
        beta (float): Exponent of the CIoU. Default: 6.0.
        eps (float): Margin of "inside" and guard of the normalisation. Default: 1e-9.
    """

    def __init__(self, topk: int = 10, alpha: float = 0.5, beta: float = 6.0,
                 eps: float = 1e-9) -> None:
        super().__init__(topk=topk)
        self.alpha = alpha
        self.beta = beta
        self.eps = eps

    def assign(self,
               pred_instances: InstanceData,
               gt_instances: InstanceData,
               gt_instances_ignore: Optional[InstanceData] = None,
               **kwargs) -> AssignResult:
        """Assign the points of one image.

        Args:
            pred_instances (InstanceData): ``priors`` (N, 2) point coordinates, ``bboxes``
                (N, 4) predicted boxes and ``scores`` (N, C) predicted probabilities, all
                in input pixels and without gradient.
            gt_instances (InstanceData): ``bboxes`` (M, 4) and ``labels`` (M, ).
            gt_instances_ignore (InstanceData, optional): Unused.

        Returns:
            AssignResult: ``gt_inds`` (1-based, 0 for background), ``labels`` (-1 for
            background), ``max_overlaps`` (the positives' CIoU) and ``assign_metrics``, the
            target score of each point's assigned class.
        """
        points, scores = pred_instances.priors[:, :2], pred_instances.scores
        gt_boxes, gt_labels = gt_instances.bboxes, gt_instances.labels
        num_points, num_gts = len(points), len(gt_boxes)
        gt_inds = points.new_zeros(num_points, dtype=torch.long)
        labels = points.new_full((num_points, ), -1, dtype=torch.long)
        overlaps_of_points = points.new_zeros(num_points)
        metrics_of_points = points.new_zeros(num_points)
        if num_gts == 0 or num_points == 0:
            result = AssignResult(num_gts, gt_inds, overlaps_of_points, labels)
            result.assign_metrics = metrics_of_points
            return result

        sides = torch.cat([points[None] - gt_boxes[:, None, :2],
                           gt_boxes[:, None, 2:] - points[None]], -1)
        inside = sides.amin(-1) > self.eps  # (M, N)
        overlaps = torch.where(
            inside, yolov8_ciou(gt_boxes[:, None], pred_instances.bboxes[None]).clamp(min=0), 0)
        class_scores = torch.where(inside, scores[:, gt_labels].T, 0)
        metrics = class_scores.pow(self.alpha) * overlaps.pow(self.beta)

        best = metrics.topk(min(self.topk, num_points), dim=1).indices
        positive = torch.zeros_like(inside).scatter_(1, best, True) & inside
        taken_twice = positive.sum(0) > 1
        if taken_twice.any():
            best_overlap = torch.zeros_like(inside).scatter_(0, overlaps.argmax(0, True), True)
            positive = torch.where(taken_twice[None], best_overlap, positive)
        is_positive = positive.any(0)
        assigned = positive.float().argmax(0)  # (N, ): the box of each positive

        metrics = metrics * positive
        scale = (overlaps * positive).amax(1) / (metrics.amax(1) + self.eps)  # (M, )
        normalised = (metrics * scale[:, None]).amax(0)

        gt_inds[is_positive] = assigned[is_positive] + 1
        labels[is_positive] = gt_labels[assigned[is_positive]]
        overlaps_of_points[is_positive] = overlaps[assigned[is_positive], is_positive.nonzero(
            as_tuple=True)[0]]
        metrics_of_points[is_positive] = normalised[is_positive]
        result = AssignResult(num_gts, gt_inds, overlaps_of_points, labels)
        result.assign_metrics = metrics_of_points
        return result
