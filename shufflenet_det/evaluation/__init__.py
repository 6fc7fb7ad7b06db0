from .evaluator_config_check import check_evaluator_config
from .metrics import CheckedCocoMetric

__all__ = ['CheckedCocoMetric', 'check_evaluator_config']
