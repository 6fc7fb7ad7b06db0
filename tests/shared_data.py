"""The real data beside the repository (``../shared/data``) and the mark that skips a test
where it is absent, as it is in a user's clone."""
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).parents[1].parent / 'shared/data'
COCO_TINY = SHARED_DATA / 'coco_tiny'  # 80 + 80 real COCO images
NANODET_M = SHARED_DATA / 'nanodet_m_coco'  # NanoDet-m's COCO weights and ncnn export


def requires_shared(*folders: Path) -> pytest.MarkDecorator:
    """Skip unless every one of ``folders`` is there, naming those that are not."""
    missing = [f'../shared/data/{folder.name}' for folder in folders if not folder.exists()]
    return pytest.mark.skipif(bool(missing), reason=f'{" and ".join(missing)} not here')
