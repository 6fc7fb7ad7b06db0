"""Detect objects in an image with an exported ONNX model and ONNX Runtime.

The image goes through the config's test pipeline, as in PyTorch testing, and is padded to the
fixed size the model was exported for. PyTorch pads only to a multiple of 32: where the resized
image is not square (configs with keep_ratio=True), the larger padding can shift scores a little
(GroupNorm statistics, extra locations), so export with ``--shape`` matching your images.

Example:
    python tools/deployment/onnxruntime_infer.py nanodet.onnx \
        configs/nanodet_shufflenetv2_lightpan_320_coco.py demo.jpg --out-file demo_onnx.jpg
"""
import argparse
import sys

import mmcv
import numpy as np
import torch
from mmcv.transforms import Compose
from mmdet.registry import DATASETS, VISUALIZERS
from mmdet.structures import DetDataSample

import shufflenet_det  # noqa: F401
from shufflenet_det.apis.onnx_export import OnnxRuntimeDetector
from shufflenet_det.utils.cli import exit_status
from shufflenet_det.utils.complexity import build_detector


def load_image(path: str, cfg, detector: torch.nn.Module, size: tuple) -> tuple:
    """The image through the config's test pipeline (resize as in PyTorch testing), padded to
    the exported ``size`` (H, W) with the normalisation mean, as a float32 BGR batch of one.

    Returns:
        tuple: The original BGR image, the (1, 3, H, W) batch and the image's meta information.
    """
    steps = [t for t in cfg.test_dataloader.dataset.pipeline if t['type'] != 'LoadAnnotations']
    try:
        packed = Compose(steps)(dict(img_path=path, img_id=0))
    except Exception as err:  # a missing or corrupt file: one line, not a traceback
        raise SystemExit(f'error: cannot read image {path}: {err}')
    image = packed['inputs'].numpy()
    height, width = image.shape[1:]
    if height > size[0] or width > size[1]:
        raise SystemExit(f'error: the test pipeline gives {height}x{width} images but the model '
                         f'was exported for {size[0]}x{size[1]}; export with --shape')
    preprocessor = detector.data_preprocessor
    mean = preprocessor.mean.flatten().numpy()  # in the network's channel order
    if getattr(preprocessor, '_channel_conversion', False):
        mean = mean[::-1]  # the file's BGR order
    batch = np.broadcast_to(mean[None, :, None, None], (1, 3, *size)).astype(np.float32)
    batch[0, :, :height, :width] = image
    return mmcv.imread(path), batch, packed['data_samples'].metainfo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('onnx', help='exported model')
    parser.add_argument('config', help='the config it was exported from')
    parser.add_argument('img', help='image file')
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--threads', type=int, default=0, help='ONNX Runtime threads')
    parser.add_argument('--out-file', help='where to save the image with drawn detections')
    args = parser.parse_args()

    cfg, model = build_detector(args.config)
    detector = OnnxRuntimeDetector(args.onnx, model, args.threads)
    image, batch, meta = load_image(args.img, cfg, model, detector.input_size)
    pred = detector.predict(batch, [meta])[0]
    pred = pred[pred.scores >= args.score_thr]
    dataset = cfg.test_dataloader.dataset
    classes = dataset.get('metainfo', {}).get('classes') or DATASETS.get(
        dataset.type).METAINFO['classes']
    print(f'{args.img}: {len(pred)} detections with score >= {args.score_thr}')
    for box, score, label in zip(pred.bboxes, pred.scores, pred.labels):
        name = classes[label]
        print(f'  {name:>14s} {float(score):.3f} '
              f'[{", ".join(f"{v:.1f}" for v in box.tolist())}]')
    if args.out_file:
        visualizer = VISUALIZERS.build(dict(cfg.visualizer, vis_backends=None))
        visualizer.dataset_meta = dict(classes=classes)
        sample = DetDataSample(pred_instances=pred)
        visualizer.add_datasample('result', mmcv.bgr2rgb(image), data_sample=sample,
                                  draw_gt=False, show=False, out_file=args.out_file,
                                  pred_score_thr=args.score_thr)
        print(f'saved {args.out_file}')


if __name__ == '__main__':
    sys.exit(exit_status(main))
