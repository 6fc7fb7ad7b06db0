"""Write a demo image of simple shapes (made by the project, no download needed)."""
import argparse
from pathlib import Path

import cv2
import numpy as np

from shufflenet_det.datasets import SHAPE_CLASSES, draw_shapes_image


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('out_file', help='where to write the image (.jpg or .png)')
    parser.add_argument('--size', type=int, nargs=2, default=[320, 320], metavar=('H', 'W'))
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    image, objects = draw_shapes_image(np.random.default_rng(args.seed), *args.size)
    out = Path(args.out_file)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(out), image):
        raise SystemExit(f'could not write {out}')
    print(f'wrote {out}: ' + ', '.join(f'{SHAPE_CLASSES[label]} at {box}'
                                       for box, label in objects))


if __name__ == '__main__':
    main()
