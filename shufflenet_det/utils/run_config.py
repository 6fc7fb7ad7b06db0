"""The config set-up that the tools share."""
import os.path as osp
from typing import Any, Iterator, Optional, Sequence, Tuple

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


def _annotation_files(section: str, cfg: Any) -> Iterator[Tuple[str, str]]:
    """Yield ``(config key, path)`` of every local annotation file a dataloader, its wrapped
    datasets or an evaluator reads.

    Args:
        section (str): The config key of ``cfg``, for the message.
        cfg: A dataloader, dataset or evaluator config, a list of them, or None.
    """
    if isinstance(cfg, (list, tuple)):
        for i, item in enumerate(cfg):
            yield from _annotation_files(f'{section}[{i}]', item)
        return
    if not isinstance(cfg, dict):
        return
    for key in ('dataset', 'datasets'):
        if cfg.get(key) is not None:
            yield from _annotation_files(f'{section}.{key}', cfg[key])
    ann_file = cfg.get('ann_file')
    if not ann_file or cfg.get('backend_args') or cfg.get('file_client_args'):
        return  # a storage backend may map even a local-looking path elsewhere
    data_root = cfg.get('data_root')  # a dataset's; evaluators name the full path
    if data_root and not osp.isabs(ann_file):
        ann_file = osp.join(data_root, ann_file)
    if '://' not in ann_file:
        yield f'{section}.ann_file', ann_file


def check_annotation_files(cfg: Config, sections: Sequence[str]) -> None:
    """Stop with one line when an annotation file the run will read does not exist.

    Args:
        cfg (Config): The run's config.
        sections (Sequence[str]): Dataloaders and evaluators the run uses, such as
            ``('train_dataloader', 'val_dataloader', 'val_evaluator')``.

    Raises:
        SystemExit: Naming the config key and the missing path, instead of the traceback the
            dataset would raise after the model is built.
    """
    for section in sections:
        for key, path in _annotation_files(section, cfg.get(section)):
            if not osp.isfile(path):
                raise SystemExit(
                    f'error: {key} not found: {path}. Put COCO under data/coco/, or point '
                    'the config at your own data (README, "A custom COCO-format dataset"); '
                    '`make demo` trains on a generated dataset instead.')
