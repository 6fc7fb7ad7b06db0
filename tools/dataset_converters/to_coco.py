r"""Convert a folder of labelled photos to COCO json: the YOLO layout (``data.yaml``, or a
``classes.txt`` beside plain label files) or Pascal VOC XML (the devkit's folders, or XML files
beside or next to their images).

Writes ``OUT/instances_train.json`` and ``OUT/instances_val.json``, each ``file_name`` relative
to DATA (so a config's ``data_root`` is DATA), and prints what was read, how it was split, and
what was fixed and left out, with counts and files. Sizes come from the image headers (after
EXIF rotation); without a given split every 5th image by sorted path goes to val.

Example:
    python tools/dataset_converters/to_coco.py data/raccoon --out-dir data/raccoon/coco
    python tools/dataset_converters/to_coco.py data/coco_yolo --out-dir annotations \
        --classes person,dog
"""
import argparse
import sys
import time
from typing import Optional, Sequence

from shufflenet_det.datasets.coco_conversion import convert_to_coco, write_coco
from shufflenet_det.utils.cli import exit_status


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data', help='the dataset folder')
    parser.add_argument('--out-dir', required=True, help='where the two json files go')
    parser.add_argument('--classes', help='the classes to keep, comma-separated, in this order '
                        '(default: all)')
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    classes = [name.strip() for name in args.classes.split(',')] if args.classes else None
    start = time.perf_counter()
    dataset = convert_to_coco(args.data, classes)
    seconds = time.perf_counter() - start
    for line in dataset.report.summary(dataset.classes):
        print(line)
    print(f'read and converted in {seconds:.2f} s')
    for path in write_coco(dataset, args.out_dir):
        print(f'wrote {path}')


if __name__ == '__main__':
    sys.exit(exit_status(main))
