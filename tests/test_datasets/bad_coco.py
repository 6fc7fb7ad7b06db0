"""A small COCO-format shapes dataset with every kind of bad data ``CheckedCocoDataset`` handles.

``write_coco(root)`` writes ``root/images/*.jpg`` and ``root/annotations/bad.json`` (or
``clean.json`` with ``bad=False``: the good images and boxes only). ``EXPECTED`` lists the
problems the bad file holds as ``(kind, where)``, ``where`` being the image's file name or the
annotation.
"""
import json
from pathlib import Path

import cv2
import numpy as np

from shufflenet_det.datasets import SHAPE_CLASSES, draw_shapes_image

SIZE = 128
GOOD_IMAGES = 5
# Annotations added to good_1.jpg (ids 1001...), each with its problem kind (None: fine).
BAD_BOXES = [
    ([10, 10, 0, 20], 1, 'zero_size_box'),
    ([10, 10, -5, 20], 1, 'negative_size_box'),
    ([10, 10, 20, 20], 99, 'unknown_category'),
    ([100, 90, 40, 50], 2, 'box_outside_image'),  # clipped to [100, 90, 28, 38]
    ([300, 10, 20, 20], 2, 'box_outside_image'),  # entirely outside: dropped
    ([10, 10, None, 20], 3, 'invalid_box'),
]
EXPECTED = sorted([
    ('missing_image', 'missing.jpg'),
    ('unreadable_image', 'corrupt.jpg'),
    ('size_mismatch', 'wrong_size.jpg'),
    ('no_annotations', 'empty.jpg'),
] + [(kind, f'annotation {1001 + i} (good_1.jpg)') for i, (_, _, kind) in enumerate(BAD_BOXES)])


def _jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode('.jpg', image)[1].tobytes()


def write_coco(root: Path, bad: bool = True) -> Path:
    """Write the dataset; return the annotation file.

    Args:
        root (Path): Dataset root.
        bad (bool): Whether to add the bad images and annotations.

    Returns:
        Path: ``root/annotations/bad.json`` or ``root/annotations/clean.json``.
    """
    rng = np.random.default_rng(0)
    (root / 'images').mkdir(parents=True, exist_ok=True)
    (root / 'annotations').mkdir(exist_ok=True)
    images, annotations = [], []

    def add_image(file_name, data, objects, width=SIZE, height=SIZE):
        if data is not None:
            (root / 'images' / file_name).write_bytes(data)
        images.append(dict(id=len(images) + 1, file_name=file_name, width=width, height=height))
        for box, label in objects:
            annotations.append(dict(id=len(annotations) + 1, image_id=len(images),
                                    category_id=label + 1, bbox=box, area=box[2] * box[3],
                                    iscrowd=0))

    for i in range(1, GOOD_IMAGES + 1):
        image, objects = draw_shapes_image(rng, SIZE, SIZE)
        add_image(f'good_{i}.jpg', _jpeg(image), objects)
    if bad:
        image, objects = draw_shapes_image(rng, SIZE, SIZE)
        jpeg = _jpeg(image)
        add_image('empty.jpg', jpeg, [])
        add_image('missing.jpg', None, objects)
        add_image('corrupt.jpg', rng.bytes(2000), objects)
        # A valid header (PIL reads it) followed by zeros instead of the image data.
        add_image('broken_body.jpg', jpeg[:jpeg.find(b'\xff\xda')] + bytes(2000), objects)
        add_image('wrong_size.jpg', jpeg, objects, width=160, height=160)
        for i, (box, category_id, _) in enumerate(BAD_BOXES):
            annotations.append(dict(id=1001 + i, image_id=1, category_id=category_id, bbox=box,
                                    area=100, iscrowd=0))
    categories = [dict(id=i + 1, name=name) for i, name in enumerate(SHAPE_CLASSES)]
    ann_file = root / 'annotations' / ('bad.json' if bad else 'clean.json')
    ann_file.write_text(json.dumps(dict(images=images, annotations=annotations,
                                        categories=categories)))
    return ann_file
