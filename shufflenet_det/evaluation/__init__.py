from .metrics import CheckedCocoMetric

__all__ = ['CheckedCocoMetric']
