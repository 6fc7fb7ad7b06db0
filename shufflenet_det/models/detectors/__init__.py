from .nanodet_plus import NanoDetPlus

__all__ = ['NanoDetPlus']
