from .cpu_distributed import setup_cpu_distributed
from .safe_checkpoint import CheckpointError, register_safe_checkpoint_loader, safe_torch_load

__all__ = [
    'CheckpointError', 'register_safe_checkpoint_loader', 'safe_torch_load',
    'setup_cpu_distributed'
]
