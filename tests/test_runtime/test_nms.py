"""The runtime's class-wise NMS keeps what MMCV's ``batched_nms`` keeps."""
import numpy as np
import pytest
import torch
from mmcv.ops import batched_nms as mmcv_batched_nms

from shufflenet_det_runtime.nms import BLOCK, batched_nms, best_first, overlapping_pairs


@pytest.mark.parametrize('seed, count, classes, threshold', [
    (0, 2 * BLOCK + 50, 4, 0.5), (1, 2 * BLOCK + 50, 4, 0.3), (2, 1500, 1, 0.6),
    (3, 3000, 80, 0.6), (4, BLOCK + 300, 2, 0.7), (5, 300, 3, 0.0)])
def test_the_same_boxes_in_the_same_order_as_mmcv(seed, count, classes, threshold):
    """Over one block and several (1500 boxes of one class; 3000 of 80, as NanoDet-m gives
    them), with empty and duplicate boxes among them (not tied scores: MMCV's sort leaves
    their order open)."""
    rng = np.random.default_rng(seed)
    corners = rng.uniform(0, 200, (count, 2)).astype(np.float32)
    boxes = np.concatenate([corners, corners + rng.uniform(5, 60, (count, 2))], 1)
    boxes[::50, 2:] = boxes[::50, :2]  # empty boxes
    boxes[1::50] = boxes[2::50][:len(boxes[1::50])]  # duplicates
    boxes = boxes.astype(np.float32)
    scores = rng.uniform(0, 1, count).astype(np.float32)
    labels = rng.integers(0, classes, count)
    _, expected = mmcv_batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores),
                                   torch.from_numpy(labels), dict(iou_threshold=threshold))
    kept = batched_nms(boxes, scores, labels, threshold)
    assert kept.tolist() == expected.tolist()
    for max_keep in (0, 7, 300):
        assert batched_nms(boxes, scores, labels, threshold, max_keep).tolist() == \
            kept[:max_keep].tolist()


@pytest.mark.parametrize('threshold', [0.0, 0.3, 0.6, 0.9])
def test_no_pair_that_overlaps_enough_is_left_out(threshold):
    """Boxes of equal height shifted sideways, so that IoUs fall on both sides of the
    threshold: every same-class pair above it is among the pairs compared."""
    rng = np.random.default_rng(0)
    widths = rng.uniform(1, 40, 300).astype(np.float32)
    x1 = rng.uniform(0, 100, 300).astype(np.float32)
    boxes = np.stack([x1, np.zeros(300, np.float32), x1 + widths,
                      np.full(300, 20, np.float32)], 1)
    labels = rng.integers(0, 2, 300)
    first, second = overlapping_pairs(boxes.T, labels, threshold)
    assert (first < second).all()
    compared = set(zip(first.tolist(), second.tolist()))
    assert len(compared) == len(first)  # no pair twice
    i, j = np.triu_indices(300, 1)
    iou = iou_by_definition(boxes[i], boxes[j])
    enough = (labels[i] == labels[j]) & (iou > threshold)
    assert enough.sum() > 50
    assert set(zip(i[enough].tolist(), j[enough].tolist())) <= compared


def iou_by_definition(one: np.ndarray, other: np.ndarray) -> np.ndarray:
    """IoU of the boxes of each row, straight from the definition."""
    width = np.clip(np.minimum(one[:, 2], other[:, 2]) - np.maximum(one[:, 0], other[:, 0]), 0,
                    None)
    height = np.clip(np.minimum(one[:, 3], other[:, 3]) - np.maximum(one[:, 1], other[:, 1]),
                     0, None)
    inter = width * height
    one_area = (one[:, 2] - one[:, 0]) * (one[:, 3] - one[:, 1])
    other_area = (other[:, 2] - other[:, 0]) * (other[:, 3] - other[:, 1])
    return inter / (one_area + other_area - inter)


def test_no_box_gives_no_index():
    assert batched_nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                       np.zeros(0, np.int64), 0.6).tolist() == []


def test_best_first_sorts_by_score_and_keeps_ties_in_their_order():
    rng = np.random.default_rng(0)
    scores = rng.choice(np.float32([0, 0.05, 0.3, 0.5, 0.99, 1]), 5000)  # many ties
    scores[:100] = rng.uniform(0, 1, 100)
    expected = np.lexsort((np.arange(5000), -scores))
    assert best_first(scores).tolist() == expected.tolist()
    assert best_first(scores[:0]).tolist() == []
