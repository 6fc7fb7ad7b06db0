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
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional, Sequence

import cv2
from tqdm import tqdm

from .detector import Detector
from .drawing import draw_detections
from .errors import RuntimeUserError, SourceError
from .network_loading import BACKENDS
from .result_writers import (JsonOutput, VideoOutput, json_records, write_yolo_labels,
                             yolo_lines)
from .sources import ImageSource, VideoSource, open_source

WINDOW = 'shufflenet_det_runtime'


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
    parser.add_argument('--threads', type=int, default=0,
                        help="threads of the runtime and of OpenCV (default: their choice)")
    parser.add_argument('--backend', choices=BACKENDS,
                        help='the runtime (default: by the model file: .onnx in onnxruntime)')
    parser.add_argument('--show', action='store_true', help='show each result in a window '
                        '(q or Esc stops)')
    parser.add_argument('--max-frames', type=int, metavar='N',
                        help='stop after N images or frames (a camera runs until stopped)')
    args = parser.parse_args(argv)
    if args.save_txt and not args.out:
        parser.error('--save-txt writes into the --out folder: give --out DIR')
    return args


def open_window() -> None:
    """Open the ``--show`` window, or say in one line why it cannot be."""
    if sys.platform.startswith('linux') and not (os.environ.get('DISPLAY')
                                                 or os.environ.get('WAYLAND_DISPLAY')):
        # checked first: OpenCV's Qt window aborts the process when there is no display
        raise SourceError('--show needs a display (DISPLAY is not set: a server or an SSH '
                          'session without X forwarding); write the results with --out instead')
    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
    except cv2.error as error:
        raise SourceError('--show needs a display and an OpenCV with GUI support (the full '
                          f'opencv-python, not -headless): {str(error).strip().splitlines()[-1]}'
                          ) from error


@contextmanager
def ctrl_c_held() -> Iterator[None]:
    """Hold a Ctrl-C that arrives inside the block and raise it after, so that a frame's
    outputs and the counts printed at the end agree (outside the main thread, nothing is held)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: List[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    """Detect in every frame of ``args.source`` and write what ``args`` asks for.

    Returns:
        int: 0; 1 when images were skipped or a video ended before its announced length;
        130 after Ctrl-C (what was done so far is written).
    """
    detector = Detector(args.model, args.threads, args.backend)
    if args.threads:
        cv2.setNumThreads(args.threads)
    source = open_source(args.source)
    if args.show:
        open_window()
    video = (VideoOutput(str(Path(args.out) / source.out_name), source.fps)
             if args.out and isinstance(source, VideoSource) else None)
    json_output = JsonOutput(args.json) if args.json else None
    skipped: List[str] = []
    done, detections, status = 0, 0, 0
    progress = tqdm(total=len(source) or None, disable=isinstance(source, ImageSource) and
                    len(source) == 1, unit='img' if isinstance(source, ImageSource) else 'frame',
                    file=sys.stderr)
    try:
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
                target = Path(args.out) / frame.out_name
                target.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(target), drawn)
            if args.save_txt:
                write_yolo_labels(args.out, frame, yolo_lines(found, frame.image.shape,
                                                              args.score_thr))
            stop = False
            if args.show:
                cv2.imshow(WINDOW, drawn)
                stop = cv2.waitKey(1) & 0xFF in (ord('q'), 27)
            with ctrl_c_held():  # a frame counts once all its output is out
                if json_output is not None:
                    json_output.write(json_records(frame, found))
                done += 1
                detections += len(found)
            if stop or (args.max_frames and done >= args.max_frames):
                break
    except KeyboardInterrupt:
        status = 130
        progress.write('stopped (Ctrl-C); writing what was done', file=sys.stderr)
    finally:
        progress.close()
        source.close()
        if video is not None:
            video.close()
        if json_output is not None:
            json_output.close()
    print(f'{done} {"frames" if isinstance(source, VideoSource) else "images"}, '
          f'{detections} detections' + (f', {len(skipped)} skipped: {", ".join(skipped)}'
                                           if skipped else ''))
    if isinstance(source, VideoSource) and source.ended_early() and not args.max_frames \
            and not status:
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
    try:
        return run(args)
    except RuntimeUserError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
