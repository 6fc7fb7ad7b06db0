"""The config set-up that the tools share: read a config, build its runner or its detector,
check its datasets before anything is built."""
import ast
import logging
import os.path as osp
import traceback
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import torch
from mmdet.registry import DATASETS
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import RUNNERS, init_default_scope
from mmengine.runner import Runner

from shufflenet_det.datasets import DatasetError
from shufflenet_det.errors import ConfigError
from shufflenet_det.evaluation import check_evaluator_config

from .model_config_check import build_checked_model, check_model_wiring, explain_build_errors


def load_config(config: str, cfg_options: Optional[dict] = None) -> Config:
    """Read a config and apply ``--cfg-options``.

    Args:
        config (str): Config file path.
        cfg_options (dict, optional): Overrides merged into the config. Default: None.

    Returns:
        Config: The config.

    Raises:
        ConfigError: In one line, for a missing file or one that does not read as a config: a
            syntax error, a missing ``_base_``, an error raised by the config's own code (its
            file and line). An error raised inside a library keeps its traceback.
    """
    if not osp.isfile(config):
        raise ConfigError(f'{config}: ' + ('a folder, not a config file' if osp.isdir(config)
                                           else 'no such config file'))
    try:
        cfg = Config.fromfile(config)
    except SyntaxError as error:  # MMEngine parses the text: the file is "<unknown>"
        raise ConfigError(f'{syntax_error_place(config, error)}: {error.msg} (a config is '
                          'Python; this line is not)') from error
    except OSError as error:  # a _base_ that is not there
        raise ConfigError(f'{config} does not read as a config: {error}') from error
    except Exception as error:
        frame = traceback.extract_tb(error.__traceback__)[-1]
        detail = f'{type(error).__name__}: {" ".join(str(error).split()) or "no message"}'
        if frame.name == '<module>':  # the config's own code (or a _base_'s) raised it
            raise ConfigError(f'{frame.filename}:{frame.lineno}: {detail}') from error
        if Path(frame.filename).parent.parts[-2:] == ('mmengine', 'config'):  # its parsing
            raise ConfigError(f'{config} does not read as a config: {detail}') from error
        raise  # raised inside a library's function: its traceback says where
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def syntax_error_place(config: str, error: SyntaxError) -> str:
    """Where a config's syntax error is: ``file:line`` in the config, or, when the config
    itself parses, the line of one of the ``_base_`` files it reads.

    Args:
        config (str): The config file.
        error (SyntaxError): MMEngine's error, whose file name it does not keep.

    Returns:
        str: The place, for the message.
    """
    try:
        with open(config, encoding='utf-8') as file:
            ast.parse(file.read())
    except SyntaxError:
        return f'{config}:{error.lineno}'
    return f'{config}: a _base_ it reads, line {error.lineno}'


def load_run_config(config: str, cfg_options: Optional[dict], work_dir: Optional[str],
                    launcher: str) -> Config:
    """Read a config as :func:`load_config` does, and pick the work dir as MMDetection's
    tools do.

    Args:
        config (str): Config file path.
        cfg_options (dict, optional): Overrides merged into the config.
        work_dir (str, optional): ``--work-dir``; otherwise the config's, otherwise
            ``work_dirs/<config name>``.
        launcher (str): ``--launcher``.

    Returns:
        Config: The config, ready for ``Runner.from_cfg``.

    Raises:
        ConfigError: As :func:`load_config`, and for a work dir that is a file.
    """
    cfg = load_config(config, cfg_options)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    if osp.isfile(cfg.work_dir):
        raise ConfigError(f'the work dir {cfg.work_dir} is a file, not a folder; give another '
                          '--work-dir')
    return cfg


def build_runner(cfg: Config) -> Runner:
    """Build the runner of a config as MMDetection's tools do (``runner_type`` or MMEngine's
    ``Runner``), and with it the model, once; then check the model's wiring.

    Args:
        cfg (Config): The run's config.

    Returns:
        Runner: The runner; no dataset is built yet.

    Raises:
        ModelConfigError: In one line, when the model config cannot work (see
            :func:`explain_build_errors` and :func:`check_model_wiring`).
    """
    with explain_build_errors(cfg.model):
        runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    check_model_wiring(runner.model, cfg.model)
    return runner


def build_detector(config: str,
                   cfg_options: Optional[dict] = None) -> Tuple[Config, torch.nn.Module]:
    """Build (and initialise) the detector of a config file, in eval mode.

    Args:
        config (str): Config file path.
        cfg_options (dict, optional): Overrides merged into the config. Default: None.

    Returns:
        tuple: The config and the detector.

    Raises:
        ModelConfigError: In one line, when the model config cannot work.
    """
    cfg = load_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = build_checked_model(cfg.model, cfg.get('default_scope', 'mmdet'))
    # Without a runner's log file MMEngine reports every parameter's initialisation on stdout.
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        model.init_weights()
    finally:
        logger.setLevel(level)
    return cfg, model.eval()


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
        DatasetError: Naming the config key and the missing path, before the model is built
            (the dataset would raise a traceback after it).
    """
    for section in sections:
        for key, path in _annotation_files(section, cfg.get(section)):
            if not osp.isfile(path):
                raise DatasetError(
                    f'{key} not found: {path}. Put COCO under data/coco/, or point the config '
                    'at your own data (docs/fine_tuning.md, "A custom COCO-format dataset"); '
                    '`make demo` trains on a generated dataset instead.')


def leaf_datasets(section: str, cfg: Any) -> Iterator[Tuple[str, dict]]:
    """Yield ``(config key, config)`` of every dataset in a dataloader or dataset config that
    wraps no other, looking into ``dataset`` and ``datasets``.

    Args:
        section (str): The config key of ``cfg``, e.g. ``'train_dataloader'``.
        cfg: A dataloader or dataset config, a list of them, or None.
    """
    if isinstance(cfg, (list, tuple)):
        for i, item in enumerate(cfg):
            yield from leaf_datasets(f'{section}[{i}]', item)
    elif isinstance(cfg, dict):
        inner = [(key, cfg[key]) for key in ('dataset', 'datasets') if cfg.get(key) is not None]
        for key, value in inner:
            yield from leaf_datasets(f'{section}.{key}', value)
        if not inner and 'type' in cfg:
            yield section, cfg


def input_size(cfg: Config) -> Tuple[int, int]:
    """The (height, width) a config's test pipeline resizes to.

    Args:
        cfg (Config): A config whose ``test_dataloader`` (possibly wrapped) has a ``Resize``
            with a ``scale`` (width, height) in its pipeline.

    Returns:
        tuple[int, int]: Height and width.

    Raises:
        ConfigError: When the test pipeline resizes to no fixed size.
    """
    for _, dataset in leaf_datasets('test_dataloader', cfg.get('test_dataloader')):
        for transform in dataset.get('pipeline', []):
            if transform.get('type') == 'Resize' and transform.get('scale'):
                width, height = transform['scale']
                return height, width
    raise ConfigError("the config's test pipeline has no Resize with a scale to measure or "
                      'export at; give the input size (--shape H W)')


def _classes(dataset_cfg: dict) -> Any:
    """The classes a dataset config names, or those of its dataset class by default."""
    classes = (dataset_cfg.get('metainfo') or {}).get('classes')
    if classes is None:
        dataset_cls = DATASETS.get(dataset_cfg['type'])
        classes = getattr(dataset_cls, 'METAINFO', {}).get('classes')
    return classes


def config_classes(cfg: Config) -> Optional[Tuple[str, ...]]:
    """The class names of a config's test set, what its model's labels mean: the dataset's
    ``metainfo.classes``, or its dataset class's own (COCO's 80 for ``CocoDataset``).

    Args:
        cfg (Config): The config.

    Returns:
        tuple[str] | None: The names, or None when the test set names none.
    """
    for _, dataset_cfg in leaf_datasets('test_dataloader', cfg.get('test_dataloader')):
        classes = _classes(dataset_cfg) if dataset_cfg.get('type') in DATASETS else None
        if classes is not None:
            return tuple(classes)
    return None


def _num_classes(cfg: Any, key: str) -> Iterator[Tuple[str, int]]:
    """Yield ``(config key, value)`` of every ``num_classes`` in a model config."""
    if isinstance(cfg, dict):
        for name, value in cfg.items():
            if name == 'num_classes':
                yield f'{key}.{name}', value
            else:
                yield from _num_classes(value, f'{key}.{name}')


def check_dataset_config(cfg: Config, sections: Sequence[str]) -> None:
    """Check where the datasets, the evaluators and the model meet, before anything is built.

    - every dataset's classes are a tuple or list of names, not a string;
    - all datasets of the run name the same classes (an evaluation with other classes scores
      each label as another class);
    - the model's ``num_classes`` equals the number of classes;
    - an evaluator reads the annotation file its dataloader's dataset reads (COCO's evaluator
      would score the predictions against other annotations);
    - COCO evaluators' options (:func:`check_evaluator_config`).

    Args:
        cfg (Config): The run's config.
        sections (Sequence[str]): Dataloaders and evaluators the run uses, such as
            ``('train_dataloader', 'val_dataloader', 'val_evaluator')``.

    Raises:
        DatasetError: In one line naming the config keys and the fix.
        ConfigError: In one line, on an evaluator option that cannot work.
    """
    named: List[Tuple[str, Any]] = []
    for section in sections:
        if section.endswith('_dataloader'):
            for key, dataset_cfg in leaf_datasets(section, cfg.get(section)):
                classes = _classes(dataset_cfg) if dataset_cfg['type'] in DATASETS else None
                if classes is not None:
                    named.append((key, classes))
    for key, classes in named:
        if isinstance(classes, str):
            raise DatasetError(f'{key}.metainfo classes is the string {classes!r}, not a tuple '
                               f'of names; write classes=({classes!r},) with the comma.')
        if tuple(classes) != tuple(named[0][1]):
            raise DatasetError(f'{key} names the classes {tuple(classes)}, {named[0][0]} '
                               f'{tuple(named[0][1])}; each label would mean another class. '
                               'Give every dataset of the run the same metainfo classes.')
    if named and 'model' in cfg:
        for key, num_classes in _num_classes(cfg.model, 'model'):
            if num_classes != len(named[0][1]):
                raise DatasetError(f'{key} is {num_classes} but {named[0][0]} names '
                                   f'{len(named[0][1])} classes; set {key}='
                                   f'{len(named[0][1])}.')
    for section in sections:
        if not section.endswith('_evaluator'):
            continue
        loader = section.replace('_evaluator', '_dataloader')
        dataset_files = [path for _, path in _annotation_files(loader, cfg.get(loader))]
        for key, path in _annotation_files(section, cfg.get(section)):
            if (len(dataset_files) == 1 and osp.isfile(path) and osp.isfile(dataset_files[0])
                    and not osp.samefile(path, dataset_files[0])):
                raise DatasetError(f'{key} is {path}, but {loader} reads {dataset_files[0]}: '
                                   'the predictions would be scored against other '
                                   'annotations; point both at one file.')
    check_evaluator_config(cfg, sections)
