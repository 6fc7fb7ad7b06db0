"""The runtime's class-wise NMS keeps what MMCV's ``batched_nms`` keeps."""
import numpy as np
import pytest
import torch
from mmcv.ops import batched_nms as mmcv_batched_nms

from shufflenet_det_runtime.nms import batched_nms


@pytest.mark.parametrize('seed', range(5))
def test_the_same_boxes_in_the_same_order_as_mmcv(seed):
    rng = np.random.default_rng(seed)
    corners = rng.uniform(0, 200, (400, 2)).astype(np.float32)
    boxes = np.concatenate([corners, corners + rng.uniform(5, 60, (400, 2))], 1)
    boxes = boxes.astype(np.float32)
    scores = rng.uniform(0, 1, 400).astype(np.float32)
    labels = rng.integers(0, 4, 400)
    _, expected = mmcv_batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores),
                                   torch.from_numpy(labels), dict(iou_threshold=0.5))
    kept = batched_nms(boxes, scores, labels, 0.5)
    assert kept.tolist() == expected.tolist()
    assert batched_nms(boxes, scores, labels, 0.5, max_keep=7).tolist() == kept[:7].tolist()


def test_no_box_gives_no_index():
    assert batched_nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                       np.zeros(0, np.int64), 0.6).tolist() == []
