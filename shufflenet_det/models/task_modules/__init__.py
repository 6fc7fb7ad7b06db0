from .yolov8_task_aligned_assigner import YOLOv8TaskAlignedAssigner

__all__ = ['YOLOv8TaskAlignedAssigner']
