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
from typing import Optional, Sequence, Tuple

import torch
from mmengine.config import Config

from mmdet.datasets import CocoDataset

import shufflenet_det  # noqa: F401  (registers the modules)
from shufflenet_det.engine import atomic_write
from shufflenet_det.models.dense_heads import NanoDetHead
from shufflenet_det.models.nanodet_checkpoint import (convert_nanodet, identify_nanodet,
                                                      select_nanodet_weights)
from shufflenet_det.utils import (CheckpointError, build_checked_model, check_weights_fit,
                                  safe_torch_load)
from shufflenet_det.utils.cli import exit_status

REPO = Path(__file__).resolve().parents[2]
# NanoDet's models and widths -> this project's configs of the same network (a file does not say
# at which input size it was trained: NanoDet-m 1.0x has a 320 and a 416 model).
CONFIGS = {
    ('NanoDet-m', 0.5): ['configs/nanodet_shufflenetv2-0.5x_lightpan_320_coco.py'],
    ('NanoDet-m', 1.0): ['configs/nanodet_shufflenetv2_lightpan_320_coco.py',
                         'configs/nanodet_shufflenetv2_lightpan_416_coco.py'],
    ('NanoDet-m', 1.5): ['configs/nanodet_shufflenetv2-1.5x_lightpan_320_coco.py'],
    ('NanoDet-Plus', 1.0): ['configs/nanodet-plus_shufflenetv2_ghostpan_320_coco.py',
                            'configs/nanodet-plus_shufflenetv2_ghostpan_416_coco.py'],
    ('NanoDet-Plus', 1.5): ['configs/nanodet-plus_shufflenetv2-1.5x_ghostpan_320_coco.py'],
}
COCO_CLASSES = 80


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


def build_head(config: str) -> Tuple[torch.nn.Module, NanoDetHead]:
    """The detector of ``config`` (relative paths from the current directory, then from the
    repository) and its head, which must be a ``NanoDetHead``."""
    cfg = Config.fromfile(config if os.path.isfile(config) else str(REPO / config))
    model = build_checked_model(cfg.model, cfg.get('default_scope', 'mmdet'))
    if not isinstance(getattr(model, 'bbox_head', None), NanoDetHead):
        raise CheckpointError(f'{config} is not a NanoDet-style detector (NanoDetHead); NanoDet '
                              'weights go into one')
    return model, model.bbox_head


def convert(src: str, config: Optional[str], use_ema: bool) -> Tuple[dict, str]:
    """The converted checkpoint of ``src`` and a description of it.

    The weights are checked against the detector of ``config`` (None: the matching one of
    ``CONFIGS``); any mismatch raises :class:`CheckpointError`.
    """
    weights, which = select_nanodet_weights(safe_torch_load(src), use_ema)
    family, width, channels = identify_nanodet(weights)
    if (family, width) not in CONFIGS:
        widths = sorted(w for f, w in CONFIGS if f == family)
        raise CheckpointError(f'{src}: this project has no config for {family} {width}x, only '
                              f'for widths {widths}')
    matching = CONFIGS[family, width]
    config = config or matching[0]
    model, head = build_head(config)
    state_dict = convert_nanodet(weights, family)
    expected = model.state_dict()
    # NanoDet's SimpleConvHead has no bins of its own (NanoDet's head integrates for it); this
    # project's keeps them as a constant buffer.
    if 'aux_head.integral.project' in expected and family == 'NanoDet-Plus':
        state_dict.setdefault('aux_head.integral.project', expected['aux_head.integral.project'])
    outputs = state_dict.get('bbox_head.out_convs.0.weight')
    num_classes = None if outputs is None else outputs.shape[0] - 4 * (head.reg_max + 1)
    neck = 'PAN' if family == 'NanoDet-m' else 'GhostPAN'
    source = f'{src} ({family} {width}x, {neck} {channels}, {num_classes} classes, {which})'
    try:
        check_weights_fit(expected, state_dict, source, f'the detector of {config}')
    except CheckpointError as err:
        hint = f'; the configs for this file: {", ".join(matching)}'
        if num_classes not in (None, COCO_CLASSES):
            hint += f', with model.bbox_head.num_classes={num_classes}'
        raise CheckpointError(f'{err}{hint}') from None
    model.load_state_dict(state_dict, strict=False)  # every key was checked above
    meta = dict(source=os.path.basename(src), nanodet_weights=which, config=config,
                matching_configs=matching)
    if num_classes == COCO_CLASSES:
        meta['dataset_meta'] = dict(CocoDataset.METAINFO)
    return dict(state_dict=model.state_dict(), meta=meta), source


def has_folded_batchnorm(state_dict: dict) -> bool:
    """Whether every BatchNorm is an identity (weight 1, mean 0, variance 1 - eps): the
    weights of an inference export, whose BatchNorms were folded into the convolutions."""
    prefixes = [k[:-len('running_var')] for k in state_dict if k.endswith('running_var')]
    return bool(prefixes) and all(
        bool((state_dict[p + 'weight'] == 1).all() and (state_dict[p + 'running_mean'] == 0).all())
        and torch.allclose(state_dict[p + 'running_var'], torch.tensor(1 - 1e-5))
        for p in prefixes)


def main() -> None:
    args = parse_args()
    checkpoint, source = convert(args.src, args.config, not args.no_ema)
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
