"""Skip marks for tests of optional runtimes, saying which package is missing."""
import importlib.util

import pytest


def requires(*modules: str) -> pytest.MarkDecorator:
    """Skip unless every one of ``modules`` is installed."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    return pytest.mark.skipif(bool(missing), reason=f'{", ".join(missing)} not installed '
                              f'(pip install {" ".join(missing)})')
