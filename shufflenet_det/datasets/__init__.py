from .synthetic_shapes import SHAPE_CLASSES, draw_shapes_image

__all__ = ['SHAPE_CLASSES', 'draw_shapes_image']
