"""A COCO dataset that reports and survives broken images and annotations."""
import logging
import os.path as osp
from collections import Counter
from typing import List, Optional, Set, Tuple, Union

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS
from mmengine import fileio
from mmengine.logging import print_log
from PIL import Image

from .checked_coco import CheckedCOCO
from .dataset_problem import DatasetError, DatasetProblem
from .image_header import turned_size

# Boxes are always clipped to the image; only those sticking out further are reported.
_OUTSIDE_TOLERANCE = 1.0


def filter_images(data_list: List[dict],
                  filter_cfg: Optional[dict]) -> Tuple[List[dict], List[str]]:
    """The images a training filter leaves, and what it leaves out.

    ``filter_empty_gt`` leaves out the images without a box of the classes, also those
    whose boxes were all dropped here (``CocoDataset`` looks at the file's annotations);
    ``min_size`` those whose shorter side is smaller.

    Args:
        data_list (list[dict]): Parsed images, with ``instances``, ``width``, ``height``.
        filter_cfg (dict, optional): ``filter_empty_gt`` and ``min_size``.

    Returns:
        tuple[list[dict], list[str]]: The images left, and one phrase per rule that left
        some out, e.g. ``'6 with a side under filter_cfg.min_size=32 (...)'``.
    """
    filter_cfg = filter_cfg or {}
    min_size = filter_cfg.get('min_size', 0)
    no_boxes, small, kept = [], [], []
    for info in data_list:
        if filter_cfg.get('filter_empty_gt', False) and not info['instances']:
            no_boxes.append(info)
        elif min(info['width'], info['height']) < min_size:
            small.append(info)
        else:
            kept.append(info)
    reasons = []
    if no_boxes:
        reasons.append(f'{len(no_boxes)} without a box of the classes (filter_empty_gt)')
    if small:
        largest = max(small, key=lambda info: min(info['width'], info['height']))
        reasons.append(f'{len(small)} with a side under filter_cfg.min_size={min_size} '
                       f'(the largest is {largest["width"]}x{largest["height"]})')
    return kept, reasons


@DATASETS.register_module()
class CheckedCocoDataset(CocoDataset):
    """``CocoDataset`` that stops on a file or config it would misread, and logs and survives
    bad data.

    The file is read with :class:`CheckedCOCO` (as ``CheckedCocoMetric`` reads it), which raises
    :class:`DatasetError` on what cannot be read as meant (repeated image, file, category or
    annotation ids; missing image fields; ``metainfo['classes']`` a string, misspelt, repeated
    or out of the file's order) and repairs missing ``area`` and ``iscrowd``. When the filter
    leaves no image, a :class:`DatasetError` says why. All this happens when the dataset is
    built, before training starts.

    While loading (in the main process, before dataloader workers start), each problem the
    dataset survives is logged once as a warning and kept in :attr:`problems`; one summary line
    follows:

    - ``missing_image``, ``unreadable_image`` (the file's header cannot be read): the image is
      dropped. Its objects still count as missed when ``CocoMetric`` reads the annotation file.
    - ``size_mismatch``: the header's size (after EXIF rotation) differs from the annotated
      ``width``/``height``; the image is kept.
    - ``missing_area``, ``missing_iscrowd``, ``categories_out_of_order``: repaired by
      :class:`CheckedCOCO` (the evaluator sees the repair too).
    - ``invalid_box`` (not four finite numbers), ``no_category``, ``unknown_image`` (an
      ``image_id`` no image has), ``negative_size_box``, ``zero_size_box`` (width or height
      under one pixel), ``unknown_category`` (an id the file's ``categories`` do not declare):
      the annotation is dropped. ``CocoDataset`` drops some of these silently and fails on the
      others. Annotations of declared categories left out of ``metainfo['classes']`` are
      skipped without a report.
    - ``box_outside_image``: a box partly outside the image is clipped to it, one entirely
      outside is dropped.
    - ``no_annotations``: an image without (usable) annotations is kept in test mode; in
      training ``filter_cfg.filter_empty_gt`` leaves it out, also when all its boxes were
      dropped here.

    An image whose header is fine but whose data cannot be decoded is only found when it is
    loaded (``tools/misc/check_dataset.py`` decodes every image beforehand). It is logged once
    per process (each dataloader worker is one). In training the sample is skipped and
    MMEngine's ``BaseDataset`` fetches a random other one. In test mode ``LoadImageFromFile``
    gives a black image of the annotated size instead, so the image counts in the evaluation
    with whatever (usually nothing) is detected on it.

    Args:
        check_images (bool): Whether to open every image file while loading to check that it
            exists and that its header is readable and matches the annotated size. Only local
            files have their header read. Turn it off for huge datasets on slow storage: broken
            images are then found only when loaded. Defaults to True.
        **kwargs: The arguments of :class:`mmdet.datasets.CocoDataset`.
    """

    def __init__(self, *args, check_images: bool = True, **kwargs) -> None:
        self.check_images = check_images
        self.problems: List[DatasetProblem] = []
        self._failed_at_runtime: Set[str] = set()
        super().__init__(*args, **kwargs)

    def COCOAPI(self, annotation_file: str) -> CheckedCOCO:  # noqa: N802 (CocoDataset's name)
        """Read the annotation file with :class:`CheckedCOCO` and report what it dropped.

        Args:
            annotation_file (str): Local path of the file.

        Returns:
            CheckedCOCO: The checked file.
        """
        coco = CheckedCOCO(annotation_file)
        for problem in coco.problems:
            self._report(problem.kind, problem.where, problem.message)
        return coco

    def load_data_list(self) -> List[dict]:
        """Load the annotation file, checking every image and annotation.

        Returns:
            List[dict]: The usable images with their usable (clipped) annotations.
        """
        data_list = [info for info in super().load_data_list() if info is not None]
        counts = Counter(problem.kind for problem in self.problems)
        summary = (f'{type(self).__name__} {self.ann_file}: {len(data_list)} images, '
                   f'{sum(len(info["instances"]) for info in data_list)} boxes; ')
        if counts:
            summary += f'{len(self.problems)} problems: ' + ', '.join(
                f'{kind} {count}' for kind, count in sorted(counts.items()))
        print_log(summary + ('' if counts else 'no problems found'), logger='current',
                  level=logging.WARNING if counts else logging.INFO)
        return data_list

    def filter_data(self) -> List[dict]:
        """Leave out training images as ``CocoDataset`` does with ``filter_cfg`` (see
        :func:`filter_images`), log how many and why, and stop when no image is left.

        Returns:
            List[dict]: The images to train (or test) on.

        Raises:
            DatasetError: When no image is left, saying why.
        """
        kept, reasons = filter_images(self.data_list, {} if self.test_mode else self.filter_cfg)
        if reasons:
            print_log(f'{self.ann_file}: {len(kept)} of {len(self.data_list)} images left for '
                      f'training; left out: {"; ".join(reasons)}', logger='current',
                      level=logging.WARNING if not kept else logging.INFO)
        if not kept:
            raise DatasetError(self._why_empty(reasons))
        return kept

    def _why_empty(self, filter_reasons: List[str]) -> str:
        """The one-line message for a dataset without images."""
        usage = 'to test' if self.test_mode else 'for training'
        where = f'{self.ann_file}: no image left {usage}'
        if filter_reasons:
            fixes = [f'check that metainfo classes {tuple(self.metainfo["classes"])} are the '
                     'ones the boxes belong to' for reason in filter_reasons
                     if 'filter_empty_gt' in reason]
            fixes += ['lower filter_cfg.min_size' for reason in filter_reasons
                      if 'min_size' in reason]
            return f'{where}: {"; ".join(filter_reasons)}; {" or ".join(fixes)}.'
        dropped = Counter(problem.kind for problem in self.problems
                          if problem.fatal and problem.kind != 'size_mismatch')
        if dropped:
            first = next(problem.where for problem in self.problems if problem.kind in dropped)
            return (f'{where}: every image was dropped (' +
                    ', '.join(f'{kind} {count}' for kind, count in sorted(dropped.items())) +
                    f', e.g. {first}); check data_root and data_prefix.')
        return f'{where}: the file lists no images.'

    def parse_data_info(self, raw_data_info: dict) -> Optional[Union[dict, List[dict]]]:
        """Check one image and its annotations, then parse them like ``CocoDataset``.

        Args:
            raw_data_info (dict): ``raw_img_info`` and ``raw_ann_info`` from the file.

        Returns:
            dict, optional: The parsed image, or None when the image is dropped.
        """
        img_info = raw_data_info['raw_img_info']
        img_path = osp.join(self.data_prefix['img'], img_info['file_name'])
        if self.check_images and not self._check_image(img_path, img_info):
            return None
        raw_anns = raw_data_info['raw_ann_info']
        anns = [self._check_annotation(ann, img_info) for ann in raw_anns]
        anns = [ann for ann in anns if ann is not None]
        if not anns:
            self._report('no_annotations', img_path,
                         'no usable annotations' if raw_anns else 'no annotations')
        return super().parse_data_info(dict(raw_img_info=img_info, raw_ann_info=anns))

    def prepare_data(self, idx: int) -> Optional[dict]:
        """Run the pipeline on one image, surviving an image that cannot be decoded.

        Args:
            idx (int): Index of the image.

        Returns:
            dict, optional: The transformed sample; None (training only) to skip the image.
        """
        data_info = self.get_data_info(idx)
        try:
            return self.pipeline(data_info)
        except Exception:
            if self.image_decodes(data_info['img_path']):
                raise  # not a broken image: a real error
        img_path = data_info['img_path']
        if img_path not in self._failed_at_runtime:
            self._failed_at_runtime.add(img_path)
            action = 'a black image is used' if self.test_mode else 'skipped'
            self._report('unreadable_image', img_path, f'cannot be read or decoded; {action}')
        return self._black_sample(self.get_data_info(idx)) if self.test_mode else None

    def _report(self, kind: str, where: str, message: str) -> None:
        """Keep a problem in :attr:`problems` and log it."""
        problem = DatasetProblem(kind, where, message)
        self.problems.append(problem)
        print_log(str(problem), logger='current', level=logging.WARNING)

    def _check_image(self, img_path: str, img_info: dict) -> bool:
        """Report a missing or unreadable image file or a size mismatch.

        Returns:
            bool: Whether the image can be used.
        """
        backend = fileio.get_file_backend(img_path, backend_args=self.backend_args)
        if not backend.exists(img_path):
            self._report('missing_image', img_path, 'file not found; image dropped')
            return False
        if not isinstance(backend, fileio.LocalBackend):
            return True
        try:
            with Image.open(img_path) as image:  # reads the header only
                width, height = turned_size(image)
        except Exception as error:  # PIL raises several types for broken files
            self._report('unreadable_image', img_path,
                         f'cannot read its header ({error}); image dropped')
            return False
        if (width, height) != (img_info['width'], img_info['height']):
            self._report('size_mismatch', img_path,
                         f'the file is {width}x{height}, the annotation says '
                         f'{img_info["width"]}x{img_info["height"]}; boxes may be misplaced')
        return True

    def _check_annotation(self, ann: dict, img_info: dict) -> Optional[dict]:
        """Report a bad annotation.

        Args:
            ann (dict): One COCO annotation.
            img_info (dict): Its image's entry.

        Returns:
            dict, optional: The annotation, with its box clipped to the image if it sticks out
            and ``area`` then set to the box's (``area`` only serves ``CocoDataset``'s filter of
            non-positive areas here, which would drop a good box whose ``area`` is 0), or None
            when it is dropped.
        """
        where = f'annotation {ann["id"]} ({img_info["file_name"]})'
        x, y, w, h = map(float, ann['bbox'])  # CheckedCOCO dropped invalid ones
        if w < 0 or h < 0:
            self._report('negative_size_box', where,
                         f'bbox {ann["bbox"]} has a negative width or height; dropped')
            return None
        if w < 1 or h < 1:
            self._report('zero_size_box', where,
                         f'bbox {ann["bbox"]} is under one pixel wide or high; dropped')
            return None
        if ann['category_id'] not in self.coco.cats:  # the file's categories
            self._report('unknown_category', where,
                         f'category_id {ann["category_id"]!r} is not in the file\'s '
                         'categories; dropped')
            return None
        width, height = img_info['width'], img_info['height']
        x1, y1, x2, y2 = max(x, 0.), max(y, 0.), min(x + w, width), min(y + h, height)
        if x2 - x1 < 1 or y2 - y1 < 1:
            self._report('box_outside_image', where,
                         f'bbox {ann["bbox"]} lies outside the {width}x{height} image; dropped')
            return None
        if max(-x, -y, x + w - width, y + h - height) > _OUTSIDE_TOLERANCE:
            self._report('box_outside_image', where,
                         f'bbox {ann["bbox"]} is partly outside the {width}x{height} image; '
                         f'clipped to {[x1, y1, x2 - x1, y2 - y1]}')
        if (x1, y1, x2, y2) == (x, y, x + w, y + h) and ann['area'] > 0:
            return ann  # inside the image, with an area CocoDataset keeps
        return dict(ann, bbox=[x1, y1, x2 - x1, y2 - y1], area=(x2 - x1) * (y2 - y1))

    def image_decodes(self, img_path: str) -> bool:
        """Whether the image file exists and decodes (``tools/misc/check_dataset.py`` asks
        this of every image).

        Args:
            img_path (str): Path of the image.

        Returns:
            bool: Whether it decodes.
        """
        try:
            return mmcv.imfrombytes(fileio.get(img_path, self.backend_args)) is not None
        except Exception:
            return False

    def _black_sample(self, data_info: dict) -> dict:
        """Run the pipeline with ``LoadImageFromFile`` giving a black image of the annotated size.

        Args:
            data_info (dict): The image's data info.

        Returns:
            dict: The transformed sample.
        """
        shape = (data_info['height'], data_info['width'])
        black = dict(img=np.zeros((*shape, 3), np.uint8), img_shape=shape, ori_shape=shape)
        results = data_info
        for transform in self.pipeline.transforms:
            if isinstance(transform, LoadImageFromFile):
                results = dict(results, **black)
            else:
                results = transform(results)
        return results
