from .atomic_checkpoint_hook import AtomicCheckpointHook, AtomicLocalBackend, atomic_write

__all__ = ['AtomicCheckpointHook', 'AtomicLocalBackend', 'atomic_write']
