from .c2f import C2f
from .ghost_bottleneck import GhostBottleneck, GhostModule

__all__ = ['C2f', 'GhostBottleneck', 'GhostModule']
