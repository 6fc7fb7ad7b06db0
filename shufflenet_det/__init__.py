"""ShuffleNetV2 / ShuffleNetV2* backbones and lightweight detectors for MMDetection 3.x.

Importing the package registers its modules in MMDetection's registries and makes MMEngine
load local checkpoints without running code from them (see ``utils.safe_checkpoint``).
"""
from .datasets import *  # noqa: F401,F403
from .engine import *  # noqa: F401,F403
from .evaluation import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .utils import register_safe_checkpoint_loader

__version__ = '0.1.0'

register_safe_checkpoint_loader()
