from .atomic_checkpoint_hook import AtomicCheckpointHook, AtomicLocalBackend, atomic_write
from .bn_recalibration_hook import BNRecalibrationHook, recalibrate_batchnorm
from .class_transfer_hook import ClassTransferHook, transfer_class_rows

__all__ = [
    'AtomicCheckpointHook', 'AtomicLocalBackend', 'BNRecalibrationHook', 'ClassTransferHook',
    'atomic_write', 'recalibrate_batchnorm', 'transfer_class_rows'
]
