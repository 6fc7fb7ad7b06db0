from .checked_coco import CheckedCOCO
from .checked_coco_dataset import CheckedCocoDataset
from .coco_conversion import ConvertedDataset, convert_to_coco, write_coco
from .conversion_report import ConversionReport
from .dataset_problem import DatasetError, DatasetProblem
from .synthetic_shapes import SHAPE_CLASSES, draw_shapes_image
from .transforms import StretchedRandomAffine

__all__ = [
    'CheckedCOCO', 'CheckedCocoDataset', 'ConversionReport', 'ConvertedDataset', 'DatasetError',
    'DatasetProblem', 'SHAPE_CLASSES', 'StretchedRandomAffine', 'convert_to_coco',
    'draw_shapes_image', 'write_coco'
]
