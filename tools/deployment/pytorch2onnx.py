r"""Export a detector config (and checkpoint) to ONNX, with a dynamic batch dimension.

The graph: float32 BGR images (N, 3, H, W), 0-255, in; the head's raw outputs out. One
self-contained file, written atomically, whose metadata describes what decoding needs (classes,
resize and padding, the head's decoding, the config's score threshold and NMS): run it anywhere
with `python -m shufflenet_det_runtime MODEL SOURCE`, or evaluate it with
tools/deployment/test_deployed.py (the config's own decoding). tools/deployment/convert_onnx.py
converts it for ncnn and OpenVINO, tools/deployment/quantize.py to INT8.

Example:
    python tools/deployment/pytorch2onnx.py configs/nanodet_shufflenetv2_lightpan_320_coco.py \
        --weights work_dirs/nanodet/epoch_280.pth --out nanodet.onnx
"""
import argparse
import sys
from typing import List, Optional, Sequence, Tuple

import torch

import shufflenet_det  # noqa: F401  (registers modules and the safe checkpoint loader)
from shufflenet_det.apis.onnx_export import export_described_onnx
from shufflenet_det.apis.tested_weights import check_tested_weights, checkpoint_weights
from shufflenet_det.engine.hooks.class_transfer_hook import checkpoint_classes
from shufflenet_det.errors import DeployedModelError
from shufflenet_det.utils import safe_torch_load
from shufflenet_det.utils.cli import exit_status, output_file
from shufflenet_det.utils.run_config import build_detector, config_classes, input_size
from shufflenet_det_runtime.preprocessing import resized_size


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='detector config')
    parser.add_argument('--weights', help='checkpoint (default: untrained weights)')
    parser.add_argument('--out', required=True, help='.onnx file to write')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help="input size (default: the size its test pipeline resizes to)")
    parser.add_argument('--opset', type=int, default=18)
    parser.add_argument('--no-align-channels', action='store_true',
                        help="export ShuffleNetV2's channel counts as they are, not padded for "
                        "ONNX Runtime's blocked layout (a smaller graph for runtimes that do "
                        "not use it; the outputs are the same either way)")
    args = parser.parse_args(argv)
    if args.shape and min(args.shape) < 1:
        parser.error(f'--shape must be two positive sizes, got {" ".join(map(str, args.shape))}')
    return args


def photos_too_large(resize: dict, size: Tuple[int, int]) -> List[str]:
    """The photos, landscape and portrait (640x480, 480x640), that the test pipeline's
    ``resize`` makes larger than the exported ``size`` (height, width), each said as ``'a
    480x640 photo to 312x416'`` (``'every image to 320x320'`` for a fixed size)."""
    scale = tuple(resize['scale'])
    refused = []
    for width, height in ((640, 480), (480, 640)):
        new_width, new_height = resized_size(width, height, scale, resize['keep_ratio'])
        if new_height > size[0] or new_width > size[1]:
            refused.append(f'a {width}x{height} photo to {new_width}x{new_height}'
                           if resize['keep_ratio'] else f'every image to {scale[0]}x{scale[1]}')
    return list(dict.fromkeys(refused))


def main() -> None:
    args = parse_args()

    cfg, model = build_detector(args.config)
    checkpoint = None
    if args.weights:
        checkpoint = safe_torch_load(args.weights)
        check_tested_weights(model, checkpoint, args.weights, args.config)
        model.load_state_dict(checkpoint_weights(checkpoint, args.weights),
                              strict=False)  # checked: num_batches_tracked may lack
    classes = checkpoint_classes(checkpoint) or config_classes(cfg)
    if not classes:
        raise DeployedModelError('neither the checkpoint nor the config names the classes; '
                                 "set the test dataset's metainfo=dict(classes=...)")
    size = tuple(args.shape) if args.shape else input_size(cfg)
    output_file(args.out)
    with torch.no_grad():  # refuses what the runtime cannot decode before exporting
        description = export_described_onnx(cfg, model.eval(), args.out, size, classes,
                                            args.weights, args.opset,
                                            align_channels=not args.no_align_channels)
    print(f'wrote {args.out}: input image (N, 3, {size[0]}, {size[1]}) float32 BGR 0-255, '
          f'{len(classes)} classes, {description["head"]["decoder"]} decoding')
    refused = photos_too_large(description['preprocess']['resize'], size)
    if refused:
        print(f'warning: the test pipeline resizes {" and ".join(refused)}, larger than this '
              f'{size[1]}x{size[0]} input: the runtime and test_deployed.py will refuse such '
              'images (a network to time or profile only; export with a --shape they fit in)')


if __name__ == '__main__':
    sys.exit(exit_status(main, stop_on_sigterm=True))
