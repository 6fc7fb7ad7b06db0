from .safe_checkpoint import CheckpointError, register_safe_checkpoint_loader, safe_torch_load

__all__ = ['CheckpointError', 'register_safe_checkpoint_loader', 'safe_torch_load']
