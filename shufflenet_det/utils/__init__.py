from .checkpoint_fit import check_weights_fit
from .cpu_distributed import setup_cpu_distributed
from .model_config_check import ModelConfigError, check_model_config
from .resume_checkpoint import find_resumable_checkpoint
from .run_config import (check_annotation_files, check_dataset_config, leaf_datasets,
                         load_config, load_run_config)
from .safe_checkpoint import (CheckpointError, UnsafeCheckpointError,
                              register_safe_checkpoint_loader, safe_torch_load)

__all__ = [
    'CheckpointError', 'ModelConfigError', 'UnsafeCheckpointError', 'check_annotation_files',
    'check_dataset_config', 'leaf_datasets',
    'check_model_config', 'check_weights_fit', 'find_resumable_checkpoint', 'load_config',
    'load_run_config', 'register_safe_checkpoint_loader', 'safe_torch_load',
    'setup_cpu_distributed'
]
