"""What a conversion to COCO read, fixed and left out: counts by kind, with the files."""
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, List

#: What each kind of note means, and whether the thing was fixed, left out or only said.
KINDS = {
    'box_clipped': ('fixed', 'boxes partly outside their image, clipped to it'),
    'yolo_outside_unit': ('fixed', 'YOLO coordinates outside 0-1, clipped to the image'),
    'polygon': ('fixed', 'YOLO polygon lines (more than 5 numbers), read as their bounding box'),
    'decimal_coordinates': ('fixed', 'VOC boxes with coordinates written as decimals, truncated '
                                     "to whole pixels as MMDetection's VOC reader reads them"),
    'size_mismatch': ('fixed', 'XML sizes that disagree with the image file (the file wins)'),
    'difficult': ('said', "'difficult' boxes, written as iscrowd=1: ignored in training and "
                          'evaluation, not learnt as background'),
    'crowd': ('said', 'crowd boxes (iscrowd=1), kept as crowd: ignored in training and '
                      'evaluation'),
    'image_without_labels': ('said', 'images without labels, kept as negatives'),
    'crlf': ('said', 'files with CRLF line ends, read'),
    'bom': ('said', 'files starting with a UTF-8 BOM, read'),
    'box_empty': ('left out', 'boxes of zero or negative size (or outside their image)'),
    'other_class': ('left out', 'boxes of classes not in the class list'),
    'malformed_line': ('left out', 'YOLO lines that are not a class and 4 or more numbers '
                                   '(nan and inf are not numbers here)'),
    'label_without_image': ('left out', 'label files without an image'),
    'missing_image': ('left out', 'listed images that are not there'),
    'unreadable_image': ('left out', 'images whose header cannot be read (or over '
                                     "Pillow's 179-megapixel limit)"),
    'unreadable_xml': ('left out', 'XML files that cannot be parsed, and their images'),
    'unreadable_object': ('left out', 'VOC objects without a readable bndbox'),
}


def counted(number: int, noun: str) -> str:
    """``number`` and ``noun``, plural unless one: ``1 image``, ``2 boxes``, ``3 classes``."""
    if number == 1:
        return f'1 {noun}'
    return f'{number} {noun}{"es" if noun.endswith(("s", "x")) else "s"}'


@dataclass
class ConversionReport:
    """Counts of what a conversion met, each kind with the files (``file:line``) it met it in.

    Args:
        layout (str): The layout read, e.g. ``'Pascal VOC'``.
        split (str): How the images were split, said in the summary.
    """

    layout: str = ''
    split: str = ''
    images: Dict[str, int] = field(default_factory=lambda: dict(train=0, val=0))
    boxes: Dict[str, int] = field(default_factory=lambda: dict(train=0, val=0))
    notes: Dict[str, List[str]] = field(default_factory=lambda: defaultdict(list))

    def note(self, kind: str, where: str) -> None:
        """Count one ``kind`` of note (a key of ``KINDS``) met at ``where``."""
        if kind not in KINDS:
            raise KeyError(f'unknown kind of note {kind!r}')
        self.notes[kind].append(where)

    def count(self, kind: str) -> int:
        return len(self.notes.get(kind, ()))

    def summary(self, classes: List[str], examples: int = 3) -> List[str]:
        """The summary, a line each: what was read, how it was split, then each kind of note
        with its count and its first ``examples`` places, grouped as fixed, left out and said.
        """
        shown = ', '.join(classes[:10]) + (f' and {len(classes) - 10} more'
                                           if len(classes) > 10 else '')
        images, boxes = self.images, self.boxes
        lines = [f'read {self.layout}: {counted(sum(images.values()), "image")}, '
                 f'{counted(sum(boxes.values()), "box")} of {counted(len(classes), "class")} '
                 f'({shown})',
                 f'split: {self.split}: {counted(images["train"], "image")} '
                 f'({counted(boxes["train"], "box")}) to train, {images["val"]} '
                 f'({counted(boxes["val"], "box")}) to val']
        for group in ('fixed', 'left out', 'said'):
            for kind, (kind_group, meaning) in KINDS.items():
                places = self.notes.get(kind, ())
                if kind_group == group and places:
                    more = f' and {len(places) - examples} more' if len(places) > examples else ''
                    lines.append(f'{group}: {len(places)} {meaning}: '
                                 f'{", ".join(places[:examples])}{more}')
        return lines
