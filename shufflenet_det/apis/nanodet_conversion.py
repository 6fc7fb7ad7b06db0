"""NanoDet's released checkpoints (NanoDet's own layout) converted into checkpoints of this
project's matching configs, checked strictly against the detector before they are used."""
import os
import re
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.config import Config

from mmdet.datasets import CocoDataset

from shufflenet_det.models.dense_heads import NanoDetHead
from shufflenet_det.models.nanodet_checkpoint import (convert_nanodet, identify_nanodet,
                                                      select_nanodet_weights)
from shufflenet_det.utils import (CheckpointError, build_checked_model, check_weights_fit,
                                  safe_torch_load)

# NanoDet's models and widths -> this project's configs (in its configs/ folder) of the same
# network (a file does not say at which input size it was trained: NanoDet-m 1.0x has a 320 and a
# 416 model).
NANODET_CONFIGS: Dict[Tuple[str, float], List[str]] = {
    ('NanoDet-m', 0.5): ['nanodet_shufflenetv2-0.5x_lightpan_320_coco.py'],
    ('NanoDet-m', 1.0): ['nanodet_shufflenetv2_lightpan_320_coco.py',
                         'nanodet_shufflenetv2_lightpan_416_coco.py'],
    ('NanoDet-m', 1.5): ['nanodet_shufflenetv2-1.5x_lightpan_320_coco.py'],
    ('NanoDet-Plus', 1.0): ['nanodet-plus_shufflenetv2_ghostpan_320_coco.py',
                            'nanodet-plus_shufflenetv2_ghostpan_416_coco.py'],
    ('NanoDet-Plus', 1.5): ['nanodet-plus_shufflenetv2-1.5x_ghostpan_320_coco.py'],
}
COCO_CLASSES = 80


def _build_head(config: str) -> Tuple[torch.nn.Module, NanoDetHead]:
    """The detector of the config file ``config`` and its head, which must be a
    ``NanoDetHead``."""
    cfg = Config.fromfile(config)
    model = build_checked_model(cfg.model, cfg.get('default_scope', 'mmdet'))
    if not isinstance(getattr(model, 'bbox_head', None), NanoDetHead):
        raise CheckpointError(f'{config} is not a NanoDet-style detector (NanoDetHead); NanoDet '
                              'weights go into one')
    return model, model.bbox_head


def _config_for_file(src: str, names: List[str]) -> str:
    """The config of ``names`` for the input size the file's name states, as NanoDet names
    its files (``nanodet_m_416.ckpt``); else the first."""
    sizes = re.findall(r'(?<![0-9])([0-9]{3})(?![0-9])', Path(src).stem)
    return next((name for name in names for size in sizes if f'_{size}_' in name), names[0])


def convert_nanodet_checkpoint(src: str, configs_dir: Path, config: Optional[str] = None,
                               use_ema: bool = True) -> Tuple[dict, str]:
    """The converted checkpoint of NanoDet's file ``src`` and a description of it.

    Args:
        src (str): NanoDet's ``.ckpt`` or ``.pth``.
        configs_dir (Path): The project's ``configs/`` folder, where the matching configs are.
        config (str, optional): Check the weights against this config file instead of the
            matching one (``NANODET_CONFIGS``; of the input size the file's name states, as in
            ``nanodet_m_416.ckpt``, else the first). Default: None.
        use_ema (bool): From a ``.ckpt`` with an EMA copy, take it. Default: True.

    Returns:
        tuple[dict, str]: The checkpoint (``state_dict`` and ``meta``, whose ``config`` is
        ``config`` or the first matching config and ``matching_configs`` the matching ones,
        named ``configs/<file>``), and what the file held, for messages.

    Raises:
        CheckpointError: Not NanoDet weights, or weights that do not fit the config.
    """
    weights, which = select_nanodet_weights(safe_torch_load(src), use_ema)
    family, width, channels = identify_nanodet(weights)
    if (family, width) not in NANODET_CONFIGS:
        widths = sorted(w for f, w in NANODET_CONFIGS if f == family)
        raise CheckpointError(f'{src}: this project has no config for {family} {width}x, only '
                              f'for widths {widths}')
    names = NANODET_CONFIGS[family, width]
    matching = [f'configs/{name}' for name in names]  # as the repository's tools name them
    picked = _config_for_file(src, names)
    model, head = _build_head(config or str(configs_dir / picked))
    config = config or f'configs/{picked}'
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
