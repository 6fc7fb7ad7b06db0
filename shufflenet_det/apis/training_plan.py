"""Plan a training run to end within a time budget on this machine: a few iterations of the run
and a validation of a few images are timed first; its length and evaluations follow."""
import math
import tempfile
import time
from typing import Tuple

import numpy as np
from mmengine.config import Config

from shufflenet_det.utils import build_runner, stop_data_workers

from .finetune_config import Schedule

PROBE_ITERATIONS = 20  # trained with the run's own runner and hooks, ...
TIMED_ITERATIONS = 10  # ... the last timed, once the batches its workers loaded ahead are used
PROBE_VAL_IMAGES = 16
EVALUATIONS_PER_MINUTE = 1
MAX_EVALUATIONS = 10
EVALUATION_SHARE = 0.25  # at most this part of the budget for evaluations (at least one)
EVALUATION_OVERHEAD_S = 2.0  # COCO's evaluator and the loader's start, per evaluation
MARGIN = 0.93  # of the time left, planned for training; the rest absorbs this machine's noise


def measure_speed(cfg: Config) -> Tuple[float, float, float]:
    """Time ``cfg``'s training iterations, its validation and its start on this machine.

    The run itself is started in a temporary work dir, with its runner, hooks, data and
    starting weights, for ``PROBE_ITERATIONS`` iterations (the last ``TIMED_ITERATIONS``
    timed), then validated on its first ``PROBE_VAL_IMAGES`` val images; nothing is kept.

    Args:
        cfg (Config): The run's config.

    Returns:
        tuple[float, float, float]: Seconds per training iteration, per validation image, and
        of the start before the first iteration (building the runner, loading the weights,
        the hooks' set-up such as BatchNorm recalibration), which the run pays again.
    """
    probe = cfg.copy()
    probe.train_cfg = dict(type='IterBasedTrainLoop', max_iters=PROBE_ITERATIONS,
                           val_interval=PROBE_ITERATIONS + 1)
    probe.default_hooks.checkpoint = dict(type='CheckpointHook', interval=PROBE_ITERATIONS + 1,
                                          save_last=False)
    probe.default_hooks.logger = dict(type='LoggerHook', interval=PROBE_ITERATIONS)
    probe.custom_hooks = [hook for hook in probe.custom_hooks if hook['type'] != 'TimeLimitHook']
    probe.visualizer = dict(probe.visualizer, name='training_plan_probe')  # not the run's
    probe.val_dataloader = dict(probe.val_dataloader, dataset=dict(
        probe.val_dataloader.dataset, indices=PROBE_VAL_IMAGES))
    with tempfile.TemporaryDirectory(prefix='shufflenet_det_probe_') as work_dir:
        probe.work_dir = work_dir
        started = time.perf_counter()
        runner = build_runner(probe)
        try:
            runner.train()
            times = runner.message_hub.get_scalar('train/time').data[0]
            setup_seconds = time.perf_counter() - started - float(np.sum(times))
            iteration_seconds = float(np.mean(times[-TIMED_ITERATIONS:]))
            images = len(runner.val_loop.dataloader.dataset)
            start = time.perf_counter()
            runner.val_loop.run()
            image_seconds = (time.perf_counter() - start) / images
        finally:
            stop_data_workers(runner)  # not left to the garbage collector, inside the run
    return iteration_seconds, image_seconds, setup_seconds


def plan_schedule(seconds: float, iteration_seconds: float, image_seconds: float,
                  val_images: int, batch_size: int) -> Schedule:
    """The longest run that ends within ``seconds``, with its evaluations.

    One evaluation of ``val_images`` images a minute (at most ``MAX_EVALUATIONS``, in at most
    ``EVALUATION_SHARE`` of the time, at least one) and a margin for this machine's noise come
    off the time first.

    Args:
        seconds (float): The time budget of training.
        iteration_seconds (float): Measured seconds per training iteration.
        image_seconds (float): Measured seconds per validation image.
        val_images (int): Validation images.
        batch_size (int): Training images per iteration.

    Returns:
        Schedule: Iterations and validation interval, the budget in minutes as its time limit.
    """
    evaluation_seconds = val_images * image_seconds + EVALUATION_OVERHEAD_S
    evaluations = max(1, int(min(MAX_EVALUATIONS, seconds / 60 * EVALUATIONS_PER_MINUTE,
                                 EVALUATION_SHARE * seconds / evaluation_seconds)))
    training = (seconds - evaluations * evaluation_seconds) * MARGIN
    iterations = max(evaluations, int(training / iteration_seconds))
    return Schedule(iterations=iterations, val_interval=math.ceil(iterations / evaluations),
                    batch_size=batch_size, minutes=seconds / 60)
