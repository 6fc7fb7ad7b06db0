"""The complete IoU as YOLOv8 computes it, and its box loss."""
import math
from typing import Optional

import torch
from torch import Tensor

from mmdet.models.losses import CIoULoss
from mmdet.models.losses.utils import weighted_loss
from mmdet.registry import MODELS


def yolov8_ciou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-7) -> Tensor:
    """The CIoU of boxes ``(x1, y1, x2, y2)`` that broadcast against each other, as
    Ultralytics' ``bbox_iou(..., CIoU=True)``: ``eps`` added to both heights and to the union,
    and the aspect term's weight ``v / (v - IoU + 1 + eps)`` taken without a gradient for
    every pair. Symmetric in its two arguments.

    Args:
        boxes1 (Tensor): Boxes (..., 4).
        boxes2 (Tensor): Boxes (..., 4).
        eps (float): Guards the divisions. Default: 1e-7.

    Returns:
        Tensor: CIoU (...), at most 1.
    """
    x1, y1, x2, y2 = boxes1.unbind(-1)
    u1, v1, u2, v2 = boxes2.unbind(-1)
    width1, height1 = x2 - x1, y2 - y1 + eps
    width2, height2 = u2 - u1, v2 - v1 + eps
    inter = ((torch.minimum(x2, u2) - torch.maximum(x1, u1)).clamp(min=0) *
             (torch.minimum(y2, v2) - torch.maximum(y1, v1)).clamp(min=0))
    iou = inter / (width1 * height1 + width2 * height2 - inter + eps)
    enclosing_diagonal = ((torch.maximum(x2, u2) - torch.minimum(x1, u1))**2 +
                          (torch.maximum(y2, v2) - torch.minimum(y1, v1))**2 + eps)
    centre_distance = ((u1 + u2 - x1 - x2)**2 + (v1 + v2 - y1 - y2)**2) / 4
    aspect = 4 / math.pi**2 * (torch.atan(width2 / height2) - torch.atan(width1 / height1))**2
    with torch.no_grad():
        aspect_weight = aspect / (aspect - iou + (1 + eps))
    return iou - (centre_distance / enclosing_diagonal + aspect * aspect_weight)


@weighted_loss
def yolov8_ciou_loss(pred: Tensor, target: Tensor, eps: float = 1e-7) -> Tensor:
    """``1 - yolov8_ciou(pred, target)`` for each pair, (n, 4) boxes each."""
    return 1 - yolov8_ciou(pred, target, eps)


@MODELS.register_module()
class YOLOv8CIoULoss(CIoULoss):
    """``CIoULoss`` computing YOLOv8's CIoU (:func:`yolov8_ciou`).

    MMDetection's ``ciou_loss`` differs in two places: it weighs the aspect term only where
    the IoU is above 0.5 (``alpha = (IoU > 0.5) * v / (1 - IoU + v)``) and clamps the CIoU to
    [-1, 1]; YOLOv8 weighs it everywhere and clamps nothing. For pairs of low IoU the two
    losses differ (``tests/test_models/test_yolov8.py`` measures it).

    Args:
        eps (float): Guards the divisions. Default: 1e-7.
        reduction (str): 'none', 'mean' or 'sum'. Default: 'mean'.
        loss_weight (float): The loss's weight. Default: 1.0.
    """

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> Tensor:
        """The weighted loss of boxes ``pred`` against ``target``, (n, 4) each.

        Args:
            pred (Tensor): Predicted boxes (x1, y1, x2, y2).
            target (Tensor): Target boxes.
            weight (Tensor, optional): Weight of each pair (n, ). Default: None.
            avg_factor (float, optional): Divides the sum for 'mean'. Default: None.
            reduction_override (str, optional): Replaces ``reduction``. Default: None.

        Returns:
            Tensor: The loss.
        """
        reduction = reduction_override if reduction_override else self.reduction
        if weight is not None and not torch.any(weight > 0):
            return (pred * weight[:, None]).sum()  # zero, connected to the graph
        return self.loss_weight * yolov8_ciou_loss(
            pred, target, weight, eps=self.eps, reduction=reduction, avg_factor=avg_factor)
