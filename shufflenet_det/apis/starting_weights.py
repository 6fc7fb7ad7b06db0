"""Where a fine-tuning run starts: NanoDet's published weights (converted on the fly), a
checkpoint of this project, or scratch; with the detector config that fits it."""
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

from mmengine.config import Config
from mmengine.registry import init_default_scope

from shufflenet_det.errors import ConfigError
from shufflenet_det.utils import (CheckpointError, build_checked_model, check_weights_fit,
                                  safe_torch_load)

from .nanodet_conversion import convert_nanodet_checkpoint

SCRATCH = 'scratch'
DEFAULT_CONFIG = 'nanodet_shufflenetv2_lightpan_320_coco.py'
NANODET_WEIGHTS = 'https://github.com/RangiLyu/nanodet#model-zoo'  # its published weights
HEADS = ('bbox_head.', 'aux_head.')  # their output convs follow the classes


@dataclass
class StartingPoint:
    """The detector config of a run and the weights it starts from.

    Args:
        config (Config): The detector's config.
        config_name (str): Where it came from, for messages.
        checkpoint (dict, optional): The weights to start from, loaded (and converted); None
            from scratch.
        source (str): What the weights are, for messages.
        converted (bool): Whether ``checkpoint`` was converted from NanoDet's layout (and so
            must be written for ``load_from``).
    """

    config: Config
    config_name: str
    checkpoint: Optional[dict]
    source: str
    converted: bool = False


def _missing_from() -> ConfigError:
    return ConfigError(
        "say where training starts: --from nanodet_m_416.ckpt (NanoDet's published COCO "
        f"weights, converted on the fly: download NanoDet-m's checkpoint from "
        f'{NANODET_WEIGHTS}), --from a checkpoint of this project, or --from scratch')


def _project_config(checkpoint: dict, path: str, configs_dir: Path) -> Tuple[Config, str]:
    """The config a project checkpoint names, and its name: ``meta.config`` (a converted
    NanoDet file) or the ``meta.cfg`` MMEngine's runner saves."""
    meta = checkpoint.get('meta') or {}
    named = meta.get('config')
    if isinstance(named, str):
        for candidate in (Path(named), configs_dir.parent / named):
            if candidate.is_file():
                return Config.fromfile(str(candidate)), named
    if isinstance(meta.get('cfg'), str):
        return Config.fromstring(meta['cfg'], file_format='.py'), f'the config saved in {path}'
    raise ConfigError(f'{path} does not name the config it was trained with; pass it with '
                      '--config')


def check_architecture(cfg: Config, checkpoint: dict, path: str, config_name: str) -> None:
    """Refuse a checkpoint whose weights do not fit ``cfg``'s detector, apart from the
    heads' class rows (ClassTransferHook's work).

    Raises:
        CheckpointError: In one line, naming a tensor that does not fit and what to do.
    """
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    expected = build_checked_model(cfg.model, cfg.get('default_scope', 'mmdet')).state_dict()
    weights = checkpoint.get('state_dict', checkpoint)
    # A head's class rows may number otherwise: the model takes the file's shape for them.
    expected = {key: weights[key] if key in weights and key.startswith(HEADS)
                and weights[key].shape[1:] == value.shape[1:] else value
                for key, value in expected.items()}
    check_weights_fit(expected, weights, path, f'the detector of {config_name}',
                      hint='; pass the config it was trained with as --config, or start from '
                      'weights of this detector')


def check_start_arguments(source: Optional[str], config: Optional[str]) -> None:
    """Refuse, before anything is read, a missing ``--from`` and a ``--from`` or ``--config``
    file that does not exist.

    Args:
        source (str, optional): ``--from``.
        config (str, optional): ``--config``.

    Raises:
        ConfigError: Saying what to give.
    """
    if source is None:
        raise _missing_from()
    if config is not None and not os.path.isfile(config):
        raise ConfigError(f'--config {config}: no such file')
    if source != SCRATCH and not os.path.isfile(source):
        raise ConfigError(f'--from {source}: no such file (give a checkpoint file or '
                          f"'{SCRATCH}')")


def starting_point(source: Optional[str], config: Optional[str],
                   configs_dir: Path) -> StartingPoint:
    """Resolve ``--from`` and ``--config``.

    Args:
        source (str, optional): ``--from``: NanoDet's ``.ckpt``/``.pth``, a checkpoint of this
            project, or ``'scratch'``.
        config (str, optional): ``--config``: the detector's config file. Default: NanoDet's
            matching config for its weights, the checkpoint's own for a project checkpoint,
            NanoDet-m at 320 from scratch.
        configs_dir (Path): The project's ``configs/`` folder.

    Returns:
        StartingPoint: The config and the loaded weights.

    Raises:
        ConfigError: No ``--from``, a missing file, or a checkpoint that names no config.
        CheckpointError: Weights that are not a detector's or do not fit the config.
    """
    check_start_arguments(source, config)
    if source == SCRATCH:
        cfg = Config.fromfile(config or str(configs_dir / DEFAULT_CONFIG))
        return StartingPoint(cfg, config or f'configs/{DEFAULT_CONFIG}', None, 'scratch')
    checkpoint = safe_torch_load(source)
    weights = checkpoint.get('state_dict') if isinstance(checkpoint, dict) else None
    if isinstance(weights, dict) and any(k.startswith(HEADS) for k in weights):
        cfg, name = ((Config.fromfile(config), config) if config else
                     _project_config(checkpoint, source, configs_dir))
        check_architecture(cfg, checkpoint, source, name)
        return StartingPoint(cfg, name, checkpoint, source)
    try:
        converted, description = convert_nanodet_checkpoint(source, configs_dir, config)
    except CheckpointError as error:
        raise CheckpointError(str(error) if source in str(error) else
                              f'--from {source}: {error}') from None
    name = config or converted['meta']['config']  # configs/<file>, as the repository names it
    cfg = Config.fromfile(config or str(configs_dir.parent / name))
    return StartingPoint(cfg, name, converted, description, converted=True)
