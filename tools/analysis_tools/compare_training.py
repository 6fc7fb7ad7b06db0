r"""Train detector configs on the same data for the same iterations, and compare them: COCO mAP
on the validation split, time per training iteration, and size at inference.

Each config keeps its network, its losses and its hooks (NanoDet-Plus its auxiliary head and
EMA); data, input size, batch, optimizer (AdamW 2e-3, weight decay 0.05, gradient clipping 35),
warm-up, iterations and seed are the same for all. The dataset is a COCO-layout folder with
``annotations/instances_{train,val}.json`` and ``{train,val}/`` images, such as the shapes that
``tools/misc/make_synthetic_coco.py`` generates.

Example:
    python tools/misc/make_synthetic_coco.py data/shapes
    python tools/analysis_tools/compare_training.py \
        configs/nanodet_shufflenetv2_lightpan_320_coco.py \
        configs/nanodet-plus_shufflenetv2_ghostpan_320_coco.py --data-root data/shapes
"""
import argparse
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

from mmengine.config import Config

from shufflenet_det.errors import ConfigError
from shufflenet_det.utils.cli import exit_status
from shufflenet_det.benchmarking.complexity import complexity
from shufflenet_det.utils.run_config import build_detector
from shufflenet_det.utils.training_log import find_scalars, read_iteration_times

REPO = Path(__file__).resolve().parents[2]
RUN_CONFIG = '''_base_ = {config!r}
data_root = {root!r}
metainfo = dict(classes={classes!r})
img_scale = ({size}, {size})
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
# an InfiniteSampler: at each end of the data MMEngine's iteration-based loop sleeps 2 s
train_dataloader = dict(
    batch_size={batch_size}, num_workers={workers}, persistent_workers={persistent},
    sampler=dict(type='InfiniteSampler'),
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers={workers}, persistent_workers={persistent},
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
model = dict({heads})
randomness = dict(seed=0)
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters={iters},
                 val_interval={iters})
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
                        end={warmup})]
optim_wrapper = dict(_delete_=True, type='FiniteLossOptimWrapper',
                     optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
                     clip_grad=dict(max_norm=35, norm_type=2))
default_hooks = dict(checkpoint=dict(interval={iters}, by_epoch=False),
                     logger=dict(interval={log_interval}))
log_processor = dict(by_epoch=False)
'''


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The tool's arguments, parsed from ``argv`` (default: the command line)."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('configs', nargs='+', help='detector configs to compare')
    parser.add_argument('--data-root', required=True, help='COCO-layout dataset folder')
    parser.add_argument('--iters', type=int, default=300, help='training iterations')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--size', type=int, default=256, help='square input side')
    parser.add_argument('--workers', type=int, default=2, help='dataloader workers')
    parser.add_argument('--work-dir', default='work_dirs/compare_training')
    parser.add_argument('--markdown', help='also write the table to this file')
    args = parser.parse_args(argv)
    if args.iters < 20:
        parser.error('--iters must be at least 20 (time per iteration is taken after 10)')
    return args


def run_config(config: str, args: argparse.Namespace, classes: tuple) -> str:
    """The text of the config that trains ``config`` under the shared settings."""
    heads = [name for name in ('bbox_head', 'aux_head') if name in Config.fromfile(config).model]
    return RUN_CONFIG.format(
        config=str(Path(config).resolve()), root=str(Path(args.data_root).resolve()) + '/',
        classes=classes, size=args.size, batch_size=args.batch_size, workers=args.workers,
        persistent=args.workers > 0,
        heads=', '.join(f'{name}=dict(num_classes={len(classes)})' for name in heads),
        iters=args.iters, warmup=min(100, args.iters // 4),
        log_interval=max(1, min(10, args.iters // 20)))


def train_and_measure(config: str, args: argparse.Namespace, classes: tuple) -> dict:
    """Train one config with tools/train.py, and read its validation mAP and iteration time."""
    name = Path(config).stem
    work_dir = Path(args.work_dir) / name
    work_dir.mkdir(parents=True, exist_ok=True)
    path = work_dir / f'{name}_run.py'
    path.write_text(run_config(config, args, classes))
    print(f'training {name} for {args.iters} iterations ...', flush=True)
    train = subprocess.run([sys.executable, str(REPO / 'tools/train.py'), str(path),
                            '--work-dir', str(work_dir)], capture_output=True, text=True)
    if train.returncode != 0:
        raise ConfigError(f'training {config} failed:\n{train.stderr[-3000:]}')
    found = re.findall(r'coco/bbox_mAP: (\d+\.\d+)\s+coco/bbox_mAP_50: (\d+\.\d+)',
                       train.stdout + train.stderr)
    if not found:
        raise ConfigError(f'no validation mAP in the log of {config}')
    times = read_iteration_times(find_scalars(work_dir))
    skip = max(1, len(times) // 10)  # the first logging interval holds the warm-up
    _, model = build_detector(str(path))
    size = complexity(model, (args.size, args.size))
    return dict(config=name, mAP=float(found[-1][0]), mAP_50=float(found[-1][1]),
                seconds_per_iter=statistics.median(times[skip:]),
                params_m=size['params'] / 1e6, gflops=2 * size['flops'] / 1e9)


def main() -> None:
    args = parse_args()
    ann_file = Path(args.data_root) / 'annotations/instances_train.json'
    if not ann_file.is_file():
        raise ConfigError(f'{ann_file} not found; generate a dataset with '
                          'tools/misc/make_synthetic_coco.py')
    categories = sorted(json.loads(ann_file.read_text())['categories'], key=lambda c: c['id'])
    classes = tuple(c['name'] for c in categories)
    rows = [train_and_measure(config, args, classes) for config in args.configs]
    lines = [f'{args.iters} iterations at batch {args.batch_size}, {args.size}x{args.size}, '
             f'on {args.data_root}', '',
             '| config | params (M) | GFLOPs | val mAP | val mAP@50 | s / iteration |',
             '|---|---|---|---|---|---|']
    lines += [f'| `{r["config"]}` | {r["params_m"]:.2f} | {r["gflops"]:.2f} | {r["mAP"]:.3f} | '
              f'{r["mAP_50"]:.3f} | {r["seconds_per_iter"]:.3f} |' for r in rows]
    print('\n'.join(lines))
    if args.markdown:
        Path(args.markdown).write_text('\n'.join(lines) + '\n')


if __name__ == '__main__':
    sys.exit(exit_status(main))
