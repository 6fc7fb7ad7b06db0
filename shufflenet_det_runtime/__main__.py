r"""Detect with an exported model, without PyTorch: on an image, a folder (recursive), a glob,
a video, a camera or a stream.

The detections written to --json are those tools/test.py keeps (the exported config's score
threshold, NMS and maximum count), so the file can be scored as it is; --score-thr only
chooses what is drawn and written to the YOLO label files.

Examples:
    python -m shufflenet_det_runtime nanodet.onnx photos/ --out runs/photos --json dets.json
    python -m shufflenet_det_runtime nanodet.ncnn.param street.mp4 --out runs/street
    python -m shufflenet_det_runtime nanodet_int8.onnx 0 --show --threads 2
"""
import argparse
import os
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence, Union

import cv2
from tqdm import tqdm

from .detector import Detector
from .drawing import draw_detections
from .errors import OutputError, RuntimeUserError, SourceError
from .network_loading import BACKENDS
from .result_writers import (JsonOutput, VideoOutput, drawn_image_path, json_records, label_path,
                             write_drawn_image, write_yolo_labels, yolo_lines)
from .sources import Frame, ImageSource, VideoSource, open_source

WINDOW = 'shufflenet_det_runtime'
#: The signals that stop a run with what was done written: Ctrl-C, and ``kill``,
#: ``systemctl stop`` or ``docker stop``.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: FFmpeg's AV_LOG_QUIET, for OpenCV's OPENCV_FFMPEG_LOGLEVEL.
FFMPEG_QUIET = -8


class Stopped(KeyboardInterrupt):
    """A stop signal, raised where the run can write what was done.

    Args:
        signum (int): The signal.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``minimum``.

    Args:
        minimum (int): The smallest value taken.
    """
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f'{text} is below {minimum}')
        return value
    parse.__name__ = 'int'  # argparse names the type in its message
    return parse


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(prog='python -m shufflenet_det_runtime', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('model', help='the exported model: .onnx, OpenVINO .xml or ncnn .param')
    parser.add_argument('source', help='an image, a folder, a glob, a video, a camera index or '
                        'a stream URL')
    parser.add_argument('--out', metavar='DIR', help='write drawn images (DIR/<path in the '
                        'folder>) and videos (DIR/<stem>.mp4) here')
    parser.add_argument('--json', metavar='FILE', help='write every detection to one JSON list')
    parser.add_argument('--save-txt', action='store_true',
                        help='write YOLO labels to DIR/labels/<stem>.txt (needs --out)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='the lowest score drawn and written to labels (default 0.3)')
    parser.add_argument('--threads', type=at_least(0), default=0,
                        help="threads of the runtime and of OpenCV (default: their choice)")
    parser.add_argument('--backend', choices=BACKENDS,
                        help='the runtime (default: by the model file: .onnx in onnxruntime)')
    parser.add_argument('--show', action='store_true', help='show each result in a window '
                        '(q or Esc stops)')
    parser.add_argument('--max-frames', type=at_least(1), metavar='N',
                        help='stop after N images or frames (a camera runs until stopped)')
    args = parser.parse_args(argv)
    if args.save_txt and not args.out:
        parser.error('--save-txt writes into the --out folder: give --out DIR')
    return args


def open_window() -> None:
    """Open the ``--show`` window, or say in one line why it cannot be."""
    if sys.platform.startswith('linux'):
        display = os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY')
        if not display:
            raise SourceError('--show needs a display (DISPLAY is not set: a server or an SSH '
                              'session without X forwarding); write the results with --out '
                              'instead')
        # tried in another process first: OpenCV's Qt window aborts the process when the
        # display does not answer (a stale SSH session, DISPLAY=:0 on a Pi without X)
        try:
            answered = not subprocess.run(
                [sys.executable, '-c', f'import cv2; cv2.namedWindow({WINDOW!r})'],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20).returncode
        except subprocess.TimeoutExpired:  # a display that takes the connection, then hangs
            answered = False
        if not answered:
            raise SourceError(f'--show cannot open a window on display {display} (no display '
                              'server answers there, or OpenCV is -headless); write the results '
                              'with --out instead')
    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
    except cv2.error as error:
        raise SourceError('--show needs a display and an OpenCV with GUI support (the full '
                          f'opencv-python, not -headless): {str(error).strip().splitlines()[-1]}'
                          ) from error


def raise_stopped(signum: int, _) -> None:
    """A signal handler: raise :class:`Stopped`."""
    raise Stopped(signum)


@contextmanager
def stop_signals_raised() -> Iterator[None]:
    """Inside the block, SIGTERM stops the run as Ctrl-C does (:class:`Stopped`), so that a
    service's stop leaves the JSON and the video complete too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, raise_stopped) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def stop_signals_held() -> Iterator[None]:
    """Hold a stop signal (Ctrl-C, SIGTERM) that arrives inside the block and raise it after,
    as :class:`Stopped`, so that a frame's outputs and the counts printed at the end agree
    (outside the main thread, nothing is held)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: List[int] = []
    previous = {signum: signal.signal(signum, lambda signum, _: received.append(signum))
                for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        raise Stopped(received[0])


def check_output_paths(args: argparse.Namespace, source: Union[ImageSource, VideoSource]) -> None:
    """Refuse, before any frame, outputs that would overwrite an input (``--out`` or
    ``--json`` pointing at the source) or each other (two images' YOLO labels); then make
    ``--out``."""
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise OutputError(f'--out {args.out} is a file, not a folder')
    images = ([(path, Frame(name, None, out_name=out_name))
               for path, name, out_name in source.files]
              if isinstance(source, ImageSource) else [])
    inputs = {Path(path).resolve() for path, _ in images}
    if isinstance(source, VideoSource) and source.kind == 'video':
        inputs.add(Path(source.target).resolve())
    outputs = [Path(args.json)] if args.json else []
    if args.out and isinstance(source, VideoSource):
        outputs.append(Path(args.out) / source.out_name)
    elif args.out:
        outputs += [drawn_image_path(args.out, frame) for _, frame in images]
    for output in outputs:
        if output.resolve() in inputs:
            raise OutputError(f'{output} would overwrite an input: give --out and --json '
                              'places of their own')
    if args.save_txt:
        labels = {}
        for path, frame in images:
            label = label_path(args.out, frame)
            if label in labels:
                raise OutputError(f'{labels[label]} and {path} would both write {label}: '
                                  'rename one, or run them apart')
            labels[label] = path
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)


def signal_name(signum: int) -> str:
    """How a stop signal is said: ``Ctrl-C`` for SIGINT, else its name."""
    return 'Ctrl-C' if signum == signal.SIGINT else signal.Signals(signum).name


def run(args: argparse.Namespace) -> int:
    """Detect in every frame of ``args.source`` and write what ``args`` asks for.

    Returns:
        int: 0; 1 when images were skipped, a video ended before its announced length or a
        camera or stream gave no frame; 130 after Ctrl-C, 143 after SIGTERM (what was done so
        far is written).
    """
    detector = Detector(args.model, args.threads, args.backend)
    if args.threads:
        cv2.setNumThreads(args.threads)
    source = open_source(args.source, skip=args.out)
    check_output_paths(args, source)
    if args.show:
        open_window()
    video: Optional[VideoOutput] = None
    json_output: Optional[JsonOutput] = None
    skipped: List[str] = []
    done, detections, status, stop = 0, 0, 0, False
    progress = tqdm(total=len(source) or None, disable=isinstance(source, ImageSource) and
                    len(source) == 1, unit='img' if isinstance(source, ImageSource) else 'frame',
                    file=sys.stderr)
    try:
        if args.out and isinstance(source, VideoSource):
            video = VideoOutput(str(Path(args.out) / source.out_name), source.fps,
                                real_time=source.kind == 'camera')
        json_output = JsonOutput(args.json) if args.json else None
        for frame in source:
            progress.update()
            if frame.image is None:
                skipped.append(frame.name)
                progress.write(f'skipped {frame.name}: not a readable image', file=sys.stderr)
                continue
            found = detector(frame.image)
            if args.out or args.show:
                drawn = draw_detections(frame.image, found, args.score_thr)
            if video is not None:
                video.write(drawn)
            elif args.out:
                write_drawn_image(drawn_image_path(args.out, frame), drawn)
            if args.save_txt:
                write_yolo_labels(args.out, frame, yolo_lines(found, frame.image.shape,
                                                              args.score_thr))
            if args.show:
                cv2.imshow(WINDOW, drawn)
                stop = cv2.waitKey(1) & 0xFF in (ord('q'), 27)
            with stop_signals_held():  # a frame counts once all its output is out
                if json_output is not None:
                    json_output.write(json_records(frame, found))
                done += 1
                detections += len(found)
            if stop or (args.max_frames and done >= args.max_frames):
                break
    except Stopped as stopped:
        status = 128 + stopped.signum
        progress.write(f'stopped ({signal_name(stopped.signum)}); writing what was done',
                       file=sys.stderr)
    finally:
        with stop_signals_held():  # a second Ctrl-C waits for the files to be complete
            progress.close()
            source.close()
            if video is not None:
                video.close()
            if json_output is not None:
                json_output.close()
    unit = 'frame' if isinstance(source, VideoSource) else 'image'
    print(f'{done} {unit}{"s" * (done != 1)}, {detections} detection{"s" * (detections != 1)}'
          + (f', {len(skipped)} skipped: {", ".join(skipped)}' if skipped else ''))
    if isinstance(source, VideoSource) and not status:
        if not source.frames_read:
            print(f'warning: {source.name} gave no frame', file=sys.stderr)
            return 1
        if source.ended_early() and not (stop or args.max_frames):
            print(f'warning: {source.name} ended after {source.frames_read} of the '
                  f'{source.frame_count} frames its header announces', file=sys.stderr)
            return 1
    return status or (1 if skipped else 0)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """The command: ``python -m shufflenet_det_runtime MODEL SOURCE [options]``.

    Returns:
        int: The exit status; 2 after an error the user fixes, printed as one line.
    """
    args = parse_args(argv)
    # FFmpeg's own lines ("moov atom not found", "Connection refused") would come beside the
    # command's one line; OPENCV_FFMPEG_LOGLEVEL=16 in the environment shows them again
    os.environ.setdefault('OPENCV_FFMPEG_LOGLEVEL', str(FFMPEG_QUIET))
    try:
        with stop_signals_raised():
            return run(args)
    except (RuntimeUserError, OSError) as error:  # OSError: a full disk, no permission, ...
        print(f'error: {error}', file=sys.stderr)
        return 2
    except KeyboardInterrupt as stopped:  # before the first frame: nothing to write
        signum = stopped.signum if isinstance(stopped, Stopped) else signal.SIGINT
        print(f'stopped ({signal_name(signum)})', file=sys.stderr)
        return 128 + signum


if __name__ == '__main__':
    sys.exit(main())
