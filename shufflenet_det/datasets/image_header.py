"""An image's size from its file header, as the data pipeline will see the image."""
from pathlib import Path
from typing import Optional, Tuple, Union

from PIL import Image, UnidentifiedImageError

#: The EXIF tag of the orientation, and the orientations that turn the image a quarter (its
#: width and height swap when it is decoded).
ORIENTATION_TAG = 0x0112
QUARTER_TURNS = (5, 6, 7, 8)


def image_size(path: Union[str, Path]) -> Optional[Tuple[int, int]]:
    """(width, height) of an image after its EXIF rotation, as MMCV's OpenCV decoding turns
    it, read from the file's header without decoding the pixels.

    Args:
        path (str | Path): The image file.

    Returns:
        tuple[int, int] | None: The size, or None when the file is not an image whose header
        Pillow reads.
    """
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(ORIENTATION_TAG, 1)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return None
    return (height, width) if orientation in QUARTER_TURNS else (width, height)
