from .ghost_pan import GhostPAN
from .light_pan import LightPAN

__all__ = ['GhostPAN', 'LightPAN']
