"""Generate a small COCO-format detection dataset of shapes (circle, square, triangle).

Example:
    python tools/misc/make_synthetic_coco.py data/shapes --train 800 --val 100
writes data/shapes/{train,val}/*.jpg and data/shapes/annotations/instances_{train,val}.json.
"""
import argparse
import json
from pathlib import Path
from typing import Optional, Sequence

import cv2
import numpy as np

from shufflenet_det.datasets import SHAPE_CLASSES, draw_shapes_image


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('out_dir', help='dataset root to write')
    parser.add_argument('--train', type=int, default=800, help='training images')
    parser.add_argument('--val', type=int, default=100, help='validation images')
    parser.add_argument('--size', type=int, default=256, help='image height and width')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def write_split(root: Path, split: str, count: int, size: int, seed: int) -> int:
    """Write ``count`` images and their annotation file; return the number of boxes."""
    rng = np.random.default_rng(seed)
    (root / split).mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for image_id in range(1, count + 1):
        image, objects = draw_shapes_image(rng, size, size)
        file_name = f'{image_id:06d}.jpg'
        cv2.imwrite(str(root / split / file_name), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        images.append(dict(id=image_id, file_name=file_name, height=size, width=size))
        for box, label in objects:
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id,
                                    category_id=label + 1, bbox=box, area=box[2] * box[3],
                                    iscrowd=0))
    categories = [dict(id=i + 1, name=name, supercategory='shape')
                  for i, name in enumerate(SHAPE_CLASSES)]
    (root / 'annotations').mkdir(exist_ok=True)
    with open(root / 'annotations' / f'instances_{split}.json', 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=categories), f)
    return len(annotations)


def main() -> None:
    args = parse_args()
    root = Path(args.out_dir)
    for split, count, seed in (('train', args.train, args.seed),
                               ('val', args.val, args.seed + 1)):
        boxes = write_split(root, split, count, args.size, seed)
        print(f'{root}/{split}: {count} images, {boxes} boxes')


if __name__ == '__main__':
    main()
