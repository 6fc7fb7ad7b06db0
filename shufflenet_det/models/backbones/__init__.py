from .shufflenet_v2 import InvertedResidual, ShuffleNetV2

__all__ = ['InvertedResidual', 'ShuffleNetV2']
