r"""Detect objects in an image with an exported model in its runtime: ONNX Runtime (.onnx, FP32
or INT8), OpenVINO (.xml, or .onnx with --backend openvino) or ncnn (.param).

The image goes through the config's test pipeline and data preprocessor, as in PyTorch testing,
and the outputs through the config's own head decoding and NMS. A model exported at a fixed size
gets images padded up to it: where the resized image is smaller (configs with keep_ratio=True),
the larger padding can shift scores a little (GroupNorm statistics, extra locations), so export
with ``--shape`` matching your images.

Examples:
    python tools/deployment/image_demo.py nanodet.onnx \
        configs/nanodet_shufflenetv2_lightpan_320_coco.py demo.jpg --out-file demo_onnx.jpg
    python tools/deployment/image_demo.py nanodet.ncnn.param CONFIG demo.jpg --threads 2
"""
import argparse
import sys
from typing import Optional, Sequence

import mmcv
from mmcv.transforms import Compose
from mmdet.registry import VISUALIZERS
from mmdet.structures import DetDataSample
from mmengine.dataset import pseudo_collate

import shufflenet_det  # noqa: F401
from shufflenet_det.deployment import BACKENDS, DeployedDetector, load_network
from shufflenet_det.datasets import DatasetError
from shufflenet_det.utils.cli import exit_status
from shufflenet_det.utils.run_config import build_detector, config_classes


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('model', help='.onnx, OpenVINO .xml or ncnn .param file')
    parser.add_argument('config', help='the config it was exported from')
    parser.add_argument('img', help='image file')
    parser.add_argument('--backend', choices=BACKENDS,
                        help='runtime (default: by the file: .onnx in onnxruntime)')
    parser.add_argument('--score-thr', type=float, default=0.3)
    parser.add_argument('--threads', type=int, default=0, help='runtime threads')
    parser.add_argument('--out-file', help='where to save the image with drawn detections')
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()

    cfg, model = build_detector(args.config)
    detector = DeployedDetector(load_network(args.model, args.backend, args.threads), model)
    steps = [t for t in cfg.test_dataloader.dataset.pipeline if t['type'] != 'LoadAnnotations']
    try:
        sample = Compose(steps)(dict(img_path=args.img, img_id=0))
    except Exception as err:  # a missing or corrupt file: one line, not a traceback
        raise DatasetError(f'cannot read image {args.img}: {err}')
    pred = detector.test_step(pseudo_collate([sample]))[0].pred_instances
    pred = pred[pred.scores >= args.score_thr]
    classes = config_classes(cfg) or ()
    print(f'{args.img}: {len(pred)} detections with score >= {args.score_thr}')
    for box, score, label in zip(pred.bboxes, pred.scores, pred.labels):
        name = classes[label] if label < len(classes) else str(int(label))
        print(f'  {name:>14s} {float(score):.3f} '
              f'[{", ".join(f"{v:.1f}" for v in box.tolist())}]')
    if args.out_file:
        visualizer = VISUALIZERS.build(dict(cfg.visualizer, vis_backends=None))
        visualizer.dataset_meta = dict(classes=classes)
        visualizer.add_datasample('result', mmcv.bgr2rgb(mmcv.imread(args.img)),
                                  data_sample=DetDataSample(pred_instances=pred),
                                  draw_gt=False, show=False, out_file=args.out_file,
                                  pred_score_thr=args.score_thr)
        print(f'saved {args.out_file}')


if __name__ == '__main__':
    sys.exit(exit_status(main))
