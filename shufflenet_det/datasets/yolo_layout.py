"""The YOLO layout (Ultralytics, Roboflow, LabelImg): one ``.txt`` per image, a line per box,
``class cx cy w h`` normalised to the image.

Found two ways: a ``data.yaml`` (``names`` as a list or a dict; ``train``/``val`` folders,
``.txt`` lists of images or lists of those, relative to the yaml's folder, to its ``path``, or
absolute; Roboflow's ``../train/images`` as it comes), each image's labels in the ``labels``
folder that mirrors its ``images`` folder; or a ``classes.txt`` with label files in that
``labels`` folder (Label Studio's export) or next to their images (LabelImg).
"""
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

from .conversion_report import ConversionReport
from .dataset_problem import DatasetError
from .labelled_image import Box, LabelledImage, image_files, relative_name

#: The start of ``ConversionReport.layout`` when this reader read the data.
YOLO_LAYOUT = 'the YOLO layout'


def find_yolo(root: Path) -> Optional[Path]:
    """The ``data.yaml`` (or ``classes.txt``) that makes ``root`` a YOLO dataset, if any."""
    for name in ('data.yaml', 'data.yml'):
        if (root / name).is_file():
            return root / name
    return next(iter(sorted(root.rglob('classes.txt'))), None)


def class_names(data: dict, yaml_path: Path) -> List[str]:
    """``names`` of a data.yaml, a list or a dict of index -> name (indices 0..N-1)."""
    names = data.get('names')
    if isinstance(names, dict):
        if sorted(names) != list(range(len(names))):
            raise DatasetError(f'{yaml_path}: names has the indices {sorted(names)}; give '
                               'each index 0..N-1 a name')
        names = [names[index] for index in range(len(names))]
    if not isinstance(names, list) or not names:
        raise DatasetError(f'{yaml_path}: no names (the class names, a list or index: name)')
    if 'nc' in data and data['nc'] != len(names):
        raise DatasetError(f'{yaml_path}: nc is {data["nc"]} but names has {len(names)}')
    return [str(name) for name in names]


def resolve(entry: str, yaml_path: Path, data: dict) -> Path:
    """A train/val entry of a data.yaml as a path: absolute, or relative to ``path`` (itself
    relative to the yaml's folder), or to the yaml's folder; Roboflow writes ``../train/images``
    beside the yaml, which is tried without its ``../`` when it is not found as written."""
    base = yaml_path.parent
    if data.get('path'):
        base = (base / str(data['path'])).resolve()
    path = (base / entry).resolve()
    if not path.exists() and entry.startswith('../'):
        path = (base / entry[3:]).resolve()
    return path


def read_yaml(path: Path) -> dict:
    """A data.yaml's content.

    Raises:
        DatasetError: For a file that is not YAML, or not a mapping.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding='utf-8-sig')) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, 'problem_mark', None)
        said = f'line {mark.line + 1}: {error.problem}' if mark else ' '.join(str(error).split())
        raise DatasetError(f'{path}: not valid YAML: {said}') from None
    if not isinstance(data, dict):
        raise DatasetError(f'{path}: not a mapping of names, train and val (it holds '
                           f'{type(data).__name__})')
    return data


def split_images(entries, yaml_path: Path, data: dict, root: Path,
                 report: ConversionReport) -> List[Path]:
    """The images of a train/val entry: a folder, a ``.txt`` listing images (one a line; those
    not there are reported), or a list of those."""
    images = []
    for entry in (entries if isinstance(entries, list) else [entries]):
        path = resolve(str(entry), yaml_path, data)
        if path.is_dir():
            images += image_files(path)
        elif path.suffix == '.txt' and path.is_file():
            lines = path.read_text(encoding='utf-8-sig').splitlines()
            for image in (resolve(line.strip(), path, {}) for line in lines if line.strip()):
                if image.is_file():
                    images.append(image)
                else:
                    report.note('missing_image', relative_name(image, root))
        else:
            raise DatasetError(f'{yaml_path}: {entry} is neither a folder of images nor a '
                               f'.txt list of them ({path} not found)')
    return images


def label_path(image: Path) -> Path:
    """Where an image's labels are: its ``images`` folder's ``labels`` twin (the last
    ``images`` in its path), else beside it."""
    parts = image.parts
    if 'images' in parts:
        index = len(parts) - 1 - parts[::-1].index('images')
        return Path(*parts[:index], 'labels', *parts[index + 1:]).with_suffix('.txt')
    return image.with_suffix('.txt')


def read_label_file(path: Path, names: Sequence[str], root: Path,
                    report: ConversionReport) -> List[Tuple[str, Tuple[float, ...], str]]:
    """The boxes of one label file, normalised: (class name, (cx, cy, w, h), file:line).

    Raises:
        DatasetError: For a class index that is not one of ``names``.
    """
    where = relative_name(path, root)
    raw = path.read_bytes()
    if raw.startswith(b'\xef\xbb\xbf'):
        report.note('bom', where)
    if b'\r\n' in raw:
        report.note('crlf', where)
    boxes = []
    polygons = False
    for number, line in enumerate(raw.decode('utf-8-sig').splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        try:
            numbers = [float(field) for field in fields]
        except ValueError:
            numbers = []
        values = numbers[1:]
        if (len(values) < 4 or (len(values) > 4 and len(values) % 2)
                or not all(map(math.isfinite, numbers))):
            report.note('malformed_line', f'{where}:{number}')
            continue
        label = int(numbers[0])
        if not 0 <= label < len(names) or numbers[0] != label:
            raise DatasetError(f'{where}:{number}: class {fields[0]} is not one of the '
                               f'{len(names)} classes (0..{len(names) - 1}) of names; fix the '
                               'line or the names')
        if len(values) > 4:  # a polygon: its bounding box
            polygons = True
            xs, ys = values[0::2], values[1::2]
            values = [(min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs),
                      max(ys) - min(ys)]
        boxes.append((names[label], tuple(values), f'{where}:{number}'))
    if polygons:
        report.note('polygon', where)
    return boxes


def read_yolo(root: Path, found: Path,
              report: ConversionReport) -> Tuple[Dict[str, List[LabelledImage]], List[str]]:
    """Every image of a YOLO dataset with its boxes (still normalised: the image's size turns
    them into pixels), by split (``train`` and ``val`` from a data.yaml that has both, else
    ``all``).

    Args:
        root (Path): The dataset folder.
        found (Path): Its ``data.yaml`` or ``classes.txt`` (:func:`find_yolo`).
        report (ConversionReport): Where what was met is noted.

    Returns:
        tuple[dict[str, list[LabelledImage]], list[str]]: The images of each split, their
        boxes' corners the normalised (cx, cy, w, h) until :func:`to_pixels`; the class names.
    """
    report.layout = f'{YOLO_LAYOUT} ({relative_name(found, root)})'
    beside = found.suffix == '.txt'  # classes.txt: label files in labels/ or by their images
    if beside:
        names = [line.strip() for line in found.read_text(encoding='utf-8-sig').splitlines()
                 if line.strip()]
        splits = dict(all=image_files(found.parent))
    else:
        data = read_yaml(found)
        names = class_names(data, found)
        if 'train' not in data:
            raise DatasetError(f'{found}: no train entry (the training images)')
        splits = {split: split_images(data[split], found, data, root, report)
                  for split in ('train', 'val') if data.get(split)}
        if 'val' not in splits:
            splits = dict(all=splits['train'])
        report.split = 'train and val of data.yaml'
    read_labels = set()
    result = {}
    for split, images in splits.items():
        result[split] = []
        for image in images:
            labels = label_path(image)
            if beside and not labels.is_file():
                labels = image.with_suffix('.txt')
            if not labels.is_file():
                result[split].append(LabelledImage(image))
                continue
            read_labels.add(labels)
            boxes = [Box(name, values, where=where)
                     for name, values, where in read_label_file(labels, names, root, report)]
            result[split].append(LabelledImage(image, boxes,
                                               label_file=relative_name(labels, root)))
    if not read_labels:
        looked = 'a labels/ folder mirroring each images/ folder'
        looked += ' or <image>.txt beside each image' if beside else ''
        raise DatasetError(f'{found}: none of its {sum(map(len, splits.values()))} images has a '
                           f'label file (looked for {looked})')
    label_folders = {labels.parent for labels in read_labels}
    for folder in sorted(label_folders):
        for orphan in sorted(set(folder.glob('*.txt')) - read_labels - {found}):
            report.note('label_without_image', relative_name(orphan, root))
    return result, names


def to_pixels(box: Box, width: int, height: int) -> Box:
    """A YOLO box (normalised cx, cy, w, h) as corners in pixels of a ``width`` x ``height``
    image."""
    cx, cy, w, h = box.corners
    return Box(box.name, ((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width,
                          (cy + h / 2) * height), box.crowd, box.where)
