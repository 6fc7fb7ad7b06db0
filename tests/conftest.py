"""Fixtures shared by the tests."""
import logging

import pytest
from mmengine.logging import MMLogger


@pytest.fixture
def log_file(tmp_path):
    """A fresh current MMLogger that also writes every record to a file (without MMEngine's
    filter of repeated warnings, so counts are real); read it with ``log_file.read_text()``."""
    path = tmp_path / 'log.txt'
    logger = MMLogger.get_instance(f'test_{tmp_path.name}')
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter('%(levelname)s - %(message)s'))
    logger.addHandler(handler)
    yield path
    logger.removeHandler(handler)
    handler.close()
