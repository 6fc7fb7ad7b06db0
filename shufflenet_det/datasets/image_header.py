"""An image's size from its file header, as the data pipeline will see the image."""
from pathlib import Path
from typing import Optional, Tuple, Union

from PIL import Image, UnidentifiedImageError

#: The EXIF tag of the orientation, and the orientations that turn the image a quarter (its
#: width and height swap when it is decoded).
ORIENTATION_TAG = 0x0112
QUARTER_TURNS = (5, 6, 7, 8)


def turned_size(image: Image.Image) -> Tuple[int, int]:
    """(width, height) of an opened image after its EXIF rotation, as MMCV's OpenCV decoding
    turns it: the size as stored (a TIFF's own width and length tags, as Pillow's TIFF reader
    may give the size turned already), turned a quarter when the orientation says so."""
    width, height = image.size
    if image.format == 'TIFF':
        width, height = image.tag_v2.get(256, width), image.tag_v2.get(257, height)
    if image.getexif().get(ORIENTATION_TAG, 1) in QUARTER_TURNS:
        return height, width
    return width, height


def image_size(path: Union[str, Path]) -> Optional[Tuple[int, int]]:
    """(width, height) of an image after its EXIF rotation (:func:`turned_size`), read from
    the file's header without decoding the pixels.

    Args:
        path (str | Path): The image file.

    Returns:
        tuple[int, int] | None: The size, or None when the file is not an image whose header
        Pillow reads, or is over Pillow's limit against decompression bombs (179 megapixels).
    """
    try:
        with Image.open(path) as image:
            return turned_size(image)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError,
            Image.DecompressionBombError):
        return None
