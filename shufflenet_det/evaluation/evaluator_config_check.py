"""Check a config's COCO evaluators before anything is built: options that MMDetection's
``CocoMetric`` documents but that would fail, or report a meaningless -1, only once the whole
evaluation has run."""
from typing import Any, Iterator, Sequence, Set, Tuple

import numpy as np
from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS
from mmengine.config import Config

from shufflenet_det.errors import ConfigError

from .metrics.checked_coco_metric import COCO_METRIC_ITEMS, CheckedCocoMetric, check_metric_items

# What pycocotools' COCOeval.summarize computes for CocoMetric's metric_items: the IoU
# threshold of the two single-threshold APs, and which of the three detection caps
# (proposal_nums) each AR is measured at. mAP is measured at 100 detections an image.
COCO_SINGLE_IOU_ITEMS = {'mAP_50': 0.5, 'mAP_75': 0.75}
COCO_AR_ITEM_CAP = {'AR@100': 0, 'AR@300': 1, 'AR@1000': 2, 'AR_s@1000': 2, 'AR_m@1000': 2,
                    'AR_l@1000': 2}
# The items CocoMetric reports for each of its metrics when metric_items is not set
# ('proposal_fast' is not summarised by pycocotools).
COCO_DEFAULT_ITEMS = {'bbox': COCO_METRIC_ITEMS[:6], 'segm': COCO_METRIC_ITEMS[:6],
                      'proposal': COCO_METRIC_ITEMS[6:], 'proposal_fast': ()}
ORDINALS = ('1st', '2nd', '3rd')


def _metric_configs(section: str, cfg: Any) -> Iterator[Tuple[str, dict]]:
    """Yield ``(config key, config)`` of every metric in an evaluator config: one metric, a
    list of them, or an ``Evaluator`` with ``metrics``."""
    if isinstance(cfg, (list, tuple)):
        for i, item in enumerate(cfg):
            yield from _metric_configs(f'{section}[{i}]', item)
    elif isinstance(cfg, dict) and 'metrics' in cfg:
        yield from _metric_configs(f'{section}.metrics', cfg['metrics'])
    elif isinstance(cfg, dict) and 'type' in cfg:
        yield section, cfg


def _numbers(values: Sequence[Any], kind: type = float) -> bool:
    """Whether all ``values`` are numbers of ``kind`` (``float`` takes ints too), not bools."""
    kinds = (int, float) if kind is float else kind
    return all(isinstance(v, kinds) and not isinstance(v, bool) for v in values)


def _check_iou_thrs(key: str, options: dict, items: Sequence[str], evaluated: bool,
                    iou_thrs_as_array: bool) -> None:
    """The ``iou_thrs`` rules of :func:`_check_coco_metric`."""
    iou_thrs = options['iou_thrs']
    thresholds = list(iou_thrs) if isinstance(iou_thrs, (list, tuple, np.ndarray)) \
        else [iou_thrs]
    if not thresholds or not _numbers(thresholds) or not all(0 < t <= 1 for t in thresholds):
        raise ConfigError(f'{key}.iou_thrs={iou_thrs!r}: give IoU thresholds between 0 and 1, '
                          f'e.g. {key}.iou_thrs=[0.5, 0.75].')
    if not evaluated:
        return
    if not iou_thrs_as_array and not isinstance(iou_thrs, np.ndarray):
        raise ConfigError(
            f"{key}.iou_thrs={iou_thrs!r}: MMDetection's CocoMetric hands it to pycocotools as "
            'written, which fails on a list or a number (numpy >= 2.1) once the whole '
            f"evaluation has run; set {key}.type='CheckedCocoMetric', which passes it as an "
            'array, or leave iou_thrs unset.')
    for item, threshold in COCO_SINGLE_IOU_ITEMS.items():
        if item in items and threshold not in thresholds:
            computable = [i for i in items if i not in COCO_SINGLE_IOU_ITEMS
                          or COCO_SINGLE_IOU_ITEMS[i] in thresholds]
            raise ConfigError(
                f'{key}.iou_thrs={iou_thrs!r} has no {threshold}, the threshold of {item} '
                f'(pycocotools would report -1); add {threshold} to iou_thrs or set '
                f'{key}.metric_items={computable}.')
    if options.get('classwise') and (len(thresholds) < 6 or thresholds[0] != 0.5
                                     or thresholds[5] != 0.75):
        raise ConfigError(
            f"{key}.classwise=True reads each class's mAP_50 and mAP_75 at the 1st and 6th of "
            f'iou_thrs, which are not 0.5 and 0.75 in {key}.iou_thrs={iou_thrs!r}; leave '
            f'iou_thrs unset (0.5:0.05:0.95) or set {key}.classwise=False.')


def _check_proposal_nums(key: str, proposal_nums: Any, items: Sequence[str],
                         evaluated: bool) -> None:
    """The ``proposal_nums`` rules of :func:`_check_coco_metric`."""
    if not isinstance(proposal_nums, (list, tuple)) or not proposal_nums or \
            not _numbers(proposal_nums, int) or min(proposal_nums) < 1:
        raise ConfigError(
            f'{key}.proposal_nums={proposal_nums!r}: give caps of detections an image as a list '
            f'of whole numbers, e.g. {key}.proposal_nums=[100, 300, 1000] (the default).')
    if not evaluated:
        return
    if len(proposal_nums) != 3:
        raise ConfigError(
            f"{key}.proposal_nums={proposal_nums!r}: pycocotools' summary reads exactly three "
            f'caps of detections an image; write three, e.g. {key}.proposal_nums=[100, 300, '
            '1000] (the default).')
    if 'mAP' in items and 100 not in proposal_nums:
        raise ConfigError(
            f'{key}.proposal_nums={proposal_nums!r} has no 100, the cap pycocotools computes '
            f'mAP at (it would report -1); include 100, e.g. {key}.proposal_nums=[10, 100, '
            '1000].')
    for item in items:
        cap = COCO_AR_ITEM_CAP.get(item)
        if cap is not None and proposal_nums[cap] != int(item.partition('@')[2]):
            raise ConfigError(
                f'{key}.metric_items has {item}, which pycocotools measures at the '
                f'{ORDINALS[cap]} of {key}.proposal_nums={proposal_nums!r}, so it would be '
                'mislabelled; leave proposal_nums unset (100, 300, 1000) or leave the AR items '
                'out of metric_items.')


def _check_coco_metric(key: str, options: dict, iou_thrs_as_array: bool) -> None:
    """Stop with one line on a ``CocoMetric`` option that would fail or mislabel its results
    after the evaluation has run.

    Args:
        key (str): The metric's config key, e.g. ``'val_evaluator'``.
        options (dict): The metric's config.
        iou_thrs_as_array (bool): Whether the metric hands ``iou_thrs`` to pycocotools as an
            array (``CheckedCocoMetric``), rather than as written (MMDetection's).

    Raises:
        ConfigError: Naming the key, its value and what to write instead.
    """
    metrics = options.get('metric', 'bbox')
    metrics = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
    unknown = [metric for metric in metrics if metric not in COCO_DEFAULT_ITEMS]
    if unknown:
        raise ConfigError(f'{key}.metric has {unknown}, which CocoMetric does not compute; '
                          f'choose from {", ".join(COCO_DEFAULT_ITEMS)}.')
    items = options.get('metric_items')
    check_metric_items(f'{key}.metric_items', items)
    if options.get('format_only') and not options.get('outfile_prefix'):
        raise ConfigError(
            f'{key}.format_only=True writes the detections to <outfile_prefix>.bbox.json and '
            f'computes no metric, but {key}.outfile_prefix is not set; set it, e.g. '
            f'{key}.outfile_prefix=work_dirs/results (or format_only=False).')
    if items is None:
        items = [item for metric in metrics for item in COCO_DEFAULT_ITEMS[metric]]
    # pycocotools' summary runs unless the results are only written
    evaluated = not options.get('format_only') and any(metric != 'proposal_fast'
                                                       for metric in metrics)
    if options.get('iou_thrs') is not None:
        _check_iou_thrs(key, options, items, evaluated, iou_thrs_as_array)
    if options.get('proposal_nums') is not None:
        _check_proposal_nums(key, options['proposal_nums'], items, evaluated)


def check_evaluator_config(cfg: Config, sections: Sequence[str]) -> None:
    """Stop with one line on a COCO evaluator option that would fail, or report a mislabelled
    or meaningless (-1) metric, only after the evaluation has run.

    Checks every ``CocoMetric`` or ``CheckedCocoMetric`` (not the other subclasses of
    ``CocoMetric``, such as ``LVISMetric``, whose items differ) of the evaluators in
    ``sections``: ``metric``, ``metric_items``, ``format_only`` (which needs
    ``outfile_prefix``), ``iou_thrs`` (which MMDetection's ``CocoMetric`` cannot pass to
    pycocotools; ``mAP_50``, ``mAP_75`` and ``classwise`` need their thresholds) and
    ``proposal_nums`` (three caps; mAP needs 100; the ``AR@N`` items need N in their place).

    Args:
        cfg (Config): The run's config.
        sections (Sequence[str]): The run's evaluators (other sections are skipped), such as
            ``('val_evaluator', )``.

    Raises:
        ConfigError: Naming the config key, its value and what to write instead.
    """
    for section in sections:
        if not section.endswith('_evaluator'):
            continue
        for key, metric_cfg in _metric_configs(section, cfg.get(section)):
            metric_cls = _coco_metric_class(metric_cfg)
            if metric_cls is not None:
                _check_coco_metric(key, metric_cfg,
                                   iou_thrs_as_array=issubclass(metric_cls, CheckedCocoMetric))
    if 'val_evaluator' in sections:
        _check_save_best(cfg)


def _coco_metric_class(metric_cfg: dict) -> Any:
    """``CocoMetric`` or ``CheckedCocoMetric`` (a subclass) for their configs, else None."""
    metric_type = metric_cfg['type']
    metric_cls = metric_type if isinstance(metric_type, type) else METRICS.get(metric_type)
    checked = isinstance(metric_cls, type) and issubclass(metric_cls, CheckedCocoMetric)
    return metric_cls if metric_cls is CocoMetric or checked else None


def _reported_keys(options: dict) -> Set[str]:
    """The keys a ``CocoMetric`` config reports to the hooks (``coco/bbox_mAP``, ...), as
    MMDetection names them; its classwise ``<class>_precision`` keys left out."""
    if options.get('format_only'):
        return set()
    prefix = options.get('prefix') or CocoMetric.default_prefix
    metrics = options.get('metric', 'bbox')
    keys = set()
    for metric in ([metrics] if isinstance(metrics, str) else metrics):
        if metric == 'proposal_fast':
            keys.update(f'AR@{num}' for num in options.get('proposal_nums', (100, 300, 1000)))
            continue
        items = options.get('metric_items') or COCO_DEFAULT_ITEMS[metric]
        keys.update(items if metric == 'proposal' else (f'{metric}_{item}' for item in items))
    return {f'{prefix}/{key}' for key in keys}


def _check_save_best(cfg: Config) -> None:
    """``default_hooks.checkpoint.save_best`` names a key the validation evaluator reports:
    MMEngine's ``CheckpointHook`` looks it up only after the first validation, and stops the
    run there with a ``KeyError``."""
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint') or {}
    save_best = checkpoint.get('save_best')
    wanted = [save_best] if isinstance(save_best, str) else list(save_best or ())
    wanted = [key for key in wanted if key != 'auto']
    metric_cfgs = [options for _, options in _metric_configs('val_evaluator',
                                                             cfg.get('val_evaluator'))]
    if not wanted or not metric_cfgs or any(
            _coco_metric_class(options) is None or options.get('classwise')
            for options in metric_cfgs):
        return  # other metrics and per-class keys: their keys are not known here
    reported = set().union(*map(_reported_keys, metric_cfgs))
    missing = [key for key in wanted if key not in reported]
    if missing:
        raise ConfigError(
            f'default_hooks.checkpoint.save_best={save_best!r}: the validation evaluator '
            f'reports no {missing[0]}, and the run would stop at its first validation; '
            + (f'choose one of {", ".join(sorted(reported))}.' if reported else
               'it computes no metric (format_only=True); unset save_best.'))
