from .fast_inference import optimize_for_inference

__all__ = ['optimize_for_inference']
