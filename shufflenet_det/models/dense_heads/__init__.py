from .nanodet_head import NanoDetHead
from .nanodet_plus_head import NanoDetPlusHead
from .simple_conv_head import SimpleConvHead
from .yolov8_head import YOLOv8Head

__all__ = ['NanoDetHead', 'NanoDetPlusHead', 'SimpleConvHead', 'YOLOv8Head']
