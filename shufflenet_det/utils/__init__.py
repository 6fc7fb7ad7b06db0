from .cpu_distributed import setup_cpu_distributed
from .run_config import load_run_config
from .safe_checkpoint import CheckpointError, register_safe_checkpoint_loader, safe_torch_load

__all__ = [
    'CheckpointError', 'load_run_config', 'register_safe_checkpoint_loader', 'safe_torch_load',
    'setup_cpu_distributed'
]
