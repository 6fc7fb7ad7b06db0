"""COCO json: a dataset folder's json files (``images``, ``annotations``, ``categories``), in it
or in its ``annotations/`` folder, split by their names (``instances_train2017.json``,
``val.json``), their images found under the folder by ``file_name``. The files this project's
conversion wrote say so in their ``info``, so that they are not read in place of the labels
they came from."""
import json
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .conversion_report import ConversionReport
from .dataset_problem import DatasetError
from .labelled_image import Box, LabelledImage, image_files, relative_name

COCO_KEYS = ('images', 'annotations', 'categories')
#: The start of the ``info.description`` of the files a conversion writes.
CONVERTED = 'converted to COCO json by shufflenet_det from'


def find_coco(root: Path) -> Dict[Path, dict]:
    """The COCO json files of ``root`` (in it or in ``annotations/``), loaded."""
    found = {}
    for path in sorted([*root.glob('*.json'), *root.glob('annotations/*.json')]):
        try:
            content = json.loads(path.read_text(encoding='utf-8-sig'))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if isinstance(content, dict) and all(isinstance(content.get(key), list)
                                             for key in COCO_KEYS):
            found[path] = content
    return found


def converted_here(content: dict) -> bool:
    """Whether a COCO json is one a conversion of this project wrote (:data:`CONVERTED`)."""
    info = content.get('info')
    return isinstance(info, dict) and str(info.get('description', '')).startswith(CONVERTED)


def required(item: dict, key: str, what: str, where: str):
    """``item[key]``, a field COCO requires.

    Raises:
        DatasetError: Naming the file and the item when the field is missing.
    """
    if not isinstance(item, dict) or key not in item:
        raise DatasetError(f'{where}: {what} has no {key}')
    return item[key]


def _split_of(path: Path) -> Optional[str]:
    stem = path.stem.lower()
    return 'train' if 'train' in stem else 'val' if 'val' in stem else None


def _find_image(file_name: str, split: Optional[str], by_name: Dict[str, List[Path]],
                root: Path) -> Optional[Path]:
    """The image a ``file_name`` names: the file under ``root`` whose path ends with it, the
    one in a folder named for the split first (``train2017/``, ``images/val/``)."""
    wanted = '/' + file_name.replace('\\', '/').lstrip('./')
    matches = [path for path in by_name.get(wanted.rsplit('/', 1)[1], ())
               if ('/' + relative_name(path, root)).endswith(wanted)]
    in_split = [path for path in matches if split and split in relative_name(path, root).lower()]
    return (in_split or matches or [None])[0]


def read_coco(root: Path, files: Dict[Path, dict],
              report: ConversionReport) -> Tuple[Dict[str, List[LabelledImage]], List[str]]:
    """Read COCO json files.

    Args:
        root (Path): The dataset folder, searched for the images.
        files (dict): The loaded json of each file (:func:`find_coco`).
        report (ConversionReport): Where what was met is noted.

    Returns:
        tuple: The images of each split (``train`` and ``val`` when the file names give them,
        else ``all``), and the class names in category id order (the first file's).

    Raises:
        DatasetError: A box of a category the file does not declare, or a field COCO
            requires missing.
    """
    report.layout = 'COCO json'
    splits = {path: _split_of(path) for path in files}
    if {'train', 'val'} <= set(splits.values()):
        report.split = 'from the file names'
    else:  # split later, as the other layouts without one
        splits = dict.fromkeys(files, 'all')
    by_name = defaultdict(list)
    for path in image_files(root):
        by_name[path.name].append(path)
    names: List[str] = []
    images: Dict[str, List[LabelledImage]] = {split: [] for split in splits.values() if split}
    for path, content in files.items():
        split = splits[path]
        if split is None:
            continue
        where = relative_name(path, root)
        categories = {required(category, 'id', 'a category', where):
                      required(category, 'name', f'category {category["id"]}', where)
                      for category in content['categories']}
        names = names or [categories[key] for key in sorted(categories)]
        boxes = defaultdict(list)
        for annotation in content['annotations']:
            if annotation.get('category_id') not in categories:
                raise DatasetError(f'{where}: annotation {annotation.get("id")} has category_id '
                                   f'{annotation.get("category_id")}, which its categories do '
                                   'not declare')
            what = f'annotation {annotation.get("id")}'
            bbox = required(annotation, 'bbox', what, where)
            if not (isinstance(bbox, list) and len(bbox) == 4
                    and all(isinstance(value, (int, float)) for value in bbox)):
                raise DatasetError(f'{where}: {what} has bbox {bbox!r}, not [x, y, width, '
                                   'height]')
            x, y, width, height = bbox
            boxes[required(annotation, 'image_id', what, where)].append(Box(
                categories[annotation['category_id']], (x, y, x + width, y + height),
                crowd=bool(annotation.get('iscrowd')), where=where))
        for image in content['images']:
            file_name = required(image, 'file_name', f'image {image.get("id")}', where)
            found = _find_image(file_name, split if split != 'all' else None, by_name, root)
            if found is None:
                report.note('label_without_image', f'{where}: {file_name}')
                continue
            declared = ((image['width'], image['height'])
                        if 'width' in image and 'height' in image else None)
            images[split].append(LabelledImage(
                found, boxes[required(image, 'id', f'image {file_name}', where)], declared, where))
    return images, names
