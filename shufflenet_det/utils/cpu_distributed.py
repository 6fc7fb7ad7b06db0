"""Distributed training and testing on CPU-only machines (gloo)."""
import torch
import torch.distributed as dist
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config) -> None:
    """Let a ``torchrun`` launch (``cfg.launcher != 'none'``) run without GPUs.

    MMEngine's ``init_dist`` calls ``torch.cuda.set_device`` and its DDP wrapper passes
    ``device_ids=[LOCAL_RANK]``; both fail on a CPU. Here the gloo process group is
    initialised first (MMEngine then skips its own set-up) and DDP gets ``device_ids=None``.
    Does nothing when the launcher is 'none' or a GPU is present.

    Args:
        cfg (Config): The run's config; its ``env_cfg`` and ``model_wrapper_cfg`` are updated.
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    cfg.model_wrapper_cfg = dict(
        type='MMDistributedDataParallel',
        device_ids=None,
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
