"""Images of simple shapes with exact boxes: data the project makes itself for demos."""
from typing import List, Tuple

import cv2
import numpy as np

SHAPE_CLASSES = ('circle', 'square', 'triangle')


def draw_shapes_image(rng: np.random.Generator,
                      height: int = 320,
                      width: int = 320,
                      max_shapes: int = 4) -> Tuple[np.ndarray, List[Tuple[List[float], int]]]:
    """Draw 1 to ``max_shapes`` non-overlapping filled shapes on a noisy background.

    Args:
        rng (np.random.Generator): Source of randomness, for reproducible images.
        height (int): Image height. Default: 320.
        width (int): Image width. Default: 320.
        max_shapes (int): Most shapes per image. Default: 4.

    Returns:
        tuple: The BGR image (uint8, H x W x 3) and a list of
        ``([x, y, w, h], class_index)`` boxes in COCO's xywh convention.
    """
    background = rng.integers(0, 256, 3)
    image = np.clip(background + rng.normal(0, 20, (height, width, 3)), 0, 255).astype(np.uint8)
    objects: List[Tuple[List[float], int]] = []
    taken: List[Tuple[int, int, int, int]] = []
    for _ in range(int(rng.integers(1, max_shapes + 1))):
        size = int(rng.integers(min(height, width) // 8, min(height, width) // 3))
        x0, y0 = int(rng.integers(0, width - size)), int(rng.integers(0, height - size))
        if any(x0 < bx + bs and bx < x0 + size and y0 < by + bs and by < y0 + size
               for bx, by, bs, _ in taken):
            continue
        label = int(rng.integers(len(SHAPE_CLASSES)))
        color = tuple(int(c) for c in (background + rng.integers(80, 176, 3)) % 256)
        if label == 0:
            cv2.circle(image, (x0 + size // 2, y0 + size // 2), size // 2, color, -1)
        elif label == 1:
            cv2.rectangle(image, (x0, y0), (x0 + size - 1, y0 + size - 1), color, -1)
        else:
            points = np.array([[x0 + size // 2, y0], [x0, y0 + size - 1],
                               [x0 + size - 1, y0 + size - 1]], dtype=np.int32)
            cv2.fillPoly(image, [points], color)
        taken.append((x0, y0, size, label))
        objects.append(([float(x0), float(y0), float(size), float(size)], label))
    return image, objects
