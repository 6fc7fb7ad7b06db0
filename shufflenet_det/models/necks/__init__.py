from .light_pan import LightPAN

__all__ = ['LightPAN']
