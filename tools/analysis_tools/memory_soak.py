r"""Resident memory over a long training run and a long evaluation: does it keep growing?

Trains a config for ``--iters`` iterations (its own model, data and dataloader settings, no
checkpoints, no validation), then evaluates its test set ``--test-repeats`` times over, and
samples memory as it goes: the resident set (RSS) of the main process and the proportional set
(PSS, shared pages split) of the main process and its dataloader workers together. Growth is
measured from the end of ``--warmup`` iterations (and from the first tenth of the evaluation)
to the end; the exit code is 1 when either grows more than ``--max-growth`` percent. Linux
only (reads /proc).

Example:
    python tools/misc/make_synthetic_coco.py data/shapes --train 800 --val 100
    python tools/analysis_tools/memory_soak.py configs/nanodet_shufflenetv2_lightpan_shapes.py \
        --iters 300 --test-repeats 20
"""
import argparse
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config, DictAction
from mmengine.hooks import Hook

import shufflenet_det  # noqa: F401
from shufflenet_det.utils import build_runner, load_config
from shufflenet_det.utils.cli import exit_status
from shufflenet_det.utils.memory_usage import growth, memory_mib


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file')
    parser.add_argument('--iters', type=int, default=300, help='training iterations')
    parser.add_argument('--warmup', type=int, default=50,
                        help='iterations before the baseline sample')
    parser.add_argument('--test-repeats', type=int, default=1,
                        help='evaluate the test set this many times over (0: no evaluation)')
    parser.add_argument('--interval', type=int, default=25, help='iterations between samples')
    parser.add_argument('--max-growth', type=float, default=5.0,
                        help='largest acceptable growth in percent')
    parser.add_argument('--work-dir', default='work_dirs/memory_soak')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


class MemoryProbe(Hook):
    """Samples :func:`memory_mib` every ``interval`` training and test iterations.

    Args:
        interval (int): Iterations between samples.
    """

    priority = 'VERY_LOW'

    def __init__(self, interval: int) -> None:
        self.interval = interval
        self.samples: Dict[str, List[Tuple[int, float, float]]] = {'train': [], 'test': []}

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Sample after every ``interval``-th training iteration."""
        if (runner.iter + 1) % self.interval == 0:
            self.samples['train'].append((runner.iter + 1, *memory_mib()))

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Sample after every ``interval``-th test batch."""
        if (batch_idx + 1) % self.interval == 0:
            self.samples['test'].append((batch_idx + 1, *memory_mib()))


def soak_config(args: argparse.Namespace) -> Config:
    """The config, set up for a plain iteration-based run with nothing but the test at the
    end."""
    cfg = load_config(args.config, args.cfg_options)
    cfg.work_dir = args.work_dir
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=args.iters)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.pop('visualization', None)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=args.interval)
    cfg.log_processor = dict(by_epoch=False)
    if args.test_repeats > 1:
        cfg.test_dataloader.dataset = dict(type='RepeatDataset', times=args.test_repeats,
                                           dataset=cfg.test_dataloader.dataset)
    return cfg


def report(name: str, samples: List[Tuple[int, float, float]], start: int,
           max_growth: float) -> bool:
    """Print the samples and the growth; whether the growth is within ``max_growth``."""
    print(f'\n{name}: iteration | RSS of the main process (MiB) | PSS with workers (MiB)')
    for iteration, rss, pss in samples:
        print(f'{iteration:>9} | {rss:9.1f} | {pss:9.1f}')
    base, rss_growth, pss_growth = growth(samples, start)
    within = max(rss_growth, pss_growth) <= max_growth
    print(f'{name} growth from iteration {base}: RSS {rss_growth:+.1f}%, PSS '
          f'{pss_growth:+.1f}% ({"within" if within else "above"} {max_growth}%)')
    return within


def main() -> None:
    args = parse_args()
    if args.warmup + args.interval > args.iters:
        raise SystemExit('error: --iters must leave at least one --interval after --warmup')
    if not os.path.exists('/proc/self/smaps_rollup'):
        raise SystemExit('error: memory_soak.py reads /proc/<pid>/smaps_rollup (Linux)')
    runner = build_runner(soak_config(args))
    probe = MemoryProbe(args.interval)
    runner.register_hook(probe)
    runner.train()
    ok = report('train', probe.samples['train'], args.warmup, args.max_growth)
    if args.test_repeats > 0:
        runner.test()
        test_images = len(runner.test_dataloader.dataset)
        batches = len(runner.test_dataloader)
        print(f'\nevaluated {test_images} images in {batches} batches')
        if len(probe.samples['test']) >= 2:
            ok &= report('test', probe.samples['test'], max(1, batches // 10), args.max_growth)
    raise SystemExit(0 if ok else 1)


if __name__ == '__main__':
    sys.exit(exit_status(main))
