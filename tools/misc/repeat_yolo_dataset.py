r"""A large YOLO-layout dataset from a small one: every image and label file of DATA repeated
``--times`` times (images hard-linked, so it costs no disk), to time reading a big folder.

Example:
    python tools/misc/repeat_yolo_dataset.py data/coco_yolo data/yolo_10k --times 63
    python tools/dataset_converters/to_coco.py data/yolo_10k --out-dir data/yolo_10k/coco
"""
import argparse
import os
import shutil
from pathlib import Path
from typing import Optional, Sequence

from shufflenet_det_runtime.sources import IMAGE_SUFFIXES


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data', help='a YOLO-layout dataset: data.yaml, images/, labels/')
    parser.add_argument('out_dir', help='where the repeated dataset goes')
    parser.add_argument('--times', type=int, default=63, help='copies of each file')
    return parser.parse_args(argv)


def link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copyfile(source, target)


def main() -> None:
    args = parse_args()
    data, out = Path(args.data), Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(data / 'data.yaml', out / 'data.yaml')
    files = 0
    for path in sorted(p for p in data.rglob('*') if p.is_file() and p.parts[len(data.parts)]
                       in ('images', 'labels')):
        relative = path.relative_to(data)
        (out / relative.parent).mkdir(parents=True, exist_ok=True)
        for copy in range(args.times):
            target = out / relative.parent / f'{copy}_{path.name}'
            if path.suffix.lower() in IMAGE_SUFFIXES:
                link_or_copy(path, target)
            else:
                shutil.copyfile(path, target)
            files += 1
    print(f'wrote {files} files into {out}')


if __name__ == '__main__':
    main()
