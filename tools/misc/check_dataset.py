r"""Check a config's COCO-format datasets before training: the files, the images, and where
they meet the config.

Runs the checks ``CheckedCocoDataset`` runs when it is built (the annotation file read as meant:
unique ids, exact class names in the file's order; missing and unreadable images, size
mismatches, bad boxes, unknown categories, images without annotations), the checks of the
config (classes, ``num_classes``, evaluator files; the training filter leaving images), and also
decodes every image, to find those whose header is fine but whose data is broken. Prints each
problem and a summary per dataset. A config with MMDetection's plain ``CocoDataset`` or
``CocoMetric`` is checked the same way; what those fail on or mislabel (a missing ``area`` or
``iscrowd``, boxes without four numbers, categories out of id order) is fatal for it.

Exit status: 1 when a fatal problem is found (a file or config that cannot be read as meant, no
image left for training, a missing, unreadable, undecodable or wrongly sized image);
annotation problems (dropped or clipped boxes, unknown categories, images without annotations,
repaired fields) are warnings, fatal too with --strict. 0 else.

Example:
    python tools/misc/check_dataset.py configs/nanodet_shufflenetv2_lightpan_shapes.py \
        --split train val
"""
import argparse
import sys
from collections import Counter
from typing import List, Optional, Sequence, Tuple

from mmdet.registry import DATASETS
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.utils import track_iter_progress

from shufflenet_det.datasets import CheckedCocoDataset, DatasetError, DatasetProblem
from shufflenet_det.datasets.checked_coco_dataset import filter_images
from shufflenet_det.utils import check_dataset_config, leaf_datasets, load_config
from shufflenet_det.utils.cli import exit_status

# Problems CheckedCOCO repairs or drops that MMDetection's CocoDataset or CocoMetric fail on (a
# KeyError in training or evaluation) or mislabel (categories out of id order).
PLAIN_FATAL_KINDS = ('missing_area', 'missing_iscrowd', 'categories_out_of_order', 'invalid_box',
                     'no_category')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
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
    return parser.parse_args(argv)


def checking_config(dataset_cfg: dict) -> dict:
    """A ``CheckedCocoDataset`` config that checks and keeps every image of a dataset (without
    a pipeline, so that the same data used for training and testing gives the same config).

    Args:
        dataset_cfg (dict): A ``CocoDataset`` or ``CheckedCocoDataset`` config.

    Returns:
        dict: The config to build.
    """
    return dict(dataset_cfg, type='CheckedCocoDataset', check_images=True, filter_cfg=None,
                test_mode=True, pipeline=[], lazy_init=False)


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


def report(dataset: CheckedCocoDataset, split: str, strict: bool, plain: bool) -> int:
    """Decode a built dataset's images and print its problems.

    Args:
        dataset (CheckedCocoDataset): The dataset, built from :func:`checking_config`.
        split (str): Name of the dataloader, for the output.
        strict (bool): Whether every problem is fatal.
        plain (bool): Whether the config reads the data with MMDetection's plain
            ``CocoDataset`` or ``CocoMetric``, which fail on some problems repaired here.

    Returns:
        int: The number of fatal problems.
    """
    print(f'{split}: {dataset.ann_file}')
    undecodable = decode_problems(dataset)
    problems = dataset.problems + undecodable
    fatal = 0
    for problem in problems:
        plain_fails = plain and problem.kind in PLAIN_FATAL_KINDS
        fatal += problem.fatal or plain_fails or strict
        print(f'  {"ERROR" if problem.fatal or plain_fails or strict else "WARNING":7s} '
              f'{problem}' + (' (CocoDataset or CocoMetric fails on this: use the checked '
                              'ones)' if plain_fails else ''))
    counts = ', '.join(f'{kind} {n}' for kind, n in
                       sorted(Counter(problem.kind for problem in problems).items()))
    print(f'{split}: {len(dataset) - len(undecodable)} images load, {len(problems)} problems' +
          (f' ({counts})' if counts else ''))
    return fatal


def report_filter(dataset: CheckedCocoDataset, filter_cfg: Optional[dict], split: str) -> int:
    """Print what a training dataset's ``filter_cfg`` leaves out.

    Args:
        dataset (CheckedCocoDataset): The dataset, built from :func:`checking_config`.
        filter_cfg (dict, optional): The training dataset's filter.
        split (str): Name of the dataloader, for the output.

    Returns:
        int: 1 when the filter leaves no image, else 0.
    """
    data_list = [dataset.get_data_info(i) for i in range(len(dataset))]
    kept, reasons = filter_images(data_list, filter_cfg)
    if reasons:
        print(f'  {"WARNING" if kept else "ERROR":7s} filter_cfg leaves {len(kept)} of '
              f'{len(data_list)} images for training; left out: {"; ".join(reasons)}')
    return 0 if kept else 1


def uses_plain_coco(cfg: Config, split: str, dataset_cfg: dict) -> bool:
    """Whether a split reads its data with MMDetection's ``CocoDataset`` or ``CocoMetric``."""
    evaluators = cfg.get(f'{split}_evaluator') if split != 'train' else None
    evaluators = evaluators if isinstance(evaluators, list) else [evaluators or {}]
    return dataset_cfg['type'] == 'CocoDataset' or any(
        evaluator.get('type') == 'CocoMetric' for evaluator in evaluators)


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    # The datasets log every problem as a warning; this tool prints them itself.
    MMLogger.get_instance('check_dataset', log_level='ERROR')

    fatal = 0
    try:
        check_dataset_config(cfg, [f'{split}_{part}' for split in args.split
                                   for part in ('dataloader', 'evaluator')])
    except DatasetError as error:
        print(f'config: ERROR {error}')
        fatal += 1
    built: List[Tuple[dict, Optional[CheckedCocoDataset]]] = []
    for split in args.split:
        loader = cfg.get(f'{split}_dataloader')
        datasets = [dataset for _, dataset in leaf_datasets(split, loader)
                    if dataset['type'] in ('CocoDataset', 'CheckedCocoDataset')]
        if not datasets:
            print(f'{split}: no COCO-format dataset in the config')
        for dataset_cfg in datasets:
            config = checking_config(dataset_cfg)
            previous = [dataset for done, dataset in built if done == config]
            if previous:
                print(f'{split}: the same dataset as above')
                dataset = previous[0]
            else:
                try:
                    dataset = DATASETS.build(ConfigDict(config))
                    fatal += report(dataset, split, args.strict,
                                    uses_plain_coco(cfg, split, dataset_cfg))
                except DatasetError as error:
                    dataset = None
                    print(f'{split}: ERROR {error}')
                    fatal += 1
                built.append((config, dataset))
            if dataset is not None and not dataset_cfg.get('test_mode', False):
                fatal += report_filter(dataset, dataset_cfg.get('filter_cfg'), split)
    print(f'{fatal} fatal problems: fix them before training' if fatal else
          'no fatal problems')
    sys.exit(1 if fatal else 0)


if __name__ == '__main__':
    sys.exit(exit_status(main))
