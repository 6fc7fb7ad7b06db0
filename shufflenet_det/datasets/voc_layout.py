"""Pascal VOC: XML files (LabelImg, CVAT, the VOC devkit), read as MMDetection reads them.

Each XML file's image is the one of the same name (``raccoon-1.jpg`` for ``raccoon-1.xml``) in
its own folder, else in the same place under a sibling folder of the XML's folder or of one of
its parents, all inside the dataset folder: ``annotations/a.xml`` and ``images/a.jpg``, or the
devkit's ``Annotations/day/a.xml`` and ``JPEGImages/day/a.jpg``. The devkit's splits are read
from ``ImageSets/Main/*.txt``, an image id (``a`` or ``day/a``) a line.

Corners are read as MMDetection's ``XMLDataset`` reads them: ``int(float(text))``, then one
subtracted from each (VOC counts pixels from 1), so ``xmin=1, xmax=10`` is the box from x=0 to
x=9 in COCO's pixel coordinates, 9 wide.
"""
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .conversion_report import ConversionReport
from .labelled_image import Box, LabelledImage, image_files, relative_name

SPLIT_FILES = ('train', 'val', 'trainval', 'default')


def is_voc(root: Path) -> bool:
    """Whether ``root`` holds VOC XML files (any ``*.xml`` under it)."""
    return next(root.rglob('*.xml'), None) is not None


def read_corners(box: ElementTree.Element) -> Tuple[Tuple[int, ...], bool]:
    """A ``bndbox``'s corners as MMDetection reads them (``int(float(text)) - 1``), and
    whether any was written as a decimal.

    Raises:
        ValueError: For a missing or unreadable corner.
    """
    values = [float((box.findtext(side) or '').strip())
              for side in ('xmin', 'ymin', 'xmax', 'ymax')]
    return tuple(int(value) - 1 for value in values), not all(v.is_integer() for v in values)


def read_size(annotation: ElementTree.Element) -> Optional[Tuple[int, int]]:
    """The ``<size>`` an XML declares, or None when it has none that reads."""
    try:
        return (int(float(annotation.findtext('size/width'))),
                int(float(annotation.findtext('size/height'))))
    except (TypeError, ValueError):
        return None


def read_xml(path: Path, root: Path, report: ConversionReport) -> Optional[dict]:
    """The image size and objects of one XML file, or None (reported) if it does not parse;
    an object without a readable ``bndbox`` is left out (reported), the others kept."""
    where = relative_name(path, root)
    try:
        annotation = ElementTree.parse(path).getroot()
    except ElementTree.ParseError:
        report.note('unreadable_xml', where)
        return None
    boxes = []
    for obj in annotation.iter('object'):
        try:
            corners, decimal = read_corners(obj.find('bndbox'))
        except (AttributeError, ValueError):
            report.note('unreadable_object', where)
            continue
        if decimal:
            report.note('decimal_coordinates', where)
        boxes.append(Box((obj.findtext('name') or '').strip(), corners,
                         crowd=(obj.findtext('difficult') or '0').strip() not in ('0', ''),
                         where=where))
    return dict(declared=read_size(annotation), boxes=boxes)


def split_lists(root: Path) -> Dict[str, List[str]]:
    """The image ids of each ``ImageSets/Main/<split>.txt`` under ``root``, one a line."""
    return {path.stem: [line.strip() for line in
                        path.read_text(encoding='utf-8-sig').splitlines() if line.strip()]
            for path in root.rglob('ImageSets/Main/*.txt') if path.stem in SPLIT_FILES}


def mirror_distance(xml: Path, image: Path) -> Optional[int]:
    """0 when ``image`` is in the folder of ``xml``; ``k + 1`` when it is in the same place
    under a sibling of that folder's ``k``-th parent (``Annotations/day/a.xml`` and
    ``JPEGImages/day/a.jpg``: 2); None otherwise."""
    xml_folders, image_folders = xml.parent.parts, image.parent.parts
    if len(xml_folders) != len(image_folders):
        return None
    differing = [k for k, (mine, its) in
                 enumerate(zip(reversed(xml_folders), reversed(image_folders))) if mine != its]
    return None if len(differing) > 1 else differing[0] + 1 if differing else 0


def match_image(xml: Path, candidates: List[Path]) -> Optional[Path]:
    """The image of ``xml`` among the images of its name (paths relative to the dataset
    folder): the nearest by :func:`mirror_distance`, the devkit's ``JPEGImages`` first."""
    ranked = [(distance, 'JPEGImages' not in image.parts, image) for image in candidates
              for distance in [mirror_distance(xml, image)] if distance is not None]
    return min(ranked)[2] if ranked else None


def read_voc(root: Path, report: ConversionReport) -> Dict[str, List[LabelledImage]]:
    """Every image of an XML file under ``root``, by split: ``train`` and ``val`` when
    ``ImageSets/Main`` gives them (``trainval`` is train when there is no ``train.txt``, less
    the val images), else everything under ``all``. Images without an XML in the folders of
    images with one are negatives; an image whose XML does not parse is left out.

    Args:
        root (Path): The dataset folder.
        report (ConversionReport): Where what was met is noted.

    Returns:
        dict[str, list[LabelledImage]]: The images of each split.
    """
    report.layout = 'Pascal VOC XML'
    by_stem = defaultdict(list)
    for image in image_files(root):
        by_stem[image.stem].append(Path(relative_name(image, root)))
    labelled: Dict[Path, Optional[LabelledImage]] = {}  # None: its XML does not parse
    for xml in sorted(root.rglob('*.xml')):
        where = relative_name(xml, root)
        image = match_image(Path(where), by_stem[xml.stem])
        read = read_xml(xml, root, report)
        if image is None:
            if read is not None:
                report.note('label_without_image', where)
            continue
        labelled[image] = (LabelledImage(root / image, read['boxes'], read['declared'], where)
                           if read else None)
    # images without an XML count (as negatives) only in the folders of images with one
    folders = {image.parent for image, read in labelled.items() if read}
    for image in (image for images in by_stem.values() for image in images):
        if image.parent in folders:
            labelled.setdefault(image, LabelledImage(root / image))
    images = [labelled[image] for image in sorted(labelled) if labelled[image]]
    lists = split_lists(root)
    if 'val' in lists and ('train' in lists or 'trainval' in lists):
        report.split = ('ImageSets/Main/train.txt and val.txt' if 'train' in lists else
                        'ImageSets/Main/trainval.txt (less val.txt) and val.txt')
        for split in ('val', 'train' if 'train' in lists else 'trainval'):
            for entry in lists[split]:  # an id no image file has
                if not any(('/' + image.with_suffix('').as_posix()).endswith('/' + entry)
                           for image in by_stem[Path(entry).name]):
                    report.note('missing_image', f'ImageSets/Main/{split}.txt: {entry}')
        val = listed(images, lists['val'], root)
        in_val = {image.path for image in val}
        train = listed(images, lists.get('train', lists.get('trainval')), root)
        return dict(train=[image for image in train if image.path not in in_val], val=val)
    return dict(all=images)


def listed(images: List[LabelledImage], ids: List[str], root: Path) -> List[LabelledImage]:
    """The ``images`` a split list names, in its order: each id (``a``, or ``day/a`` in the
    devkit's nested folders) names the images whose path ends with it, less the suffix."""
    by_stem = defaultdict(list)
    for image in images:
        by_stem[image.path.stem].append(image)
    return [image for entry in ids for image in by_stem[Path(entry).name]
            if ('/' + relative_name(image.path.with_suffix(''), root)).endswith('/' + entry)]
