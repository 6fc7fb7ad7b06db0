"""Where a command's detections go: one COCO-style JSON list, YOLO label files, drawn images
and videos. Each file is complete when written: JSON streamed to a temporary file and renamed,
a video released (and so playable) however the run ends."""
import json
import math
import os
import time
from pathlib import Path
from typing import Callable, List, Optional

import cv2
import numpy as np

from .detector import Detections
from .errors import OutputError
from .sources import Frame


def json_records(frame: Frame, found: Detections) -> List[dict]:
    """One JSON object per detection: ``file_name``, COCO ``bbox`` [x, y, w, h] in original
    pixels, ``score``, ``label`` (0-based), ``class``, and ``frame`` for video frames."""
    records = []
    for box, score, label, name in zip(found.boxes.tolist(), found.scores.tolist(),
                                       found.labels.tolist(), found.names):
        record = dict(file_name=frame.name,
                      bbox=[round(box[0], 3), round(box[1], 3), round(box[2] - box[0], 3),
                            round(box[3] - box[1], 3)],
                      score=round(score, 6), label=label, **{'class': name})
        if frame.index is not None:
            record['frame'] = frame.index
        records.append(record)
    return records


class JsonOutput:
    """One JSON list of detections, written frame by frame as they come (memory stays flat
    however long a camera runs) to a hidden partial file that replaces ``path`` on
    :meth:`close`: ``path`` is only ever a complete list.

    Args:
        path (str): The ``.json`` to write.
    """

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise OutputError(f'--json {path} is a folder; give a file name')
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = self.path.with_name(f'.{self.path.name}.partial')
        self.file = open(self.partial, 'w')
        self.file.write('[')
        self.count = 0

    def write(self, records: List[dict]) -> None:
        """Append one frame's records, in one write (a Ctrl-C cannot split a record)."""
        if records:
            text = ',\n'.join(json.dumps(record) for record in records)
            self.file.write((',\n' if self.count else '\n') + text)
            self.count += len(records)

    def close(self) -> None:
        self.file.write('\n]\n')
        self.file.close()
        os.replace(self.partial, self.path)


def yolo_lines(found: Detections, image_shape: tuple, score_thr: float) -> List[str]:
    """``label cx cy w h`` lines, normalised to the image, for the detections scoring at least
    ``score_thr`` (the YOLO label format)."""
    height, width = image_shape[:2]
    lines = []
    for (x1, y1, x2, y2), score, label in zip(found.boxes.tolist(), found.scores.tolist(),
                                              found.labels.tolist()):
        if score >= score_thr:
            lines.append(f'{label} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} '
                         f'{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}')
    return lines


def label_path(out_dir: str, frame: Frame) -> Path:
    """``out_dir/labels/<stem>.txt`` (``<stem>_<frame>.txt`` for video frames), the folder
    structure of a folder source kept; the stem is the name without its last suffix only
    (``cam.2024-01-05.jpg`` -> ``cam.2024-01-05.txt``)."""
    stem = Path(frame.out_name).with_suffix('')
    if frame.index is not None:
        stem = stem.with_name(f'{stem.name}_{frame.index}')
    return Path(out_dir) / 'labels' / stem.with_name(f'{stem.name}.txt')


def write_yolo_labels(out_dir: str, frame: Frame, lines: List[str]) -> Path:
    """Write the frame's :func:`label_path`."""
    path = label_path(out_dir, frame)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(''.join(line + '\n' for line in lines))
    return path


def drawn_image_path(out_dir: str, frame: Frame) -> Path:
    """Where an image's drawing goes: ``out_dir/<out_name>``, with ``.jpg`` added when OpenCV
    writes no file of its suffix (``photo.jfif`` -> ``photo.jfif.jpg``)."""
    path = Path(out_dir) / frame.out_name
    return path if cv2.haveImageWriter(str(path)) else path.with_name(f'{path.name}.jpg')


def write_drawn_image(path: Path, image: np.ndarray) -> None:
    """Write a drawn image, or raise :class:`OutputError` when OpenCV could not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OutputError(f'could not write {path} (a full disk, or no permission?)')


class VideoOutput:
    """A drawn video, ``out_dir/<stem>.mp4``, at the source's size and frame rate; opened on
    its first frame.

    A camera gives frames as fast as the detector takes them, fewer a second than its frame
    rate (it drops the others): with ``real_time``, each frame is repeated until the next one
    comes (by ``clock``), up to a second's worth, so that the video plays about as long as the
    run lasted, not faster (a pause of more than a second is cut to one second). A video
    file's or a stream's frames are all read, so each is written once.

    Args:
        path (str): The ``.mp4`` to write.
        fps (float): Frames per second.
        real_time (bool): Time the frames by ``clock`` (a camera) instead of writing each once.
            Default: False.
        clock (Callable[[], float]): Seconds, for ``real_time``. Default: ``time.monotonic``.
    """

    def __init__(self, path: str, fps: float, real_time: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path, self.fps, self.real_time, self.clock = Path(path), fps, real_time, clock
        self.writer: Optional[cv2.VideoWriter] = None
        self.started = 0.0
        self.position = 0  # the time after the last frame written, in frames since the start
        self.last: Optional[np.ndarray] = None  # the frame written last

    def write(self, image: np.ndarray) -> None:
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            height, width = image.shape[:2]
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*'mp4v'),
                                          self.fps, (width, height))
            if not self.writer.isOpened():
                raise OutputError(f'could not open {self.path} for writing (no permission, or '
                                  'an OpenCV without an mp4 writer?)')
            self.started = self.clock()
        elif self.real_time:
            # the last frame holds until now: a second at most, as each copy is encoded again
            due = int((self.clock() - self.started) * self.fps)
            for _ in range(min(due - self.position, math.ceil(self.fps))):
                self.writer.write(self.last)
            self.position = max(self.position, due)
        self.writer.write(image)
        self.position += 1
        self.last = image

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
