"""Evaluate a detector checkpoint: MMDetection's tools/test.py, with this package.

Examples:
    python tools/test.py configs/fcos_shufflenetv2_coco.py work_dirs/fcos/epoch_12.pth
    python tools/test.py CONFIG CHECKPOINT --classwise --out results.pkl --show-dir vis
    python tools/test.py CONFIG CHECKPOINT --tta
    bash tools/dist_test.sh CONFIG CHECKPOINT 2
"""
import argparse
import copy
import os
import sys
from typing import Optional, Sequence

from mmdet.engine.hooks.utils import trigger_visualization_hook
from mmdet.evaluation import DumpDetResults
from mmengine.config import Config, ConfigDict, DictAction

from mmdet.utils import setup_cache_size_limit_of_dynamo

import shufflenet_det  # noqa: F401  (registers modules and the safe checkpoint loader)
from shufflenet_det.apis.tested_weights import check_tested_weights
from shufflenet_det.engine.hooks import ClassTransferHook
from shufflenet_det.utils import (build_runner, check_annotation_files, check_dataset_config,
                                  config_classes, finish_distributed, load_run_config,
                                  safe_torch_load, setup_cpu_distributed)
from shufflenet_det.utils.cli import exit_status, output_file


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description='Test (and evaluate) a detector',
                                     epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument('--out', help='dump the predictions to this .pkl file (reload it '
                        'with mmengine.load)')
    parser.add_argument('--show', action='store_true', help='show the predictions')
    parser.add_argument('--show-dir', help='save images with drawn predictions in this dir, '
                        'inside the run\'s timestamped dir')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds per shown image')
    parser.add_argument('--classwise', action='store_true',
                        help='also print the AP of every class')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation (horizontal flip), merged by NMS')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f'--out must name a .pkl file, got {args.out}')
    return args


def use_test_time_augmentation(cfg: Config) -> None:
    """Wrap the model in ``DetTTAModel`` and test each image as is and flipped, as
    MMDetection's ``tools/test.py --tta`` does (unless the config brings its own)."""
    cfg.setdefault('tta_model', dict(
        type='DetTTAModel', tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5),
                                         max_per_img=100)))
    if 'tta_pipeline' not in cfg:
        dataset = cfg.test_dataloader.dataset
        while 'dataset' in dataset:
            dataset = dataset['dataset']
        pipeline = copy.deepcopy(dataset.pipeline)
        pipeline[-1] = dict(type='TestTimeAug', transforms=[
            [dict(type='RandomFlip', prob=1.), dict(type='RandomFlip', prob=0.)],
            [dict(type='PackDetInputs',
                  meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                             'flip', 'flip_direction'))]])
        cfg.tta_pipeline = pipeline
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def main() -> None:
    args = parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    setup_cache_size_limit_of_dynamo()
    cfg = load_run_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    if args.classwise:
        evaluators = cfg.test_evaluator
        for evaluator in evaluators if isinstance(evaluators, list) else [evaluators]:
            evaluator['classwise'] = True
    sections = ('test_dataloader', 'test_evaluator')
    check_annotation_files(cfg, sections)
    check_dataset_config(cfg, sections)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
        if cfg.default_hooks.visualization.type == 'DetVisualizationHook':
            # MMDetection's names drawings by file name: cam1/1.jpg and cam2/1.jpg collide
            cfg.default_hooks.visualization.type = 'RelativePathVisualizationHook'
    if args.tta:
        use_test_time_augmentation(cfg)

    setup_cpu_distributed(cfg)
    runner = build_runner(cfg)  # builds the model once and checks its wiring
    if '://' not in args.checkpoint:  # a URL is downloaded when the test loads it
        model = runner.model
        while hasattr(model, 'module'):  # DDP, DetTTAModel
            model = model.module
        check_tested_weights(  # the hook does not see the heads inside DetTTAModel
            model, safe_torch_load(args.checkpoint, mmap=True), args.checkpoint, args.config,
            config_classes(cfg), maps_classes=not args.tta and any(
                isinstance(hook, ClassTransferHook) for hook in runner.hooks))
    if args.out is not None:
        output_file(args.out)
        runner.test_evaluator.metrics.append(DumpDetResults(out_file_path=args.out))
    runner.test()  # builds the dataset and evaluator first, which check the annotation file
    finish_distributed(runner)


if __name__ == '__main__':
    sys.exit(exit_status(main))
