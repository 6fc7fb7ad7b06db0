"""Detect objects in an image with an exported ONNX model and ONNX Runtime.

Example:
    python tools/deployment/onnxruntime_infer.py nanodet.onnx \
        configs/nanodet_shufflenetv2_lightpan_320_coco.py demo.jpg --out-file demo_onnx.jpg
"""
import argparse

import cv2
import mmcv
import numpy as np
from mmdet.registry import DATASETS, VISUALIZERS
from mmdet.structures import DetDataSample

import shufflenet_det  # noqa: F401
from shufflenet_det.apis.onnx_export import OnnxRuntimeDetector
from shufflenet_det.utils.complexity import build_detector, input_size


def load_image(path: str, size: tuple) -> tuple:
    """The image resized to ``size`` (H, W) as a (1, 3, H, W) float32 batch, and its meta."""
    image = cv2.imread(path)
    if image is None:
        raise SystemExit(f'error: cannot read image {path}')
    height, width = image.shape[:2]
    resized = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    meta = dict(img_shape=size, ori_shape=(height, width),
                scale_factor=(size[1] / width, size[0] / height))
    return image, resized.transpose(2, 0, 1)[None].astype(np.float32), meta


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
    image, batch, meta = load_image(args.img, input_size(cfg))
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
    main()
