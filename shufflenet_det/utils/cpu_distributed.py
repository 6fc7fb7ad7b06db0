"""Distributed training and testing on CPU-only machines (gloo), and a clean end to a run."""
import torch
import torch.distributed as dist
from mmengine.config import Config

from shufflenet_det.errors import ConfigError


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


def finish_distributed() -> None:
    """End a distributed run on every rank together; nothing to do in a single process.

    Each rank waits at a barrier until all have finished their last collective, so that none
    closes its connections while a peer still uses them, then tears the process group down
    (stopping gloo's worker threads) while the interpreter is still alive: gloo threads left at
    interpreter exit can abort a rank whose run succeeded ("terminate called without an active
    exception", PyTorch issue 190489). Call it only after a successful run: a barrier would wait
    forever for a rank that failed.
    """
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
