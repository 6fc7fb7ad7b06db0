from .yolov8_ciou_loss import YOLOv8CIoULoss, yolov8_ciou

__all__ = ['YOLOv8CIoULoss', 'yolov8_ciou']
