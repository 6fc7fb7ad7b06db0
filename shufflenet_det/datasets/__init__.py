from .checked_coco_dataset import CheckedCocoDataset, DatasetProblem
from .synthetic_shapes import SHAPE_CLASSES, draw_shapes_image

__all__ = ['CheckedCocoDataset', 'DatasetProblem', 'SHAPE_CLASSES', 'draw_shapes_image']
