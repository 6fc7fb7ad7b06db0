r"""Run a detector on one image with MMDetection's DetInferencer, print its detections and draw
them.

Example:
    python tools/image_demo.py demo.jpg configs/fcos_shufflenetv2_coco.py \
        --weights work_dirs/fcos/epoch_12.pth --out-file demo_pred.jpg
"""
import argparse
import os
import sys
import warnings
from typing import Optional, Sequence

import cv2
import mmcv
import numpy as np
from mmdet.apis import DetInferencer
from mmengine.config import DictAction
from mmengine.runner import CheckpointLoader

import shufflenet_det  # noqa: F401  (registers the modules and the safe checkpoint loader)
from shufflenet_det.apis.tested_weights import check_tested_weights, checkpoint_weights
from shufflenet_det.datasets import DatasetError
from shufflenet_det.engine.hooks import checkpoint_classes
from shufflenet_det.errors import ConfigError
from shufflenet_det.utils import (check_model_wiring, config_classes, explain_build_errors,
                                  load_config)
from shufflenet_det.utils.cli import exit_status, output_file


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('img', help='image file')
    parser.add_argument('config', help='detector config file')
    parser.add_argument('--weights', help='checkpoint; without one the detector is untrained')
    parser.add_argument('--out-file', help='where to save the image with drawn detections')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument('--score-thr', type=float, default=0.3, help='score threshold')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def check_paths(args: argparse.Namespace) -> None:
    """Refuse, before the model is built, an image that is not one readable image file and an
    ``--out-file`` that cannot be written as an image."""
    if os.path.isdir(args.img):
        raise DatasetError(f'{args.img} is a folder; this demo takes one image (for a folder: '
                           'python -m shufflenet_det_runtime MODEL FOLDER, or tools/test.py)')
    if not os.path.isfile(args.img):
        raise DatasetError(f'no such image: {args.img}')
    data = np.fromfile(args.img, np.uint8)
    if not data.size or mmcv.imfrombytes(data.tobytes()) is None:
        raise DatasetError(f'{args.img} is not a readable image')
    if args.out_file:
        if not os.path.isdir(args.out_file) and not cv2.haveImageWriter(args.out_file):
            raise ConfigError(f'--out-file {args.out_file}: OpenCV writes no image of that '
                              'name; give it an image suffix (.jpg, .png)')
        output_file(args.out_file, '--out-file')  # a folder refused; its folder made


def main() -> None:
    args = parse_args()
    check_paths(args)
    cfg = load_config(args.config, args.cfg_options)
    # DetInferencer builds the model, once; the weights are loaded here, as DetInferencer
    # would read a checkpoint's meta (it fails on dataset_meta=None and takes COCO's names when
    # the checkpoint names no classes)
    with explain_build_errors(cfg.model), warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='weights is None')
        warnings.filterwarnings('ignore', message='Checkpoint is not loaded')  # it is, below
        inferencer = DetInferencer(model=cfg, weights=None, device=args.device,
                                   show_progress=False)
    check_model_wiring(inferencer.model, cfg.model)
    checkpoint = None
    if args.weights:  # all of it fits; the labels are shown by the checkpoint's class names
        checkpoint = CheckpointLoader.load_checkpoint(args.weights, map_location='cpu')
        check_tested_weights(inferencer.model, checkpoint, args.weights, args.config)
        inferencer.model.load_state_dict(checkpoint_weights(checkpoint, args.weights),
                                         strict=False)  # checked: num_batches_tracked may lack
    # the checkpoint's class names, else those of the config's test set
    classes = checkpoint_classes(checkpoint) or config_classes(cfg) or []
    inferencer.model.dataset_meta['classes'] = classes
    inferencer.visualizer.dataset_meta = inferencer.model.dataset_meta
    output = inferencer(args.img, return_datasamples=True, return_vis=bool(args.out_file),
                        no_save_vis=True, pred_score_thr=args.score_thr)
    result = output['predictions'][0]
    pred = result.pred_instances[result.pred_instances.scores >= args.score_thr]
    print(f'{args.img}: {len(pred)} detections with score >= {args.score_thr}'
          f'{", the 10 best:" if len(pred) > 10 else ""}')
    for box, score, label in zip(pred.bboxes[:10], pred.scores[:10], pred.labels[:10]):
        name = classes[label] if label < len(classes) else str(int(label))
        print(f'  {name:>14s} {float(score):.3f} '
              f'[{", ".join(f"{v:.1f}" for v in box.tolist())}]')
    if args.out_file:
        mmcv.imwrite(mmcv.rgb2bgr(output['visualization'][0]), args.out_file)
        print(f'saved {args.out_file}')


if __name__ == '__main__':
    sys.exit(exit_status(main))
