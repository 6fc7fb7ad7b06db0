"""The config of a fine-tuning run: a detector config pointed at converted data, with the
recipe measured for a few hundred images on a CPU (docs/fine_tuning.md, "The recipe")."""
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from mmengine.config import Config

# The recipe, each choice measured on raccoon_voc (docs/fine_tuning.md, "The recipe").
LEARNING_RATE = 1e-3  # AdamW
WEIGHT_DECAY = 0.05
WARMUP_FRACTION = 0.1  # linear warm-up from a tenth of the rate over this part of the run
FINAL_LR_FRACTION = 0.05  # cosine decay to this part of the rate
EMA_MOMENTUM = 0.01  # the EMA's weight per iteration: a horizon of ~100 iterations
EMA_WARMUP = 100  # ExpMomentumEMA's gamma: the weight starts at 1 and decays over ~this many
VAL_BATCH_SIZE = 8


@dataclass
class Schedule:
    """How long a run trains and how often it evaluates.

    Args:
        iterations (int): Training iterations.
        val_interval (int): Iterations between evaluations (and checkpoints).
        batch_size (int): Training images per iteration.
        minutes (float, optional): The time budget the run stops at, if any.
    """

    iterations: int
    val_interval: int
    batch_size: int
    minutes: Optional[float] = None


def _with_classes(dataset: dict, data_root: str, ann_file: Path,
                  classes: Sequence[str]) -> dict:
    """A copy of a dataset config reading ``ann_file`` of images under ``data_root``."""
    return dict(dataset, data_root=data_root, ann_file=str(ann_file), data_prefix=dict(img=''),
                metainfo=dict(classes=tuple(classes)))


def _set_num_classes(model: dict, num_classes: int) -> None:
    """Set ``num_classes`` of every head of a model config (NanoDet-Plus has two)."""
    for key in ('bbox_head', 'aux_head'):
        if isinstance(model.get(key), dict) and 'num_classes' in model[key]:
            model[key]['num_classes'] = num_classes


def _custom_hooks(base: List[dict], load_from: Optional[str],
                  minutes: Optional[float]) -> List[dict]:
    """The base config's custom hooks, with class transfer, BatchNorm recalibration (from a
    checkpoint), an EMA of the weights, the time limit and a progress bar added (those of an
    earlier fine-tuning run, whose checkpoint names its config as the base, replaced)."""
    hooks = [dict(hook) for hook in base
             if hook['type'] not in ('ClassTransferHook', 'TimeLimitHook', 'ProgressBarHook')]
    hooks.append(dict(type='ClassTransferHook', priority=48))  # before EMAHook copies weights
    if 'EMAHook' not in {hook['type'] for hook in hooks}:
        hooks.append(dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=EMA_MOMENTUM,
                          gamma=EMA_WARMUP, update_buffers=True, priority=49))
    if load_from and 'BNRecalibrationHook' not in {hook['type'] for hook in hooks}:
        hooks.append(dict(type='BNRecalibrationHook'))
    if minutes:
        hooks.append(dict(type='TimeLimitHook', minutes=minutes))
    hooks.append(dict(type='ProgressBarHook'))
    return hooks


def finetune_config(base: Config, data_root: str, annotations: Path, classes: Sequence[str],
                    work_dir: Path, load_from: Optional[str], schedule: Schedule,
                    learning_rate: float = LEARNING_RATE) -> Config:
    """The fine-tuning config of ``base``'s detector on converted data.

    Args:
        base (Config): The detector's config (its model and pipelines are kept).
        data_root (str): The dataset folder the json files' ``file_name`` are relative to.
        annotations (Path): The folder of ``instances_train.json`` and ``instances_val.json``.
        classes (Sequence[str]): The class names, in category id order.
        work_dir (Path): The run's folder.
        load_from (str, optional): The starting checkpoint; None from scratch.
        schedule (Schedule): Iterations, evaluations, batch size and time limit.
        learning_rate (float): AdamW's peak learning rate. Default: ``LEARNING_RATE``.

    Returns:
        Config: The run's config; evaluation on the val split (per class at test time), the
        best checkpoint by COCO's bbox mAP kept.
    """
    cfg = base.copy()
    _set_num_classes(cfg.model, len(classes))
    train_json, val_json = (annotations / f'instances_{split}.json' for split in ('train', 'val'))
    cfg.train_dataloader = dict(
        cfg.train_dataloader, batch_size=schedule.batch_size, num_workers=2,
        persistent_workers=True, sampler=dict(type='InfiniteSampler', shuffle=True),
        dataset=dict(_with_classes(cfg.train_dataloader.dataset, data_root, train_json, classes),
                     # images without boxes train as negatives, as the conversion says
                     filter_cfg=dict(cfg.train_dataloader.dataset.get('filter_cfg', {}),
                                     filter_empty_gt=False)))
    cfg.val_dataloader = dict(
        cfg.val_dataloader, batch_size=VAL_BATCH_SIZE, num_workers=2, persistent_workers=True,
        dataset=_with_classes(cfg.val_dataloader.dataset, data_root, val_json, classes))
    cfg.test_dataloader = cfg.val_dataloader
    cfg.val_evaluator = dict(type='CheckedCocoMetric', ann_file=str(val_json), metric='bbox')
    cfg.test_evaluator = dict(cfg.val_evaluator, classwise=True)

    iterations = schedule.iterations
    warmup = max(1, min(round(iterations * WARMUP_FRACTION), iterations - 1))
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iterations,
                         val_interval=schedule.val_interval)
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=warmup)]
    if iterations > warmup:
        cfg.param_scheduler.append(
            dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup, end=iterations,
                 T_max=iterations - warmup, eta_min=learning_rate * FINAL_LR_FRACTION))
    cfg.optim_wrapper = dict(type='FiniteLossOptimWrapper', clip_grad=dict(max_norm=35),
                             optimizer=dict(type='AdamW', lr=learning_rate,
                                            weight_decay=WEIGHT_DECAY))
    cfg.auto_scale_lr = dict(enable=False, base_batch_size=schedule.batch_size)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=max(1, min(20, iterations // 50)))
    cfg.default_hooks.checkpoint = dict(
        type='AtomicCheckpointHook', by_epoch=False, interval=schedule.val_interval,
        max_keep_ckpts=1, save_best='coco/bbox_mAP', rule='greater')
    cfg.log_processor = dict(type='LogProcessor', window_size=10, by_epoch=False)
    cfg.custom_hooks = _custom_hooks(cfg.get('custom_hooks', []), load_from, schedule.minutes)
    cfg.load_from = load_from
    cfg.resume = False
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=0)
    return cfg
