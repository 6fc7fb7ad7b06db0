"""The numbers that define ShuffleNet V2's architecture, shared by the backbone and the readers
of its checkpoints."""
from typing import Dict, Tuple

# Output channels of stage2, stage3, stage4 and the final 1x1 conv for each width
# (Table 5 of the ShuffleNet V2 paper).
ARCH_SETTINGS: Dict[float, Tuple[int, int, int, int]] = {
    0.5: (48, 96, 192, 1024),
    1.0: (116, 232, 464, 1024),
    1.5: (176, 352, 704, 1024),
    2.0: (244, 488, 976, 2048),
}
STEM_CHANNELS = 24
STAGE_BLOCKS = (4, 8, 4)
