"""Time and memory of building a training dataset at COCO scale: CocoDataset against
CheckedCocoDataset.

Generates a COCO-format file with COCO train2017's counts (118,287 images, 860,001 boxes in the
80 COCO categories; no pixels), then builds each dataset type as the configs do
(``filter_empty_gt``, ``min_size=32``) in a fresh process and reports the build time and the
peak resident memory. ``check_images`` is off, as there are no image files to read.

Example:
    python tools/analysis_tools/dataset_build_cost.py
    python tools/analysis_tools/dataset_build_cost.py --images 5000 --boxes 36781
"""
import argparse
import json
import os.path as osp
import resource
import subprocess
import sys
import tempfile
from typing import Optional, Sequence

import numpy as np

TYPES = ('CocoDataset', 'CheckedCocoDataset')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=118287, help='number of images')
    parser.add_argument('--boxes', type=int, default=860001, help='number of boxes')
    parser.add_argument('--rounds', type=int, default=2,
                        help='builds of each type, interleaved; the fastest is reported')
    # The work of the child processes: Linux keeps a parent's peak memory in its children's.
    parser.add_argument('--write', metavar='ANN_FILE', help=argparse.SUPPRESS)
    parser.add_argument('--build', nargs=2, metavar=('TYPE', 'ANN_FILE'), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def write_coco_scale_file(path: str, num_images: int, num_boxes: int) -> None:
    """Write a COCO-format file of ``num_images`` 640x480 images and ``num_boxes`` boxes inside
    them, spread over them at random (seed 0), in the 80 COCO categories with COCO's ids.

    Args:
        path (str): Where to write the JSON file.
        num_images (int): Number of images.
        num_boxes (int): Number of boxes.
    """
    from mmdet.datasets import CocoDataset
    rng = np.random.default_rng(0)
    category_ids = [i for i in range(1, 91) if i not in
                    (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]  # COCO's 80 ids
    image_ids = rng.integers(1, num_images + 1, num_boxes)
    wh = rng.uniform(4, 230, (num_boxes, 2)).round(2)
    xy = (rng.uniform(0, 1, (num_boxes, 2)) * ([640, 480] - wh)).round(2)  # inside the image
    labels = rng.integers(0, 80, num_boxes)
    annotations = [dict(id=i + 1, image_id=int(image_ids[i]), iscrowd=0,
                        category_id=category_ids[labels[i]],
                        bbox=[*xy[i].tolist(), *wh[i].tolist()], area=float(wh[i].prod()))
                   for i in range(num_boxes)]
    images = [dict(id=i, file_name=f'{i:012d}.jpg', width=640, height=480)
              for i in range(1, num_images + 1)]
    categories = [dict(id=i, name=name)
                  for i, name in zip(category_ids, CocoDataset.METAINFO['classes'])]
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=annotations, categories=categories), f)


def build(dataset_type: str, ann_file: str) -> None:
    """Build one dataset and print its build time and this process's peak memory as JSON."""
    from mmengine.registry import init_default_scope

    import shufflenet_det  # noqa: F401  (registers CheckedCocoDataset)
    from mmdet.registry import DATASETS
    from shufflenet_det.benchmarking import timed
    init_default_scope('mmdet')
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    extra = dict(check_images=False) if dataset_type == 'CheckedCocoDataset' else {}
    seconds, dataset = timed(lambda: DATASETS.build(dict(
        type=dataset_type, ann_file=ann_file, pipeline=[], data_prefix=dict(img=''),
        filter_cfg=dict(filter_empty_gt=True, min_size=32), **extra)))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(dict(images=len(dataset), seconds=seconds, peak_mib=peak / 1024,
                          imports_mib=before / 1024)))


def main() -> None:
    args = parse_args()
    if args.build:
        build(*args.build)
        return
    if args.write:
        write_coco_scale_file(args.write, args.images, args.boxes)
        return
    with tempfile.TemporaryDirectory() as tmp:
        ann_file = osp.join(tmp, 'coco_scale.json')
        print(f'Writing {args.images} images, {args.boxes} boxes ...', file=sys.stderr)
        subprocess.run([sys.executable, __file__, '--write', ann_file, '--images',
                        str(args.images), '--boxes', str(args.boxes)], check=True)
        size_mib = osp.getsize(ann_file) / 2**20
        best = {}
        for _ in range(args.rounds):
            for dataset_type in TYPES:
                child = subprocess.run(
                    [sys.executable, __file__, '--build', dataset_type, ann_file],
                    capture_output=True, text=True, check=True)
                result = json.loads(child.stdout.strip().splitlines()[-1])
                if dataset_type not in best or result['seconds'] < best[dataset_type]['seconds']:
                    best[dataset_type] = result
    print(f'{args.images} images, {args.boxes} boxes, {size_mib:.0f} MiB of JSON; fastest of '
          f'{args.rounds} builds each, in a fresh process')
    print('| dataset | images after filter | build time (s) | peak RSS (MiB) | '
          'RSS after imports (MiB) |')
    print('|---|---|---|---|---|')
    for dataset_type in TYPES:
        result = best[dataset_type]
        print(f'| {dataset_type} | {result["images"]} | {result["seconds"]:.1f} | '
              f'{result["peak_mib"]:.0f} | {result["imports_mib"]:.0f} |')


if __name__ == '__main__':
    main()
