"""Class-wise non-maximum suppression, as MMCV's ``batched_nms`` computes it."""
import numpy as np


def iou_with(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) box with each of (N, 4) boxes, corners x1, y1, x2, y2 (areas without
    MMCV's +1 offset, as ``nms`` with ``offset=0``); 0 where both are empty."""
    width = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    height = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = width * height
    union = ((box[2] - box[0]) * (box[3] - box[1])
             + (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) - inter)
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(union > 0, inter / union, 0.0)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                iou_threshold: float, max_keep: int = -1) -> np.ndarray:
    """Indices of the boxes that survive NMS within their class, best score first.

    A box is suppressed by a better-scored box of its class whose IoU with it is above
    ``iou_threshold``. Each round keeps the best remaining box and drops, in one vectorised
    step, the remaining boxes it suppresses; so there are as many rounds as boxes kept, at
    most ``max_keep``.

    Args:
        boxes (np.ndarray): (N, 4) x1, y1, x2, y2.
        scores (np.ndarray): (N, ) scores.
        labels (np.ndarray): (N, ) class indices.
        iou_threshold (float): The IoU above which a box is suppressed.
        max_keep (int): Stop after this many boxes; -1 keeps all. Default: -1.

    Returns:
        np.ndarray: Indices into ``boxes``, in descending score order.
    """
    remaining = np.argsort(-scores, kind='stable')
    keep = []
    while remaining.size and len(keep) != max_keep:
        best, rest = remaining[0], remaining[1:]
        keep.append(best)
        suppressed = (labels[rest] == labels[best]) & (iou_with(boxes[best], boxes[rest])
                                                       > iou_threshold)
        remaining = rest[~suppressed]
    return np.asarray(keep, np.int64)
