"""An image as the network takes it: resized and padded as the config's test pipeline and
data preprocessor do it (MMCV's ``Resize``, MMDetection's ``DetDataPreprocessor``)."""
import math
from dataclasses import dataclass
from typing import Optional, Tuple

import cv2
import numpy as np

from .errors import ModelError
from .model_info import ModelInfo


@dataclass
class NetworkInput:
    """One preprocessed image.

    Args:
        blob (np.ndarray): float32 BGR 0-255, (1, 3, H, W).
        image_shape (tuple[int, int]): (height, width) of the resized image inside the blob
            (boxes are clipped to it).
        scale (tuple[float, float]): (width, height) factors from the original image to the
            resized one (boxes are divided by them).
    """

    blob: np.ndarray
    image_shape: Tuple[int, int]
    scale: Tuple[float, float]


def resized_size(width: int, height: int, scale: Tuple[int, int],
                 keep_ratio: bool) -> Tuple[int, int]:
    """(width, height) after MMCV's ``Resize``: ``scale`` itself, or with ``keep_ratio`` the
    largest size with the image's aspect ratio whose long side fits ``max(scale)`` and short
    side ``min(scale)`` (rounded half up, as ``mmcv.imrescale``)."""
    if not keep_ratio:
        return scale
    factor = min(max(scale) / max(height, width), min(scale) / min(height, width))
    return int(width * factor + 0.5), int(height * factor + 0.5)


def preprocess(image: np.ndarray, info: ModelInfo, fixed_size: Optional[Tuple[int, int]],
               out: Optional[np.ndarray] = None) -> NetworkInput:
    """Resize ``image`` and pad it at the bottom and right with ``info.pad_bgr``.

    Args:
        image (np.ndarray): A BGR uint8 image (H, W, 3).
        info (ModelInfo): The model's description.
        fixed_size (tuple[int, int], optional): (height, width) the network takes, or None
            when it takes any size (ncnn): then the image is padded to a multiple of the
            config's ``pad_size_divisor``.
        out (np.ndarray, optional): A blob of an earlier call to write into when it has the
            size needed (its memory is reused: no new pages to fault in). Default: None.

    Returns:
        NetworkInput: The blob and what decoding needs to map boxes back.

    Raises:
        TypeError: For no array (``cv2.imread``'s None).
        ValueError: For an array that is not a 3-channel uint8 image, or an empty one.
        ModelError: When the resized image is larger than the network's fixed size.
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f'an image array is needed, not {type(image).__name__}' +
                        (' (cv2.imread gives None for a file it cannot read)'
                         if image is None else ''))
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f'a uint8 BGR image of shape (H, W, 3) is needed, not {image.dtype} '
                         f'{image.shape} (cv2.cvtColor turns grey or BGRA images into BGR)')
    if not image.size:
        raise ValueError(f'an empty image (shape {image.shape}) has nothing to detect in')
    height, width = image.shape[:2]
    new_width, new_height = (max(1, side) for side in  # a 1-pixel-wide strip stays 1 wide
                             resized_size(width, height, info.resize_scale, info.keep_ratio))
    resized = cv2.resize(image, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    if fixed_size is None:
        divisor = info.pad_size_divisor
        fixed_size = (math.ceil(new_height / divisor) * divisor,
                      math.ceil(new_width / divisor) * divisor)
    elif new_height > fixed_size[0] or new_width > fixed_size[1]:
        raise ModelError(f'a {width}x{height} image resizes to {new_width}x{new_height}, larger '
                         f'than the {fixed_size[1]}x{fixed_size[0]} the model was exported for; '
                         'export it with a larger --shape')
    shape = (1, 3, *fixed_size)
    blob = out if out is not None and out.shape == shape else np.empty(shape, np.float32)
    for channel, plane in enumerate(cv2.split(resized)):
        blob[0, channel, :new_height, :new_width] = plane
    if (new_height, new_width) != tuple(fixed_size):
        for channel, pad in enumerate(info.pad_bgr):
            blob[0, channel, new_height:] = pad
            blob[0, channel, :new_height, new_width:] = pad
    return NetworkInput(blob, (new_height, new_width), (new_width / width, new_height / height))
