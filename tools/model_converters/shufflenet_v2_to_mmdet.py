r"""Convert ShuffleNet V2 weights (torchvision, mmpretrain/mmcls or Megvii ShuffleNet-Series)
into this project's layout, checked strictly against the backbone they are meant for.

Example:
    python tools/model_converters/shufflenet_v2_to_mmdet.py \
        shufflenetv2_x1-5666bf0f80.pth checkpoints/shufflenetv2_x1_mmdet.pth
Then: backbone=dict(type='ShuffleNetV2', init_cfg=dict(type='Pretrained',
      checkpoint='checkpoints/shufflenetv2_x1_mmdet.pth'))
"""
import argparse
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

import torch

from shufflenet_det.models.backbones import ShuffleNetV2
from shufflenet_det.models.backbones.shufflenet_v2_checkpoint import (
    infer_widen_factor, load_native_weights, read_shufflenet_v2_checkpoint)
from shufflenet_det.utils import CheckpointError
from shufflenet_det.utils.cli import exit_status


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='source checkpoint')
    parser.add_argument('dst', help='where to write the converted checkpoint')
    parser.add_argument('--prefix', help="prefix of the backbone's keys, e.g. 'backbone.'")
    parser.add_argument('--extra-dw', action='store_true',
                        help='write ShuffleNetV2* weights, extra depthwise convs as identity')
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    state_dict, layout = read_shufflenet_v2_checkpoint(args.src, args.prefix)
    width = infer_widen_factor(state_dict)
    if width is None:
        raise CheckpointError(f'{args.src}: stage-2 width matches no ShuffleNetV2 width')
    backbone = ShuffleNetV2(widen_factor=width, extra_dw=args.extra_dw)
    load_native_weights(backbone, state_dict, f'{args.src} ({layout} layout)')
    dst = Path(args.dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(source=os.path.basename(args.src), source_layout=layout,
                widen_factor=width, extra_dw=args.extra_dw)
    partial = dst.with_name(dst.name + '.part')
    torch.save({'state_dict': backbone.state_dict(), 'meta': meta}, partial)
    os.replace(partial, dst)  # never leave a half-written file under the final name
    print(f'converted {args.src} ({layout} layout, widen_factor={width}) -> {dst}')


if __name__ == '__main__':
    sys.exit(exit_status(main))
