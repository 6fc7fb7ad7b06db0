"""Distributed training and testing on CPU-only machines (gloo), and a clean end to a run."""
import logging
import os
import sys
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.runner import Runner

from shufflenet_det.errors import ConfigError

from .data_workers import stop_data_workers


def setup_cpu_distributed(cfg: Config) -> None:
    """Let a ``torchrun`` launch (``cfg.launcher != 'none'``) run without GPUs.

    MMEngine's ``init_dist`` calls ``torch.cuda.set_device`` and its DDP wrapper passes
    ``device_ids=[LOCAL_RANK]``; both fail on a CPU. Here the gloo process group is
    initialised first (MMEngine then skips its own set-up) and DDP gets ``device_ids=None``.
    Does nothing when the launcher is 'none' or a GPU is present; other launchers than
    torchrun ('pytorch') are refused on CPU.

    Args:
        cfg (Config): The run's config; its ``model_wrapper_cfg`` is set.

    Raises:
        ConfigError: For another launcher than 'pytorch' on a CPU.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise ConfigError(f'without a GPU only --launcher pytorch (torchrun, '
                          f'tools/dist_train.sh) is supported, not {launcher!r}')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.model_wrapper_cfg = dict(
        type='MMDistributedDataParallel',
        device_ids=None,
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))


def finish_distributed(runner: Optional[Runner] = None) -> None:
    """End a successful distributed run on every rank together; nothing to do in a single
    process.

    Each rank waits at a barrier until all have finished their last collective, so that none
    closes its connections while a peer still uses them, and tears the process group down.
    Then the rank leaves at once, with status 0, skipping the interpreter's finalisation,
    which now and then aborts a rank whose run succeeded ("terminate called without an
    active exception"): the reports in PyTorch issue 190489 trace it to C++ threads, the
    autograd engine's among them, racing the interpreter's teardown. On this project's 2-core
    machine, with both cores also kept busy, 5 of 18 two-rank trainings of the shapes config
    failed that way before this early exit, and none of 26 after it. What finalisation would
    still do is done first: the data loaders' workers are stopped, the logs closed and the
    standard streams flushed. Call it only after a successful run: a barrier would wait
    forever for a rank that failed.

    Args:
        runner (Runner, optional): The run's runner, its training or test ended, whose data
            loaders' workers are stopped. Default: None.
    """
    if not dist.is_initialized():
        return
    dist.barrier()
    dist.destroy_process_group()
    if runner is not None:
        stop_data_workers(runner)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
