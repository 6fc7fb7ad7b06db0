from .checked_coco import CheckedCOCO
from .checked_coco_dataset import CheckedCocoDataset
from .dataset_problem import DatasetError, DatasetProblem
from .synthetic_shapes import SHAPE_CLASSES, draw_shapes_image
from .transforms import StretchedRandomAffine

__all__ = [
    'CheckedCOCO', 'CheckedCocoDataset', 'DatasetError', 'DatasetProblem',
    'SHAPE_CLASSES', 'StretchedRandomAffine', 'draw_shapes_image'
]
