r"""Convert NanoDet-m's and NanoDet-Plus's released checkpoints (NanoDet's own layout) into
this project's.

Reads NanoDet's Lightning ``.ckpt`` (``model.*`` weights; the EMA copy ``avg_model.*`` when there
is one, unless --no-ema) and its ``.pth`` files (0.x checkpoints, NanoDet-Plus's inference
weights), for NanoDet-m 0.5x, 1.0x and 1.5x and NanoDet-Plus-m 1.0x and 1.5x. The weights are
checked strictly against the matching config's detector (or --config's) before anything is
written, and written in one piece.

Example:
    python tools/model_converters/nanodet_to_mmdet.py nanodet_m_320.ckpt \
        checkpoints/nanodet_m_320_mmdet.pth
    python tools/test.py configs/nanodet_shufflenetv2_lightpan_320_coco.py \
        checkpoints/nanodet_m_320_mmdet.pth
"""
import argparse
import io
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

import torch

import shufflenet_det  # noqa: F401  (registers the modules)
from shufflenet_det.apis.nanodet_conversion import (convert_nanodet_checkpoint,
                                                    has_folded_batchnorm)
from shufflenet_det.engine import atomic_write
from shufflenet_det.utils.cli import exit_status

REPO = Path(__file__).resolve().parents[2]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help="NanoDet checkpoint (.ckpt or .pth)")
    parser.add_argument('dst', help='where to write the converted checkpoint')
    parser.add_argument('--config', help='check the weights against this config instead of '
                        'the matching one of configs/')
    parser.add_argument('--no-ema', action='store_true',
                        help='take the raw model.* weights of a .ckpt, not its EMA avg_model.*')
    args = parser.parse_args(argv)
    if args.config and not os.path.isfile(args.config):
        parser.error(f'--config {args.config}: no such file')
    return args


def main() -> None:
    args = parse_args()
    checkpoint, source = convert_nanodet_checkpoint(args.src, REPO / 'configs', args.config,
                                                    not args.no_ema)
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    atomic_write(buffer.getvalue(), args.dst)  # the old file or the whole new one, never half
    print(f'converted {source} -> {args.dst}')
    if args.config:
        print(f'checked against {args.config}')
    else:
        print('matching config: ' + ' or '.join(checkpoint['meta']['matching_configs']) +
              ' (the one of the input size the model was trained at)')
    if has_folded_batchnorm(checkpoint['state_dict']):
        print('note: its BatchNorms are folded into the convolutions (an inference export); '
              'to fine-tune from it, add BNRecalibrationHook to custom_hooks (docs/fine_tuning.md, '
              '"Fine-tuning on your own classes")')


if __name__ == '__main__':
    sys.exit(exit_status(main))
