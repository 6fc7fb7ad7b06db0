from shufflenet_det.errors import ModelConfigError

from .checkpoint_fit import check_weights_fit
from .cpu_distributed import finish_distributed, setup_cpu_distributed
from .data_workers import stop_data_workers
from .model_config_check import build_checked_model, check_model_wiring, explain_build_errors
from .resume_checkpoint import check_resumable, find_resumable_checkpoint
from .run_config import (build_runner, check_annotation_files, check_dataset_config,
                         config_classes, leaf_datasets, load_config, load_run_config)
from .safe_checkpoint import (CheckpointError, UnsafeCheckpointError,
                              register_safe_checkpoint_loader, safe_torch_load)

__all__ = [
    'CheckpointError', 'ModelConfigError', 'UnsafeCheckpointError', 'build_checked_model',
    'build_runner', 'check_annotation_files', 'check_dataset_config', 'check_model_wiring',
    'check_resumable', 'check_weights_fit', 'config_classes', 'explain_build_errors',
    'find_resumable_checkpoint', 'finish_distributed', 'leaf_datasets', 'load_config',
    'load_run_config', 'register_safe_checkpoint_loader', 'safe_torch_load',
    'setup_cpu_distributed', 'stop_data_workers'
]
