"""One image and its boxes as a layout's reader found them, before they become COCO json."""
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

from shufflenet_det_runtime.sources import IMAGE_SUFFIXES  # the images the runtime reads


@dataclass
class Box:
    """A box in pixels, corners x1, y1, x2, y2.

    Args:
        name (str): Its class name.
        corners (tuple[float, float, float, float]): x1, y1, x2, y2.
        crowd (bool): Written as ``iscrowd: 1`` (VOC's ``difficult``). Default: False.
        where (str): The file (and line) it was read from, for the report.
    """

    name: str
    corners: Tuple[float, float, float, float]
    crowd: bool = False
    where: str = ''


@dataclass
class LabelledImage:
    """An image file and the boxes its label file gives it.

    Args:
        path (Path): The image file.
        boxes (list[Box]): Its boxes; none for a negative image.
        declared_size (tuple[int, int], optional): (width, height) the label file states
            (VOC's ``<size>``), checked against the image's own.
        label_file (str): The label file, for the report ('' when the image has none).
    """

    path: Path
    boxes: List[Box] = field(default_factory=list)
    declared_size: Optional[Tuple[int, int]] = None
    label_file: str = ''


def image_files(folder: Path, recursive: bool = True) -> List[Path]:
    """The image files in ``folder`` (and its subfolders with ``recursive``), sorted."""
    return sorted(path for path in (folder.rglob('*') if recursive else folder.iterdir())
                  if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file())


def relative_name(path: Path, root: Path) -> str:
    """``path`` relative to ``root``, with forward slashes (``../`` where it is outside)."""
    return Path(os.path.relpath(path, root)).as_posix()
