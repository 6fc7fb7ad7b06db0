"""MMDetection's COCO API, reading an annotation file the way its author meant it or not at all.

pycocotools indexes a file without looking at it: a second image with the same id replaces the
first, category names match as substrings, a missing ``area`` or ``iscrowd`` is found only by the
evaluator. :class:`CheckedCOCO` is what ``CheckedCocoDataset`` and ``CheckedCocoMetric`` read
files with, so that training and evaluation see the same, checked annotations.
"""
import copy
import difflib
import json
import math
from collections import Counter
from typing import Any, Callable, Iterable, List, Sequence, Union

from mmdet.datasets.api_wrappers import COCO
from pycocotools.coco import COCO as PlainCOCO

from .dataset_problem import DatasetError, DatasetProblem


def _some(items: Sequence[Any], limit: int = 5) -> str:
    """``'a', 'b', 'c' and 2 more``: the first ``limit`` items and a count of the rest."""
    shown = ', '.join(repr(item) for item in items[:limit])
    return shown + (f' and {len(items) - limit} more' if len(items) > limit else '')


def _is_box(bbox: Any) -> bool:
    """Whether ``bbox`` is four finite numbers."""
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        return False
    try:
        return math.isfinite(sum(bbox))  # NaN or infinity in, or not numbers: not finite
    except TypeError:
        return False


class CheckedCOCO(COCO):
    """MMDetection's ``COCO`` that checks the file before indexing it and looks classes up
    exactly.

    Raises :class:`DatasetError`, in one line naming the file, the field and the fix, when the
    file cannot be read as meant: not a JSON object; ``images`` or ``categories`` missing; an
    image without ``id``, ``file_name``, ``width`` or ``height``; an image id, file name,
    category id, category name or annotation id used twice.

    What it repairs or drops is kept in :attr:`problems`, for the dataset (and the metric) to
    log; MMDetection's plain ``CocoDataset`` and ``CocoMetric`` fail or mislabel on all but
    ``unknown_image``:

    - ``missing_area``, ``missing_iscrowd``: a missing ``area`` becomes the box's area, a
      missing ``iscrowd`` 0 (one problem per kind, with a count);
    - ``categories_out_of_order``: the categories are not listed in the order of their ids;
      labels follow the ids (``CocoDataset`` numbers them in list order);
    - ``invalid_box`` (``bbox`` not four finite numbers), ``no_category``, ``unknown_image``
      (an ``image_id`` no image has): the annotation is dropped.

    Args:
        annotation_file (str): Path of the COCO-format JSON file.
    """

    def __init__(self, annotation_file: str) -> None:
        self.annotation_file = annotation_file
        self.problems: List[DatasetProblem] = []
        try:
            super().__init__(annotation_file)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DatasetError(f'{annotation_file}: not a JSON file ({error})') from None
        except AssertionError:  # pycocotools asserts the file holds an object
            raise DatasetError(f'{annotation_file}: not a COCO file (its JSON is not an '
                               'object with "images", "annotations" and "categories")') from None

    def createIndex(self) -> None:  # noqa: N802 (pycocotools' name)
        """Check, repair and drop as described above, then index as pycocotools does."""
        for key in ('images', 'categories'):
            if not isinstance(self.dataset.get(key), list):
                self._fail(f'"{key}" is missing or not a list', 'it is not a COCO '
                           'detection file')
        self._check_images(self.dataset['images'])
        self._check_categories(self.dataset['categories'])
        self.dataset['annotations'] = self._checked_annotations(
            self.dataset.get('annotations', []))
        super().createIndex()

    def get_cat_ids(self, cat_names: Union[str, Sequence[str]] = (),
                    sup_names: Sequence[str] = (), cat_ids: Sequence[int] = ()) -> List[int]:
        """The ids of the categories named ``cat_names``, in that order; otherwise as
        pycocotools' ``getCatIds``.

        pycocotools matches ``cat_names`` as substrings when it is a string (``classes=('wheel')``
        selects ``whee`` too) and silently leaves out names it does not know.

        Args:
            cat_names (Sequence[str]): Class names, e.g. ``metainfo['classes']``.
            sup_names (Sequence[str]): Supercategory names (only without ``cat_names``).
            cat_ids (Sequence[int]): Category ids (only without ``cat_names``).

        Returns:
            list[int]: One category id per name.

        Raises:
            DatasetError: When ``cat_names`` is a string, names a class twice, names a class
                the file does not have, or lists the classes in another order than the file's
                category ids (``CocoMetric``'s per-class table assumes that order).
        """
        if not cat_names:
            return self.getCatIds(list(sup_names), list(cat_ids))
        if isinstance(cat_names, str):
            self._fail(f'metainfo classes is the string {cat_names!r}, not a tuple of names '
                       '(pycocotools would select every category whose name is part of it)',
                       f'write classes=({cat_names!r},) with the comma')
        repeated = [name for name, count in Counter(cat_names).items() if count > 1]
        if repeated:
            self._fail(f'metainfo classes names {_some(repeated)} more than once',
                       'list each class once')
        ids_by_name = {cat['name']: cat['id'] for cat in self.dataset['categories']}
        unknown = [name for name in cat_names if name not in ids_by_name]
        if unknown:
            self._fail(f'metainfo classes {_some(unknown)} are not category names of '
                       f'the file', self._name_hint(unknown, list(ids_by_name)))
        ids = [ids_by_name[name] for name in cat_names]
        if ids != sorted(ids):
            in_file_order = tuple(name for _, name in sorted(zip(ids, cat_names)))
            self._fail('metainfo classes are not in the order of their category ids in the '
                       "file (MMDetection's CocoDataset and CocoMetric pair labels with the "
                       "file's categories in that order, so class names would be swapped)",
                       f'write classes={in_file_order}')
        return ids

    def loadRes(self, resFile: Any) -> PlainCOCO:  # noqa: N802,N803 (pycocotools' names)
        """pycocotools' ``loadRes``, which also takes an empty result list (it fails with
        ``IndexError`` on one): the evaluator then scores zero detections.

        Args:
            resFile (str | list | np.ndarray): The results.

        Returns:
            pycocotools.coco.COCO: The results as a COCO object.
        """
        if not (isinstance(resFile, list) and not resFile):
            return super().loadRes(resFile)
        results = PlainCOCO()
        results.dataset = dict(images=list(self.dataset['images']), annotations=[],
                               categories=copy.deepcopy(self.dataset['categories']))
        results.createIndex()
        return results

    def _fail(self, what: str, fix: str) -> None:
        raise DatasetError(f'{self.annotation_file}: {what}; {fix}.')

    @staticmethod
    def _name_hint(unknown: Iterable[str], names: List[str]) -> str:
        """'its categories are 'Wheel' (for 'wheel'), 'car', ...'."""
        closest = {}
        lowered = {known.lower(): known for known in names}
        for name in unknown:
            match = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.5)
            if match:
                closest[lowered[match[0]]] = name
        ordered = list(closest) + [name for name in names if name not in closest]
        listed = ', '.join(f'{name!r} (for {closest[name]!r})' if name in closest else
                           repr(name) for name in ordered[:20])
        more = f' and {len(ordered) - 20} more' if len(ordered) > 20 else ''
        return (f'its categories are {listed}{more}; name the classes as the file does '
                '(metainfo=dict(classes=(...))), or add the missing categories to the file')

    def _check_images(self, images: list) -> None:
        for field in ('id', 'file_name', 'width', 'height'):
            lacking = [i for i, image in enumerate(images)
                       if not isinstance(image, dict) or field not in image]
            if lacking:
                others = f' and {len(lacking) - 1} more images have' if len(lacking) > 1 \
                    else ' has'
                self._fail(f'images[{lacking[0]}]{others} no "{field}"',
                           f'add "{field}" to every image')
        self._check_unique([image['id'] for image in images], 'image id',
                           lambda: [image['file_name'] for image in images],
                           'give every image its own id')
        self._check_unique([image['file_name'] for image in images], 'file_name',
                           lambda: [image['id'] for image in images],
                           'list each file once, with all its boxes under one image id')

    def _check_categories(self, categories: list) -> None:
        for field in ('id', 'name'):
            lacking = [i for i, cat in enumerate(categories)
                       if not isinstance(cat, dict) or field not in cat]
            if lacking:
                self._fail(f'categories[{lacking[0]}] has no "{field}"',
                           f'add "{field}" to every category')
        ids = [cat['id'] for cat in categories]
        if ids != sorted(ids):
            self.problems.append(DatasetProblem(
                'categories_out_of_order', self.annotation_file,
                'the categories are not listed in the order of their ids; labels follow the '
                'ids'))
        self._check_unique(ids, 'category id', lambda: [cat['name'] for cat in categories],
                           'give every category its own id')
        self._check_unique([cat['name'] for cat in categories], 'category name',
                           lambda: [cat['id'] for cat in categories],
                           'give every category its own name, or merge them into one')

    def _check_unique(self, values: list, field: str, labels: Callable[[], list],
                      fix: str) -> None:
        """Fail on the first value used twice, naming what uses it (from ``labels()``, one
        label per value)."""
        counts = Counter(values)
        if len(counts) == len(values):
            return
        repeated = [value for value, count in counts.items() if count > 1]
        first = repeated[0]
        users = [label for value, label in zip(values, labels()) if value == first]
        more = f' ({len(repeated) - 1} more {field}s are repeated)' if len(repeated) > 1 else ''
        self._fail(f'{field} {first!r} is used {counts[first]} times, by {_some(users)}{more}',
                   fix)

    def _checked_annotations(self, annotations: list) -> list:
        """Drop the annotations pycocotools or the evaluator cannot use, repair the rest."""
        image_ids = {image['id']: image['file_name'] for image in self.dataset['images']}
        kept, repairs = [], Counter()
        for ann in annotations:
            if not isinstance(ann, dict) or 'id' not in ann:
                self._fail(f'annotation {ann!r} has no "id"', 'add "id" to every annotation')
            file_name = image_ids.get(ann.get('image_id'))
            where = f'annotation {ann["id"]} ({file_name})'
            if file_name is None:
                self.problems.append(DatasetProblem(
                    'unknown_image', f'annotation {ann["id"]}',
                    f'image_id {ann.get("image_id")!r} is not an image of the file; dropped'))
            elif 'category_id' not in ann:
                self.problems.append(DatasetProblem('no_category', where,
                                                    'no category_id; dropped'))
            elif not _is_box(ann.get('bbox')):
                self.problems.append(DatasetProblem(
                    'invalid_box', where,
                    f'bbox {ann.get("bbox")!r} is not four finite numbers; dropped'))
            else:
                for field, value in (('area', ann['bbox'][2] * ann['bbox'][3]), ('iscrowd', 0)):
                    if field not in ann:
                        ann[field] = value
                        repairs[field] += 1
                kept.append(ann)
        self._check_unique([ann['id'] for ann in kept], 'annotation id',
                           lambda: [image_ids[ann['image_id']] for ann in kept],
                           'give every annotation its own id')
        for field, rule in (('area', "the box's area (width x height)"), ('iscrowd', '0')):
            if repairs[field]:
                self.problems.append(DatasetProblem(
                    f'missing_{field}', self.annotation_file,
                    f'{repairs[field]} of {len(annotations)} annotations have no "{field}"; '
                    f'set to {rule}, for training and evaluation'))
        return kept
