from .nanodet_head import NanoDetHead
from .nanodet_plus_head import NanoDetPlusHead
from .simple_conv_head import SimpleConvHead

__all__ = ['NanoDetHead', 'NanoDetPlusHead', 'SimpleConvHead']
