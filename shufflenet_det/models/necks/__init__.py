from .ghost_pan import GhostPAN
from .light_pan import LightPAN
from .yolov8_pafpn import YOLOv8PAFPN

__all__ = ['GhostPAN', 'LightPAN', 'YOLOv8PAFPN']
