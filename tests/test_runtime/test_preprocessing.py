"""The runtime resizes as MMCV's ``Resize`` does: the same sizes and the same pixels."""
import mmcv
import numpy as np
import pytest

from shufflenet_det_runtime.preprocessing import resized_size


@pytest.mark.parametrize('width, height', [(640, 480), (480, 640), (333, 500), (3, 900),
                                           (1280, 719)])
@pytest.mark.parametrize('scale', [(320, 320), (1333, 800), (416, 256)])
def test_keep_ratio_sizes_are_mmcvs(width, height, scale):
    image = np.zeros((height, width, 3), np.uint8)
    expected = mmcv.imrescale(image, scale).shape[1::-1]
    assert resized_size(width, height, scale, keep_ratio=True) == tuple(expected)
    assert resized_size(width, height, scale, keep_ratio=False) == scale
