"""Pascal VOC: XML files (LabelImg, CVAT, the VOC devkit), read as MMDetection reads them.

Two arrangements are found: the devkit's (``JPEGImages/``, ``Annotations/``, and the splits in
``ImageSets/Main/*.txt``), and any folder whose XML files sit in the same folder as their
images or in a sibling one, matched by file name (``raccoon-1.xml`` for ``raccoon-1.jpg``).

Corners are read as MMDetection's ``XMLDataset`` reads them: ``int(float(text))``, then one
subtracted from each (VOC counts pixels from 1), so ``xmin=1, xmax=10`` is the box from x=0 to
x=9 in COCO's pixel coordinates, 9 wide.
"""
import xml.etree.ElementTree as ElementTree
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
    whether any was written as a decimal."""
    values = [float((box.findtext(side) or '').strip())
              for side in ('xmin', 'ymin', 'xmax', 'ymax')]
    return tuple(int(value) - 1 for value in values), not all(v.is_integer() for v in values)


def read_xml(path: Path, root: Path, report: ConversionReport) -> Optional[dict]:
    """The image size and objects of one XML file, or None (reported) if it cannot be read."""
    where = relative_name(path, root)
    try:
        annotation = ElementTree.parse(path).getroot()
        size = annotation.find('size')
        declared = None
        if size is not None and size.findtext('width') and size.findtext('height'):
            declared = (int(float(size.findtext('width'))), int(float(size.findtext('height'))))
        boxes = []
        for obj in annotation.iter('object'):
            corners, decimal = read_corners(obj.find('bndbox'))
            if decimal:
                report.note('decimal_coordinates', where)
            boxes.append(Box((obj.findtext('name') or '').strip(), corners,
                             crowd=(obj.findtext('difficult') or '0').strip() not in ('0', ''),
                             where=where))
    except (ElementTree.ParseError, AttributeError, ValueError):
        report.note('unreadable_xml', where)
        return None
    return dict(declared=declared, boxes=boxes)


def split_lists(root: Path) -> Dict[str, List[str]]:
    """The image stems of each ``ImageSets/Main/<split>.txt`` under ``root``."""
    lists = {}
    for path in root.rglob('ImageSets/Main/*.txt'):
        if path.stem in SPLIT_FILES:
            lines = path.read_text(encoding='utf-8-sig').split()
            lists[path.stem] = lines
    return lists


def image_folders(xml_folder: Path) -> List[Path]:
    """Where the images of the XML files in ``xml_folder`` are: the devkit's ``JPEGImages``
    beside it, or else that folder and its siblings."""
    devkit = xml_folder.parent / 'JPEGImages'
    if devkit.is_dir():
        return [devkit]
    return [xml_folder, *sorted(p for p in xml_folder.parent.iterdir() if p.is_dir())]


def read_voc(root: Path, report: ConversionReport) -> Dict[str, List[LabelledImage]]:
    """Every image beside the XML files under ``root``, by split: ``train`` and ``val`` when
    ``ImageSets/Main`` gives them (``trainval`` is train when there is no ``train.txt``, less
    the val images), else everything under ``all``. Images without an XML are negatives.

    Args:
        root (Path): The dataset folder.
        report (ConversionReport): Where what was met is noted.

    Returns:
        dict[str, list[LabelledImage]]: The images of each split.
    """
    report.layout = 'Pascal VOC XML'
    xmls = sorted(root.rglob('*.xml'))
    folders = dict.fromkeys(folder for xml_folder in sorted({xml.parent for xml in xmls})
                            for folder in image_folders(xml_folder))
    images: Dict[str, Path] = {}
    for folder in folders:
        for image in image_files(folder, recursive=False):
            images.setdefault(image.stem, image)
    labelled = {stem: LabelledImage(image) for stem, image in images.items()}
    for xml in xmls:
        where = relative_name(xml, root)
        read = read_xml(xml, root, report)
        if read is None:
            continue
        if xml.stem not in labelled:
            report.note('label_without_image', where)
            continue
        labelled[xml.stem] = LabelledImage(images[xml.stem], read['boxes'], read['declared'],
                                           where)
    # images without an XML count (as negatives) only in the folders of images with one
    matched = {image.path.parent for image in labelled.values() if image.label_file}
    labelled = {stem: image for stem, image in labelled.items() if image.path.parent in matched}
    lists = split_lists(root)
    if 'val' in lists and ('train' in lists or 'trainval' in lists):
        val = set(lists['val'])
        train = [stem for stem in lists.get('train', lists.get('trainval')) if stem not in val]
        report.split = ('ImageSets/Main/train.txt and val.txt' if 'train' in lists else
                        'ImageSets/Main/trainval.txt (less val.txt) and val.txt')
        return dict(train=[labelled[s] for s in train if s in labelled],
                    val=[labelled[s] for s in lists['val'] if s in labelled])
    return dict(all=[labelled[stem] for stem in sorted(labelled)])
