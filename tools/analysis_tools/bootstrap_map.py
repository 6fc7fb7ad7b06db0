r"""How much COCO's bbox mAP on a small val set moves with the choice of images: the val images
are drawn again with replacement, many times, and the same detections scored on each draw with
COCO's evaluator (pycocotools). The spread says how big a difference between two runs on that
set must be to be more than noise.

The detections are a COCO results json, as tools/finetune.py writes (val_detections.bbox.json)
or tools/test.py with --cfg-options test_evaluator.outfile_prefix=PREFIX.

Example:
    python tools/analysis_tools/bootstrap_map.py \
        work_dirs/raccoon/annotations/instances_val.json \
        work_dirs/raccoon/val_detections.bbox.json --samples 200
"""
import argparse
import contextlib
import copy
import io
import json
import sys
from typing import List, Optional, Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from shufflenet_det.utils.cli import exit_status


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('ann_file', help='the COCO annotation file of the val images')
    parser.add_argument('detections', help='the COCO results json of the detections')
    parser.add_argument('--samples', type=int, default=200, help='draws (default 200)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if args.samples < 2:
        parser.error('--samples must be at least 2')
    return args


def bbox_map(dataset: dict, detections: List[dict]) -> float:
    """COCO's bbox mAP of ``detections`` on ``dataset`` (pycocotools, quietly)."""
    if not detections:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth = COCO()
        ground_truth.dataset = copy.deepcopy(dataset)
        ground_truth.createIndex()
        results = ground_truth.loadRes(copy.deepcopy(detections))
        evaluation = COCOeval(ground_truth, results, 'bbox')
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0])


def drawn(dataset: dict, detections: List[dict], image_ids: Sequence[int]) -> tuple:
    """The dataset and detections of the drawn images, each draw an image of its own id."""
    images = {image['id']: image for image in dataset['images']}
    boxes, found = {}, {}
    for annotation in dataset['annotations']:
        boxes.setdefault(annotation['image_id'], []).append(annotation)
    for detection in detections:
        found.setdefault(detection['image_id'], []).append(detection)
    draw = dict(dataset, images=[], annotations=[])
    drawn_detections = []
    for new_id, image_id in enumerate(image_ids, 1):
        draw['images'].append(dict(images[image_id], id=new_id))
        for annotation in boxes.get(image_id, []):
            draw['annotations'].append(dict(annotation, image_id=new_id,
                                            id=len(draw['annotations']) + 1))
        drawn_detections += [dict(d, image_id=new_id) for d in found.get(image_id, [])]
    return draw, drawn_detections


def main() -> None:
    args = parse_args()
    with open(args.ann_file, encoding='utf-8') as f:
        dataset = json.load(f)
    with open(args.detections, encoding='utf-8') as f:
        detections = json.load(f)
    ids = [image['id'] for image in dataset['images']]
    rng = np.random.default_rng(args.seed)
    scores = [bbox_map(*drawn(dataset, detections, rng.choice(ids, len(ids))))
              for _ in range(args.samples)]
    low, high = np.percentile(scores, [2.5, 97.5])
    print(f'bbox mAP {bbox_map(dataset, detections):.3f} on {len(ids)} images; over '
          f'{args.samples} draws of them with replacement: standard deviation '
          f'{np.std(scores, ddof=1):.3f}, 95% of draws within {low:.3f}-{high:.3f}')


if __name__ == '__main__':
    sys.exit(exit_status(main))
