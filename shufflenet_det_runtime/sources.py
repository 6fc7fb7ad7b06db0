"""What a command's SOURCE names, read frame by frame: an image, a folder of images (recursive),
a glob, a video file, a camera index or a stream URL that OpenCV opens."""
import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Optional, Tuple
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from .errors import SourceError

IMAGE_SUFFIXES = ('.bmp', '.jpeg', '.jpg', '.png', '.tif', '.tiff', '.webp')
VIDEO_SUFFIXES = ('.3gp', '.avi', '.flv', '.h264', '.m2ts', '.m4v', '.mjpeg', '.mkv', '.mov',
                  '.mp4', '.mpeg', '.mpg', '.mts', '.ogv', '.ts', '.webm', '.wmv')


@dataclass
class Frame:
    """One image of a source.

    Args:
        name (str): The image's ``file_name``: as given for one image or a glob, relative to
            the folder for a folder, the video's name (or the camera, or the URL) for frames.
        image (np.ndarray, optional): BGR uint8, or None when the file could not be decoded.
        index (int, optional): The frame's 0-based index in a video, camera or stream.
        out_name (str): Where its drawing goes under ``--out``: relative to the folder for a
            folder or a glob (its part without wildcards), the file's name for one image,
            ``<stem>.mp4`` for a video.
    """

    name: str
    image: Optional[np.ndarray]
    index: Optional[int] = None
    out_name: str = ''


def read_image(path: str) -> Optional[np.ndarray]:
    """A BGR image as MMCV's ``LoadImageFromFile`` decodes it (EXIF orientation applied), or
    None when the file is unreadable or not an image."""
    try:
        data = np.fromfile(path, np.uint8)
    except OSError:
        return None
    return cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None


class ImageSource:
    """Image files, in sorted order.

    Args:
        files (list[tuple[str, str, str]]): (path, name, out_name) of each image.
    """

    kind = 'images'

    def __init__(self, files: List[Tuple[str, str, str]]) -> None:
        self.files = files

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[Frame]:
        for path, name, out_name in self.files:
            yield Frame(name, read_image(path), out_name=out_name)

    def close(self) -> None:
        pass


class VideoSource:
    """The frames of a video file, a camera or a stream, through ``cv2.VideoCapture``.

    Args:
        target (str | int): The file or URL, or the camera index.
        name (str): The ``file_name`` of its frames (a stream's URL without its password).
        kind (str): ``'video'``, ``'camera'`` or ``'stream'``.

    Raises:
        SourceError: When OpenCV cannot open it.
    """

    def __init__(self, target, name: str, kind: str) -> None:
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # each backend's
        try:  # complaint while OpenCV tries them in turn: the one line below says it all
            self.capture = cv2.VideoCapture(target)
        finally:
            cv2.utils.logging.setLogLevel(level)
        if not self.capture.isOpened():
            what = f'{kind} {name if kind == "stream" else target}'
            raise SourceError(f'{what} does not open (check the index, the URL or the file, '
                              'and that OpenCV was built with its codec)')
        self.target, self.name, self.kind = target, name, kind
        self.out_name = ('stream' if kind == 'stream' else Path(name).stem) + '.mp4'
        self.fps = self.capture.get(cv2.CAP_PROP_FPS) or 30.0
        count = int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if kind == 'video' and count > 0 else None
        self.frames_read = 0

    def __len__(self) -> int:
        return self.frame_count or 0

    def __iter__(self) -> Iterator[Frame]:
        while True:
            ok, image = self.capture.read()
            if not ok:
                return
            self.frames_read += 1
            yield Frame(self.name, image, self.frames_read - 1, self.out_name)

    def ended_early(self) -> bool:
        """Whether a video gave fewer frames than its header announces."""
        return self.frame_count is not None and self.frames_read < self.frame_count

    def close(self) -> None:
        self.capture.release()


def without_password(url: str) -> str:
    """``url`` with the password of its ``user:password@`` part, if any, written as ``***``
    (the stream's name goes into the JSON and the messages)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(
        f':{parts.password}@', ':***@', 1)))


def glob_base(pattern: str) -> Path:
    """The folder a glob searches from: its leading parts without a wildcard."""
    parts = Path(pattern).parts
    fixed = next((i for i, part in enumerate(parts) if glob.has_magic(part)), len(parts))
    return Path(*parts[:fixed]) if fixed else Path('.')


def open_source(source: str, skip: Optional[str] = None):
    """The :class:`ImageSource` or :class:`VideoSource` that ``source`` names.

    Args:
        source (str): An image, a folder (searched recursively for images), a glob, a video
            file, a camera index (``0``) or device (``/dev/video0``), or a stream URL
            (``rtsp://...``). A file or folder that exists is read as one, even when its
            name is a number.
        skip (str, optional): A folder inside a searched folder whose images are left out
            (the command's ``--out``, so that a rerun does not read its own drawings).

    Raises:
        SourceError: When nothing is found or the camera, stream or video does not open.
    """
    path = Path(source)
    if path.is_dir():
        skipped = Path(skip).resolve() if skip else None
        if skipped is not None and path.resolve() not in skipped.parents:
            skipped = None  # not a folder inside this one
        files = sorted(p for p in path.rglob('*')
                       if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                       and not (skipped and skipped in p.resolve().parents))
        if not files:
            raise SourceError(f'no images ({", ".join(IMAGE_SUFFIXES)}) in {source}')
        return ImageSource([(str(p), p.relative_to(path).as_posix(),
                             p.relative_to(path).as_posix()) for p in files])
    if path.is_file():
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return VideoSource(source, path.name, 'video')
        return ImageSource([(source, source, path.name)])
    if path.is_char_device():  # a camera's device file, /dev/video0
        return VideoSource(source, source, 'camera')
    if source.isdigit():
        return VideoSource(int(source), f'camera{source}', 'camera')
    if '://' in source:
        return VideoSource(source, without_password(source), 'stream')
    if glob.has_magic(source):
        files = sorted(p for p in glob.glob(source, recursive=True)
                       if Path(p).suffix.lower() in IMAGE_SUFFIXES and Path(p).is_file())
        if not files:
            raise SourceError(f'no images match {source}')
        base = glob_base(source)
        return ImageSource([(p, p, Path(p).relative_to(base).as_posix()) for p in files])
    raise SourceError(f'no such image, folder or video: {source}')
