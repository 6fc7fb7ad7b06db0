from .nanodet_head import NanoDetHead

__all__ = ['NanoDetHead']
