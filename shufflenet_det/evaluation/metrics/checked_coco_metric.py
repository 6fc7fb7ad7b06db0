"""COCO's evaluator on the checked annotation file, reporting also when nothing was detected."""
import logging
from typing import Dict, Optional, Sequence, Union

import numpy as np
from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS
from mmengine.fileio import get_local_path
from mmengine.logging import MMLogger, print_log

from shufflenet_det.datasets import CheckedCOCO
from shufflenet_det.errors import ConfigError

# The names CocoMetric's metric_items may take (the keys of its COCOeval.stats mapping): the six
# APs, then the six ARs.
COCO_METRIC_ITEMS = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l', 'AR@100', 'AR@300',
                     'AR@1000', 'AR_s@1000', 'AR_m@1000', 'AR_l@1000')


def check_metric_items(key: str, items: Optional[Sequence[str]]) -> None:
    """Stop with one line on ``metric_items`` that ``CocoMetric`` would reject only after the
    evaluation has run: a string instead of a list, or an item it does not report.

    Args:
        key (str): How the items are named in the error, e.g. ``'val_evaluator.metric_items'``.
        items (Sequence[str], optional): The items; None: the metric's defaults.

    Raises:
        ConfigError: Naming the key, its value and what to write instead.
    """
    if isinstance(items, str):
        raise ConfigError(f'{key} is the string {items!r}, not a list of items; write '
                          f'{key}=[{items!r}].')
    unknown = [item for item in items or () if item not in COCO_METRIC_ITEMS]
    if unknown:
        raise ConfigError(f'{key} {unknown} are not CocoMetric items; choose from '
                          f'{", ".join(COCO_METRIC_ITEMS)}.')


@METRICS.register_module()
class CheckedCocoMetric(CocoMetric):
    """``CocoMetric`` that reads its annotation file as ``CheckedCocoDataset`` does and always
    reports.

    - The file is read with :class:`~shufflenet_det.datasets.CheckedCOCO`: the evaluator sees
      the same repairs (missing ``area`` and ``iscrowd``) and drops as the dataset, and the
      class names are looked up exactly, when the metric is built.
    - When no image has a detection (none scored above the model's ``test_cfg.score_thr``),
      ``CocoMetric`` logs "the testing results of the whole dataset is empty" and returns no
      metric, so ``save_best`` is skipped. Here COCO's evaluator scores the zero detections:
      every AP is 0 (-1 for an object size the file has no objects of), and a warning says why.
    - ``metric_items`` are checked when the metric is built, not after the first evaluation.
    - ``iou_thrs`` reach pycocotools as an array: ``CocoMetric`` passes a config's list or
      number as it is, on which pycocotools' summary fails once the evaluation has run.

    The tools check the other options before anything is built
    (:func:`~shufflenet_det.evaluation.evaluator_config_check.check_evaluator_config`).

    Args:
        ann_file (str): The COCO-format annotation file.
        metric_items (Sequence[str], optional): As in ``CocoMetric``. Default: None.
        iou_thrs (float | Sequence[float], optional): IoU thresholds to compute AP and AR
            at; None: 0.5, 0.55, ..., 0.95. Default: None.
        **kwargs: The other arguments of :class:`mmdet.evaluation.CocoMetric`, except
            ``sort_categories``.
    """

    def __init__(self, ann_file: str, metric_items: Optional[Sequence[str]] = None,
                 iou_thrs: Optional[Union[float, Sequence[float]]] = None, **kwargs) -> None:
        if kwargs.get('sort_categories'):
            raise ConfigError('sort_categories=True: CheckedCocoMetric keeps the order of the '
                              "file's categories, which the dataset's labels follow; remove the "
                              'option')
        check_metric_items('metric_items', metric_items)
        if iou_thrs is not None:  # pycocotools finds a threshold with ``iou_thrs == 0.5``
            iou_thrs = np.atleast_1d(np.asarray(iou_thrs, dtype=float))
        super().__init__(ann_file=None, metric_items=metric_items, iou_thrs=iou_thrs, **kwargs)
        with get_local_path(ann_file, backend_args=self.backend_args) as local_path:
            self._coco_api = CheckedCOCO(local_path)
        for problem in self._coco_api.problems:  # the dataset logs the same lines: shown once
            print_log(str(problem), logger='current', level=logging.WARNING)

    @CocoMetric.dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        """Set the dataset's meta information and look its classes up in the file.

        Args:
            dataset_meta (dict): The dataset's ``metainfo``, with ``classes``.
        """
        self._dataset_meta = dataset_meta
        self.cat_ids = self._coco_api.get_cat_ids(cat_names=dataset_meta['classes'])

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Evaluate as ``CocoMetric``; with no detection at all, say so and score zero.

        Args:
            results (list): ``(ground truth, prediction)`` of every image.

        Returns:
            dict[str, float]: The metrics.
        """
        if not self.format_only and not any(len(pred['labels']) for _, pred in results):
            MMLogger.get_current_instance().warning(
                f'No detection on any of the {len(results)} images: no box scored above the '
                "model's test_cfg.score_thr. COCO's evaluator scores zero detections, so "
                'every AP is 0.')
        return super().compute_metrics(results)
