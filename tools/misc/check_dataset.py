"""Check a config's COCO-format datasets before training: images and annotations.

Runs the checks ``CheckedCocoDataset`` runs while loading (missing and unreadable images, size
mismatches, bad boxes, unknown categories, images without annotations) and also decodes every
image, to find those whose header is fine but whose data is broken. Prints each problem and a
summary per dataset.

Exit status: 1 when a fatal problem is found (a missing, unreadable or undecodable image, or an
image whose size differs from the annotated one); annotation problems (dropped or clipped boxes,
unknown categories, images without annotations) are warnings, fatal too with --strict. 0 else.

Example:
    python tools/misc/check_dataset.py configs/nanodet_shufflenetv2_lightpan_shapes.py \
        --split train val
"""
import argparse
import sys
from collections import Counter
from typing import Iterator, List

from mmdet.registry import DATASETS
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.utils import track_iter_progress

from shufflenet_det.datasets import CheckedCocoDataset, DatasetProblem  # registers the modules


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file')
    parser.add_argument('--split', nargs='+', choices=('train', 'val', 'test'),
                        default=['train', 'val', 'test'],
                        help='dataloaders whose datasets to check (a dataset shared by '
                        'several is checked once)')
    parser.add_argument('--strict', action='store_true', help='make every problem fatal')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args()


def coco_datasets(cfg: dict) -> Iterator[dict]:
    """Yield the COCO datasets in a dataset config (looking into dataset wrappers).

    Args:
        cfg (dict): A dataset config.

    Yields:
        dict: A ``CheckedCocoDataset`` config that checks and keeps every image (without a
        pipeline, so that the same data used for training and testing gives the same config).
    """
    if cfg.get('type') in ('CocoDataset', 'CheckedCocoDataset'):
        yield dict(cfg, type='CheckedCocoDataset', check_images=True, filter_cfg=None,
                   test_mode=True, pipeline=[], lazy_init=False)
    for inner in [cfg['dataset']] if 'dataset' in cfg else cfg.get('datasets', []):
        yield from coco_datasets(inner)


def decode_problems(dataset: CheckedCocoDataset) -> List[DatasetProblem]:
    """Decode every image of a dataset.

    Args:
        dataset (CheckedCocoDataset): The dataset.

    Returns:
        list[DatasetProblem]: The images that cannot be decoded.
    """
    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    return [DatasetProblem('unreadable_image', path, 'the image data cannot be decoded')
            for path in track_iter_progress(paths, file=sys.stderr)
            if not dataset.image_decodes(path)]


def check(dataset_cfg: dict, split: str, strict: bool) -> int:
    """Build one dataset, decode its images and print its problems.

    Args:
        dataset_cfg (dict): A config from :func:`coco_datasets`.
        split (str): Name of the dataloader, for the output.
        strict (bool): Whether every problem is fatal.

    Returns:
        int: The number of fatal problems.
    """
    dataset = DATASETS.build(ConfigDict(dataset_cfg))
    print(f'{split}: {dataset.ann_file}')
    undecodable = decode_problems(dataset)
    problems = dataset.problems + undecodable
    for problem in problems:
        print(f'  {"ERROR" if problem.fatal or strict else "WARNING":7s} {problem}')
    counts = ', '.join(f'{kind} {n}' for kind, n in
                       sorted(Counter(problem.kind for problem in problems).items()))
    print(f'{split}: {len(dataset) - len(undecodable)} images load, {len(problems)} problems' +
          (f' ({counts})' if counts else ''))
    return sum(problem.fatal or strict for problem in problems)


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    # The datasets log every problem as a warning; this tool prints them itself.
    MMLogger.get_instance('check_dataset', log_level='ERROR')

    checked, fatal = [], 0
    for split in args.split:
        loader = cfg.get(f'{split}_dataloader')
        datasets = list(coco_datasets(loader.dataset)) if loader else []
        if not datasets:
            print(f'{split}: no COCO-format dataset in the config')
        for dataset_cfg in datasets:
            if dataset_cfg in checked:
                print(f'{split}: the same dataset as above')
            else:
                checked.append(dataset_cfg)
                fatal += check(dataset_cfg, split, args.strict)
    print(f'{fatal} fatal problems: fix them before training' if fatal else
          'no fatal problems')
    sys.exit(1 if fatal else 0)


if __name__ == '__main__':
    main()
