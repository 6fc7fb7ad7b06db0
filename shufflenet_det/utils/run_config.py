"""The config set-up that the tools share."""
import os.path as osp
from typing import Optional

from mmengine.config import Config

from .model_config_check import ModelConfigError, check_model_config


def load_config(config: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config, apply ``--cfg-options`` and check the model's arguments and wiring.

    Args:
        config (str): Config file path.
        cfg_options (dict, optional): Overrides merged into the config. Default: None.

    Returns:
        Config: The config.

    Raises:
        SystemExit: With one line, ``error: ...``, when the model config cannot work (see
            :func:`check_model_config`): for the command-line tools, instead of a traceback.
    """
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' in cfg:
        try:
            check_model_config(cfg.model, cfg.get('default_scope', 'mmdet'))
        except ModelConfigError as err:
            raise SystemExit(f'error: {err}') from None
    return cfg


def load_run_config(config: str, cfg_options: Optional[dict], work_dir: Optional[str],
                    launcher: str) -> Config:
    """Read and check a config as :func:`load_config` does, and pick the work dir as
    MMDetection's tools do.

    Args:
        config (str): Config file path.
        cfg_options (dict, optional): Overrides merged into the config.
        work_dir (str, optional): ``--work-dir``; otherwise the config's, otherwise
            ``work_dirs/<config name>``.
        launcher (str): ``--launcher``.

    Returns:
        Config: The config, ready for ``Runner.from_cfg``.
    """
    cfg = load_config(config, cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg
