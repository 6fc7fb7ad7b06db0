"""The config set-up that tools/train.py and tools/test.py share."""
import os.path as osp
from typing import Optional

from mmengine.config import Config


def load_run_config(config: str, cfg_options: Optional[dict], work_dir: Optional[str],
                    launcher: str) -> Config:
    """Read a config, apply ``--cfg-options`` and pick the work dir as MMDetection's tools do.

    Args:
        config (str): Config file path.
        cfg_options (dict, optional): Overrides merged into the config.
        work_dir (str, optional): ``--work-dir``; otherwise the config's, otherwise
            ``work_dirs/<config name>``.
        launcher (str): ``--launcher``.

    Returns:
        Config: The config, ready for ``Runner.from_cfg``.
    """
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg
