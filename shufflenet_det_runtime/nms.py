"""Class-wise non-maximum suppression, as MMCV's ``batched_nms`` computes it."""
from typing import Callable, Tuple

import numpy as np

#: Boxes decided together, in score order (NanoDet-m on coco_tiny val: ~1,350 candidates an
#: image, 100 kept; of blocks of 192-1,024 boxes, 384 spent the least time, docs/runtime.md).
BLOCK = 384

#: The boxes of the candidates ``index`` (in score order): (index, boxes) of those that take
#: part, any the model drops (too small) left out.
BoxSource = Callable[[np.ndarray], Tuple[np.ndarray, np.ndarray]]


def overlapping_pairs(boxes: np.ndarray, labels: np.ndarray,
                      iou_threshold: float) -> Tuple[np.ndarray, np.ndarray]:
    """The pairs (i, j), i < j, of boxes of the same class that overlap enough in x to have
    an IoU above ``iou_threshold``: since the intersection is at most its width times either
    box's height, an IoU above t needs the boxes' x extents to overlap by more than t times
    either box's width (checked with a margin of 0.01, safe from rounding).

    Args:
        boxes (np.ndarray): (N, 4) x1, y1, x2, y2.
        labels (np.ndarray): (N, ) class indices.
        iou_threshold (float): The IoU above which a box is suppressed.

    Returns:
        tuple[np.ndarray, np.ndarray]: The indices i and j of each pair.
    """
    left_edge, right_edge = boxes[:, 0].astype(np.float64), boxes[:, 2].astype(np.float64)
    origin = left_edge.min(initial=0)
    # each class on a line of its own: boxes sorted by class, then by left edge
    line = labels * (right_edge.max(initial=0) - origin + 1) - origin
    left = line + left_edge
    by_left = left.argsort(kind='stable')
    # a box overlaps enough only with the boxes of its class that start before this
    reach = line + right_edge - max(iou_threshold - 0.01, 0) * (right_edge - left_edge)
    ends = left.take(by_left).searchsorted(reach.take(by_left))
    position = np.arange(len(labels))
    partners = np.maximum(ends - position - 1, 0)  # the boxes after it starting before that
    one = position.repeat(partners)
    # the k-th pair of a box pairs it with the box k + 1 places after it
    other = np.arange(len(one)) + (position + 1 - partners.cumsum() + partners).repeat(partners)
    one, other = by_left.take(one), by_left.take(other)
    return np.minimum(one, other), np.maximum(one, other)


def pair_iou(boxes: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """IoU of box ``first[k]`` with box ``second[k]`` for each k, corners x1, y1, x2, y2, as
    MMCV's ``nms`` computes it (``offset=0``: no +1 on widths); NaN where both are empty."""
    corners = np.ascontiguousarray(boxes.T)  # x1, y1, x2, y2 rows: contiguous gathers
    one, other = corners.take(first, 1), corners.take(second, 1)
    overlap = np.minimum(one[2:], other[2:]) - np.maximum(one[:2], other[:2])
    np.maximum(overlap, 0, out=overlap)
    inter = overlap[0] * overlap[1]
    areas = (corners[2] - corners[0]) * (corners[3] - corners[1])
    return inter / (areas.take(first) + areas.take(second) - inter)


def greedy_keep(count: int, suppressor: np.ndarray, suppressed: np.ndarray) -> np.ndarray:
    """Which of ``count`` score-ordered boxes greedy NMS keeps: a box is kept unless a kept
    box before it suppresses it (``suppressor[e]`` suppresses ``suppressed[e]``).

    The answer is the one fixed point of "kept = not suppressed by a kept box", reached by
    applying that rule to all boxes at once until nothing changes: as many steps as the
    longest chain of suppressions, not one per box.
    """
    keep = np.ones(count, bool)
    while True:
        updated = np.ones(count, bool)
        updated[suppressed[keep[suppressor]]] = False
        if (updated == keep).all():
            return keep
        keep = updated


def nms_in_score_order(order: np.ndarray, labels: np.ndarray, boxes_of: BoxSource,
                       iou_threshold: float,
                       max_keep: int = -1) -> Tuple[np.ndarray, np.ndarray]:
    """Greedy class-wise NMS over candidates taken in ``order``, a block at a time: each
    block's boxes (asked of ``boxes_of`` only then) against the boxes kept before it and
    among themselves, comparing only boxes of the same class whose x extents overlap enough
    (:func:`overlapping_pairs`). It stops once ``max_keep`` boxes are kept.

    Args:
        order (np.ndarray): Candidate indices, best score first.
        labels (np.ndarray): The class index of every candidate.
        boxes_of (BoxSource): Gives the boxes of candidates.
        iou_threshold (float): The IoU above which a box is suppressed.
        max_keep (int): Stop after this many boxes; -1 keeps all. Default: -1.

    Returns:
        tuple[np.ndarray, np.ndarray]: The kept candidates, best first, and their boxes.
    """
    kept, kept_boxes = np.zeros(0, np.int64), np.zeros((0, 4), np.float32)
    with np.errstate(invalid='ignore'):  # NaN IoU of two empty boxes: not suppressed
        for start in range(0, len(order), BLOCK):
            candidates, boxes = boxes_of(order[start:start + BLOCK])
            if len(kept):
                candidates = np.concatenate([kept, candidates])
                boxes = np.concatenate([kept_boxes, boxes])
            first, second = overlapping_pairs(boxes, labels[candidates], iou_threshold)
            overlapping = pair_iou(boxes, first, second) > iou_threshold
            keep = greedy_keep(len(candidates), first[overlapping], second[overlapping])
            kept, kept_boxes = candidates[keep], boxes[keep]  # the boxes kept before stay
            if 0 <= max_keep <= len(kept):
                return kept[:max_keep], kept_boxes[:max_keep]
    return kept, kept_boxes


def batched_nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                iou_threshold: float, max_keep: int = -1) -> np.ndarray:
    """Indices of the boxes that survive NMS within their class, best score first: a box
    is suppressed by a better-scored kept box of its class whose IoU with it is above
    ``iou_threshold``.

    Args:
        boxes (np.ndarray): (N, 4) x1, y1, x2, y2.
        scores (np.ndarray): (N, ) scores.
        labels (np.ndarray): (N, ) class indices.
        iou_threshold (float): The IoU above which a box is suppressed.
        max_keep (int): Stop after this many boxes; -1 keeps all. Default: -1.

    Returns:
        np.ndarray: Indices into ``boxes``, in descending score order.
    """
    order = np.argsort(-scores, kind='stable')
    kept, _ = nms_in_score_order(order, labels, lambda index: (index, boxes[index]),
                                 iou_threshold, max_keep)
    return kept
