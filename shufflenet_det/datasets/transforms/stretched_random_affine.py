"""MMDetection's RandomAffine with NanoDet's separate horizontal and vertical stretch."""
import random
from typing import Tuple

import numpy as np

from mmdet.datasets.transforms import RandomAffine
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class StretchedRandomAffine(RandomAffine):
    """``RandomAffine`` that also stretches the image by a random factor along each axis
    before its scaling, rotation, shear and translation, as NanoDet's warp augmentation does
    (``stretch: [[0.8, 1.2], [0.8, 1.2]]`` in NanoDet-Plus's configs).

    Args:
        stretch_range (tuple): ``((min_x, max_x), (min_y, max_y))`` factors.
            Default: ((0.8, 1.2), (0.8, 1.2)).
        **kwargs: Passed to :class:`mmdet.datasets.transforms.RandomAffine`.
    """

    def __init__(self,
                 stretch_range: Tuple[Tuple[float, float], Tuple[float, float]] = (
                     (0.8, 1.2), (0.8, 1.2)),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        for low, high in stretch_range:
            if not 0 < low <= high:
                raise ValueError(f'stretch_range must hold (low, high) pairs with 0 < low <= '
                                 f'high, got {stretch_range}')
        self.stretch_range = stretch_range

    def _get_random_homography_matrix(self, height: int, width: int) -> np.ndarray:
        """RandomAffine's matrix, applied after a random stretch."""
        (x_low, x_high), (y_low, y_high) = self.stretch_range
        stretch = np.diag([random.uniform(x_low, x_high), random.uniform(y_low, y_high),
                           1.]).astype(np.float32)
        return super()._get_random_homography_matrix(height, width) @ stretch

    def __repr__(self) -> str:
        return f'{super().__repr__()[:-1]}, stretch_range={self.stretch_range})'
