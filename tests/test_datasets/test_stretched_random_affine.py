"""StretchedRandomAffine: NanoDet's per-axis stretch on top of MMDetection's RandomAffine."""
import random

import numpy as np
import pytest
from mmdet.structures.bbox import HorizontalBoxes

from shufflenet_det.datasets import StretchedRandomAffine

NO_OTHER_CHANGE = dict(max_rotate_degree=0, max_shear_degree=0, max_translate_ratio=0,
                       scaling_ratio_range=(1, 1), border=(0, 0))


def sample(box):
    img = np.zeros((100, 100, 3), np.uint8)
    x1, y1, x2, y2 = box
    img[y1:y2, x1:x2] = 255
    return dict(img=img, gt_bboxes=HorizontalBoxes(np.array([box], np.float32)),
                gt_bboxes_labels=np.array([0]), gt_ignore_flags=np.array([False]))


def test_the_image_and_its_boxes_are_stretched_along_each_axis_apart():
    transform = StretchedRandomAffine(stretch_range=((2, 2), (0.5, 0.5)), **NO_OTHER_CHANGE)
    results = transform(sample((10, 20, 20, 40)))
    assert results['gt_bboxes'].numpy().tolist() == [[20, 10, 40, 20]]
    ys, xs = np.nonzero(results['img'][..., 0] > 127)
    # the white square's pixels, to a pixel of interpolation
    assert np.allclose((xs.min(), xs.max() + 1, ys.min(), ys.max() + 1), (20, 40, 10, 20), atol=1)


def test_the_two_factors_are_drawn_independently_within_their_ranges():
    random.seed(0)
    transform = StretchedRandomAffine(**NO_OTHER_CHANGE)
    factors = [np.diag(transform._get_random_homography_matrix(100, 100))[:2]
               for _ in range(200)]
    x, y = np.array(factors).T
    assert 0.8 <= x.min() < 0.85 and 1.15 < x.max() <= 1.2 and 0.8 <= y.min() and y.max() <= 1.2
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.2  # not one factor for both axes


def test_a_bad_range_is_refused():
    with pytest.raises(ValueError, match='stretch_range'):
        StretchedRandomAffine(stretch_range=((1.2, 0.8), (0.8, 1.2)))
