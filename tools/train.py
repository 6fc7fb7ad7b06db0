"""Train a detector: MMDetection's tools/train.py, with this package and CPU-only runs.

Examples:
    python tools/train.py configs/fcos_shufflenetv2_coco.py
    python tools/train.py CONFIG --work-dir work_dirs/run1 --resume        # latest in work dir
    python tools/train.py CONFIG --resume work_dirs/run1/epoch_3.pth
    bash tools/dist_train.sh CONFIG 2                                       # 2 processes
"""
import argparse
import os
import sys
from typing import Optional, Sequence

import torch
from mmengine.config import DictAction

from mmdet.utils import setup_cache_size_limit_of_dynamo

import shufflenet_det  # noqa: F401  (registers modules and the safe checkpoint loader)
from shufflenet_det.errors import ConfigError
from shufflenet_det.utils import (build_runner, check_annotation_files, check_dataset_config,
                                  check_resumable, find_resumable_checkpoint,
                                  finish_distributed, load_run_config, setup_cpu_distributed)
from shufflenet_det.utils.cli import exit_status


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description='Train a detector',
                                     epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (needs a GPU)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by the actual total batch size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint, or without a value from the latest loadable one '
        'in the work dir')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value (e.g. '
                        'train_dataloader.batch_size=4)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    setup_cache_size_limit_of_dynamo()
    cfg = load_run_config(args.config, args.cfg_options, args.work_dir, args.launcher)
    sections = ('train_dataloader', 'val_dataloader', 'val_evaluator')
    check_annotation_files(cfg, sections)
    check_dataset_config(cfg, sections)

    if args.amp:
        if not torch.cuda.is_available():
            raise ConfigError('--amp needs a CUDA GPU (MMEngine\'s AmpOptimWrapper does not run '
                              'on CPU); train without --amp.')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'  # its loss scaler skips non-finite steps
        for key in ('on_nonfinite', 'max_consecutive_skips'):  # FiniteLossOptimWrapper's
            cfg.optim_wrapper.pop(key, None)
        cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise ConfigError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the '
                              'config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto' or (args.resume is None and cfg.get('resume')
                                 and cfg.get('load_from') is None):
        # MMEngine would trust last_checkpoint blindly; nothing to resume is a fresh run
        resume_from = find_resumable_checkpoint(cfg.work_dir)
        cfg.resume = resume_from is not None
        cfg.load_from = resume_from or cfg.get('load_from')
    elif args.resume is not None:
        check_resumable(args.resume)
        cfg.resume = True
        cfg.load_from = args.resume

    setup_cpu_distributed(cfg)
    runner = build_runner(cfg)  # builds the model once and checks its wiring
    runner.train()  # builds the datasets and evaluators first, which check the annotation files
    finish_distributed(runner)


if __name__ == '__main__':
    sys.exit(exit_status(main))
