"""A folder of labelled photos, in the YOLO layout, in COCO json or as Pascal VOC XML, converted
once to COCO json as the project's checked dataset reads it.

Image sizes come from the files' headers (after EXIF rotation, as the images will be loaded),
boxes are clipped to their image, categories get ids 1..N in the class list's order, and every
``file_name`` is relative to the dataset folder. Without a given split, every 5th image (by
sorted path) goes to val.

The layout is found in this order: a ``data.yaml``; COCO json files; VOC XML files; a
``classes.txt``; last, COCO json files that a conversion wrote (so that a second run reads the
labels they came from, not them).
"""
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .conversion_report import ConversionReport
from .dataset_problem import DatasetError
from .image_header import image_size
from .labelled_image import LabelledImage, relative_name
from .coco_layout import CONVERTED, converted_here, find_coco, read_coco
from .voc_layout import is_voc, read_voc
from .yolo_layout import YOLO_LAYOUT, find_yolo, read_yolo, to_pixels

VAL_EVERY = 5  # without a given split, images 5, 10, 15, ... (sorted by path) go to val
CLIP_NOTED = 1e-3  # clipping by less (pixels) is rounding, not worth a note


@dataclass
class ConvertedDataset:
    """A dataset converted to COCO json.

    Args:
        train (dict): The COCO json of the training images.
        val (dict): The COCO json of the validation images.
        classes (list[str]): The class names, category ``i + 1`` being ``classes[i]``.
        report (ConversionReport): What was read, fixed and left out.
    """

    train: dict
    val: dict
    classes: List[str]
    report: ConversionReport


def deterministic_split(images: List[LabelledImage],
                        root: Path) -> Dict[str, List[LabelledImage]]:
    """Every ``VAL_EVERY``-th image by sorted relative path to val, the others to train."""
    ordered = sorted(images, key=lambda image: relative_name(image.path, root))
    to_val = [i % VAL_EVERY == VAL_EVERY - 1 for i in range(len(ordered))]
    return dict(train=[image for image, val in zip(ordered, to_val) if not val],
                val=[image for image, val in zip(ordered, to_val) if val])


def coco_json(images: List[LabelledImage], classes: Sequence[str], root: Path, split: str,
              normalised: bool, report: ConversionReport) -> dict:
    """The COCO json of one split.

    Args:
        images (list[LabelledImage]): Its images.
        classes (Sequence[str]): The class names kept, in category id order.
        root (Path): The dataset folder (``file_name`` is relative to it).
        split (str): ``'train'`` or ``'val'``, for the report.
        normalised (bool): The boxes are YOLO's (normalised cx, cy, w, h), not corners.
        report (ConversionReport): Where what was met is noted.
    """
    category_ids = {name: index + 1 for index, name in enumerate(classes)}
    coco = dict(info=dict(description=f'{CONVERTED} {report.layout}'), images=[],
                annotations=[], categories=[
        dict(id=index, name=name, supercategory='none') for name, index in category_ids.items()])
    for image in images:
        file_name = relative_name(image.path, root)
        size = image_size(image.path)
        if size is None:
            report.note('unreadable_image', file_name)
            continue
        width, height = size
        if image.declared_size is not None and tuple(image.declared_size) != size:
            report.note('size_mismatch', image.label_file)
        image_id = len(coco['images']) + 1
        coco['images'].append(dict(id=image_id, file_name=file_name, width=width,
                                   height=height))
        if not image.boxes:
            report.note('image_without_labels', file_name)
        for box in image.boxes:
            if box.name not in category_ids:
                report.note('other_class', box.where)
                continue
            if normalised:
                box = to_pixels(box, width, height)
            x1, y1, x2, y2 = box.corners
            clipped = (max(x1, 0), max(y1, 0), min(x2, width), min(y2, height))
            box_width, box_height = clipped[2] - clipped[0], clipped[3] - clipped[1]
            if box_width <= 0 or box_height <= 0:
                report.note('box_empty', box.where)
                continue
            if max(abs(a - b) for a, b in zip(clipped, box.corners)) > CLIP_NOTED:
                report.note('yolo_outside_unit' if normalised else 'box_clipped', box.where)
            if box.crowd:
                report.note('difficult' if report.layout.startswith('Pascal VOC') else 'crowd',
                            box.where)
            coco['annotations'].append(dict(
                id=len(coco['annotations']) + 1, image_id=image_id,
                category_id=category_ids[box.name],
                bbox=[clipped[0], clipped[1], box_width, box_height],
                area=box_width * box_height, iscrowd=int(box.crowd)))
    report.images[split] = len(coco['images'])
    report.boxes[split] = len(coco['annotations'])
    return coco


def convert_to_coco(data: str, classes: Optional[Sequence[str]] = None) -> ConvertedDataset:
    """Read a labelled dataset in the layout it is in and convert it to COCO json.

    Args:
        data (str): The dataset folder: the YOLO layout (a ``data.yaml``, or a
            ``classes.txt`` beside plain label files), COCO json files, or Pascal VOC XML
            files.
        classes (Sequence[str], optional): The classes to keep, in this order; default: all
            (YOLO: its ``names``; VOC: the names found, sorted).

    Returns:
        ConvertedDataset: The train and val COCO json, the classes and the report.

    Raises:
        DatasetError: In one line, for a folder that is not a dataset this reads, a YOLO class
            index outside ``names``, classes none of which is found, a class named twice, or no
            image at all.
    """
    root = Path(data).resolve()
    if not root.is_dir():
        raise DatasetError(f'{data} is not a folder')
    report = ConversionReport()
    found = find_yolo(root)
    coco_files = find_coco(root) if found is None or found.suffix == '.txt' else {}
    theirs = {path: content for path, content in coco_files.items()
              if not converted_here(content)}
    if found is not None and found.suffix != '.txt':
        splits, names = read_yolo(root, found, report)
    elif theirs:  # COCO json, then VOC XML, before a classes.txt that may be a list of them
        splits, names = read_coco(root, theirs, report)
    elif is_voc(root):
        splits = read_voc(root, report)
        names = sorted({box.name for images in splits.values() for image in images
                        for box in image.boxes})
        if found is not None and not any(image.label_file for images in splits.values()
                                         for image in images):
            report = ConversionReport()  # XML files of no image beside a classes.txt: YOLO's
            splits, names = read_yolo(root, found, report)
    elif found is not None:
        splits, names = read_yolo(root, found, report)
    elif coco_files:
        splits, names = read_coco(root, coco_files, report)
    else:
        raise DatasetError(f'{data} has no data.yaml, classes.txt, COCO json or .xml files: '
                           'give a folder in the YOLO layout, with COCO json files (in it or '
                           'in annotations/) or with Pascal VOC XML files')
    if not any(splits.values()):
        raise DatasetError(f'{data}: no labelled image found ({report.layout})')
    if classes:
        unknown = [name for name in classes if name not in names]
        if len(unknown) == len(classes):
            raise DatasetError(f'{data}: none of the classes {list(classes)} is in the data, '
                               f'whose classes are {names}')
        if unknown:
            raise DatasetError(f'{data}: the classes {unknown} are not in the data, whose '
                               f'classes are {names}')
        names = list(classes)
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DatasetError(f'{data}: {", ".join(repeated)} named more than once in '
                           f'{"the classes given" if classes else report.layout}; name each '
                           'class once')
    if 'all' in splits:
        splits = deterministic_split(splits['all'], root)
        report.split = f'none given: every {VAL_EVERY}th image by sorted path to val'
    normalised = report.layout.startswith(YOLO_LAYOUT)  # boxes still (cx, cy, w, h) in 0-1
    train, val = (coco_json(splits[split], names, root, split, normalised, report)
                  for split in ('train', 'val'))
    if not train['images']:
        raise DatasetError(f'{data}: no readable training image ({report.layout})')
    return ConvertedDataset(train, val, names, report)


def write_coco(dataset: ConvertedDataset, out_dir: str) -> List[Path]:
    """Write ``instances_train.json`` and ``instances_val.json`` into ``out_dir``, each only
    once complete (a temporary file renamed).

    Returns:
        list[Path]: The files written.

    Raises:
        DatasetError: When ``out_dir`` is not a folder and cannot be made one (a file).
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatasetError(f'cannot make the folder {out_dir}: {error.strerror}') from None
    written = []
    for split, coco in (('train', dataset.train), ('val', dataset.val)):
        path = out / f'instances_{split}.json'
        temporary = path.with_name(f'.{path.name}.partial')
        temporary.write_text(json.dumps(coco))
        os.replace(temporary, path)
        written.append(path)
    return written
