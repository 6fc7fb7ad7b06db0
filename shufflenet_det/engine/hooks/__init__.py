from .atomic_checkpoint_hook import (AtomicCheckpointHook, AtomicLocalBackend,
                                     NonFiniteCheckpointError, atomic_write, non_finite_tensors)
from .bn_recalibration_hook import BNRecalibrationHook, recalibrate_batchnorm
from .class_transfer_hook import ClassTransferHook, checkpoint_classes, transfer_class_rows
from .progress_bar_hook import ProgressBarHook
from .relative_path_visualization_hook import RelativePathVisualizationHook
from .time_limit_hook import TimeLimitHook

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'BNRecalibrationHook', 'ClassTransferHook',
    'NonFiniteCheckpointError', 'ProgressBarHook', 'RelativePathVisualizationHook',
    'TimeLimitHook', 'atomic_write', 'checkpoint_classes', 'non_finite_tensors',
    'recalibrate_batchnorm', 'transfer_class_rows'
]
