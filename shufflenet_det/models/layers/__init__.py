from .ghost_bottleneck import GhostBottleneck, GhostModule

__all__ = ['GhostBottleneck', 'GhostModule']
