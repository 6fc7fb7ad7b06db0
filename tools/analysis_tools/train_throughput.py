r"""Training throughput (images/s) of a config on this machine, data loading measured apart.

Three measurements with the config's own dataloader settings (workers, batch size, pipeline):
1. data loading alone: batches drawn from the train dataloader;
2. training steps alone: forward, backward and optimizer step on one batch held in memory;
3. the two together, as training runs, with the time spent waiting for data.
Loading is the bottleneck when (1) delivers fewer images/s than (2) consumes.

Example:
    python tools/analysis_tools/train_throughput.py configs/fcos_shufflenetv2_coco.py \
        --data-root data/coco/ --iters 20
"""
import argparse
import sys
from typing import Iterable, Iterator, Optional, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import shufflenet_det  # noqa: F401
from shufflenet_det.benchmarking import timed
from shufflenet_det.utils import build_checked_model
from shufflenet_det.utils.cli import exit_status


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('configs', nargs='+', help='config files')
    parser.add_argument('--data-root', help='a COCO-layout dataset root to read instead of '
                        "the config's (annotations/instances_train2017.json, train2017/)")
    parser.add_argument('--iters', type=int, default=20, help='timed iterations per part')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def endless(loader: Iterable) -> Iterator:
    """Batches from ``loader``, starting a new epoch whenever one ends."""
    while True:
        yield from loader


def measure(config: str, args: argparse.Namespace) -> dict:
    cfg = Config.fromfile(config)
    if args.data_root:
        cfg.train_dataloader.dataset.update(
            data_root=args.data_root, ann_file='annotations/instances_train2017.json',
            data_prefix=dict(img='train2017/'))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    model = build_checked_model(cfg.model, cfg.get('default_scope', 'mmdet'))
    model.init_weights()
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    batches = endless(loader)
    batch_size = cfg.train_dataloader.batch_size

    def load() -> None:
        for _ in range(args.iters):
            next(batches)

    def step() -> None:
        for _ in range(args.iters):
            model.train_step(held, optim_wrapper)

    waited = 0.0

    def train() -> None:
        nonlocal waited
        for _ in range(args.iters):
            seconds, batch = timed(lambda: next(batches))
            waited += seconds
            model.train_step(batch, optim_wrapper)

    for _ in range(args.warmup):
        next(batches)
    loading, _ = timed(load)
    held = next(batches)
    for _ in range(args.warmup):
        model.train_step(held, optim_wrapper)
    stepping, _ = timed(step)
    training, _ = timed(train)
    images = args.iters * batch_size
    return dict(config=config, batch_size=batch_size,
                workers=cfg.train_dataloader.get('num_workers', 0), loading=images / loading,
                stepping=images / stepping, training=images / training,
                waiting_share=waited / training)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for config in args.configs:
        print(f'{config} ...', flush=True)
        rows.append(measure(config, args))
    print(f'\nCPU threads: {args.threads}; {args.iters} timed iterations each\n')
    print('| config | batch | workers | loading img/s | train step img/s | training img/s | '
          'waiting for data | bottleneck |')
    print('|---|---|---|---|---|---|---|---|')
    for r in rows:
        bottleneck = 'data loading' if r['loading'] < r['stepping'] else 'compute'
        print(f'| `{r["config"].split("/")[-1]}` | {r["batch_size"]} | {r["workers"]} | '
              f'{r["loading"]:.1f} | {r["stepping"]:.1f} | {r["training"]:.1f} | '
              f'{100 * r["waiting_share"]:.0f}% | {bottleneck} |')


if __name__ == '__main__':
    sys.exit(exit_status(main))
