"""Parameters and FLOPs of a detector config at any input size.

FLOPs here are multiply-adds as MMEngine's counter reports them (convolutions, linear layers,
BN, upsampling; post-processing excluded), in all and for the backbone, neck and head apart.
NanoDet's and many papers' "FLOPs" are twice that; Ultralytics' GFLOPs are twice the
convolutions' multiply-adds (BN folded into them), printed too.

Example:
    python tools/analysis_tools/get_flops.py configs/nanodet_shufflenetv2_lightpan_320_coco.py
    python tools/analysis_tools/get_flops.py CONFIG --shape 416 416
"""
import argparse
import sys
from typing import Optional, Sequence

from mmengine.config import DictAction

import shufflenet_det  # noqa: F401
from shufflenet_det.utils.cli import exit_status
from shufflenet_det.benchmarking.complexity import complexity
from shufflenet_det.utils.run_config import build_detector, input_size


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file')
    parser.add_argument('--shape', type=int, nargs='+', metavar='SIZE',
                        help="input size: H W, or one number for a square (default: the "
                        "size its test pipeline resizes to)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    args = parser.parse_args(argv)
    if args.shape and len(args.shape) > 2:
        parser.error(f'--shape takes 1 or 2 numbers, got {args.shape}')
    return args


def main() -> None:
    args = parse_args()
    cfg, model = build_detector(args.config, args.cfg_options)
    size = (args.shape[0], args.shape[-1]) if args.shape else input_size(cfg)
    info = complexity(model, size)
    print(f'{args.config}\ninput: {size[0]}x{size[1]}\nparams: {info["params"] / 1e6:.3f} M\n'
          f'FLOPs (multiply-adds): {info["flops"] / 1e9:.3f} G\n'
          f'GFLOPs as Ultralytics counts (2 x the convolutions\' multiply-adds): '
          f'{2 * info["conv_flops"] / 1e9:.2f}')
    for name, part in info['parts'].items():
        print(f'  {name}: {part["params"]:,} params, {part["flops"] / 1e9:.3f} G multiply-adds')


if __name__ == '__main__':
    sys.exit(exit_status(main))
