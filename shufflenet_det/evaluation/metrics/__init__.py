from .checked_coco_metric import CheckedCocoMetric

__all__ = ['CheckedCocoMetric']
