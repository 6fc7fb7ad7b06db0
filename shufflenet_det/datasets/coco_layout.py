"""COCO json: a dataset folder's json files (``images``, ``annotations``, ``categories``), in it
or in its ``annotations/`` folder, split by their names (``instances_train2017.json``,
``val.json``), their images found under the folder by ``file_name``."""
import json
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .conversion_report import ConversionReport
from .dataset_problem import DatasetError
from .labelled_image import Box, LabelledImage, image_files, relative_name

COCO_KEYS = ('images', 'annotations', 'categories')


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


def _split_of(path: Path) -> Optional[str]:
    stem = path.stem.lower()
    return 'train' if 'train' in stem else 'val' if 'val' in stem else None


def _find_image(file_name: str, split: Optional[str], by_name: Dict[str, List[Path]],
                root: Path) -> Optional[Path]:
    """The image a ``file_name`` names: the file under ``root`` whose path ends with it, the
    one in a folder named for the split first (``train2017/``, ``images/val/``)."""
    wanted = '/' + file_name.replace('\\', '/').lstrip('./')
    matches = [path for path in by_name.get(Path(file_name).name, ())
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
        DatasetError: A box of a category the file does not declare.
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
    images: Dict[str, List[LabelledImage]] = defaultdict(list)
    for path, content in files.items():
        split = splits[path]
        if split is None:
            continue
        where = relative_name(path, root)
        categories = {category['id']: category['name'] for category in content['categories']}
        names = names or [categories[key] for key in sorted(categories)]
        boxes = defaultdict(list)
        for annotation in content['annotations']:
            if annotation.get('category_id') not in categories:
                raise DatasetError(f'{where}: annotation {annotation.get("id")} has category_id '
                                   f'{annotation.get("category_id")}, which its categories do '
                                   'not declare')
            x, y, width, height = annotation['bbox']
            boxes[annotation['image_id']].append(Box(
                categories[annotation['category_id']], (x, y, x + width, y + height),
                crowd=bool(annotation.get('iscrowd')), where=where))
        for image in content['images']:
            found = _find_image(image['file_name'], split if split != 'all' else None, by_name,
                                root)
            if found is None:
                report.note('label_without_image', f'{where}: {image["file_name"]}')
                continue
            declared = (image['width'], image['height']) if 'width' in image else None
            images[split].append(LabelledImage(found, boxes[image['id']], declared, where))
    return dict(images), names
