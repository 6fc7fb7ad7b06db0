"""What every runtime of an exported network offers: float32 BGR images in, raw outputs out."""
from abc import ABCMeta, abstractmethod
from typing import List, Optional, Tuple

import numpy as np


class Network(metaclass=ABCMeta):
    """An exported backbone + neck + head, run by an inference engine.

    The network takes float32 BGR images (N, 3, H, W) with values 0-255 (normalisation is in
    the graph) and returns the head's raw outputs, flat and group-major: every level's class
    scores, then every level's box regressions, and so on, as the export lays them out.
    """

    #: (height, width) the network was exported for, or None if it takes any size.
    input_size: Optional[Tuple[int, int]] = None

    @abstractmethod
    def __call__(self, images: np.ndarray) -> List[np.ndarray]:
        """The raw outputs for a float32 BGR batch (N, 3, H, W)."""
