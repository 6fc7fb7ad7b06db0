"""Fixtures shared by the tests, and how the suite runs in parallel.

``make test`` runs the suite in one pytest-xdist worker per CPU core (``-n auto --dist
loadgroup``). Each worker, and every tool it starts, then computes on one thread, so that two
workers never fight over a core; the tests marked ``slow`` are handed out first, so the long
runs start at once and the short tests fill in around them. A session fixture is made once per
worker: the tests that read one are marked with one ``xdist_group``, so they share a worker and
it is made once a run. Every test starts from the same random state, whichever worker runs it
and whatever ran before it there.
"""
import logging
import os
import random
from pathlib import Path
from typing import Callable, Dict, Tuple

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import MMLogger

from shufflenet_det.apis.onnx_export import export_onnx
from tests.deployed_parity import EXPORT_SIZE, detector_with_spread_scores
from tests.shared_data import NANODET_M
from tests.test_tools.tool_runner import REPO, run_tool

NANODET_M_CONFIG = REPO / 'configs/nanodet_shufflenetv2_lightpan_320_coco.py'


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line('markers', 'slow: runs for minutes; handed out first')
    if os.environ.get('PYTEST_XDIST_WORKER'):  # one thread a worker, its tools' too
        os.environ['OMP_NUM_THREADS'] = '1'
        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def same_random_state() -> None:
    """Python's, NumPy's and torch's global generators seeded before each test: a test that
    draws from them draws the same numbers in every run, not what the tests before it left."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def pytest_collection_modifyitems(items: list) -> None:
    """The slow tests first, each group in its collection order."""
    items.sort(key=lambda item: item.get_closest_marker('slow') is None)


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


@pytest.fixture(scope='session')
def exported_detector(tmp_path_factory) -> Callable[[str], Tuple[nn.Module, Path]]:
    """A config's detector with spread scores and its network exported to ONNX at
    ``EXPORT_SIZE``, made once a run for each config (``xdist_group('exports')``).

    Returns:
        Callable: ``config file name -> (detector, .onnx path)``; the runtimes' files may be
        converted beside the ``.onnx``.
    """
    exported: Dict[str, Tuple[nn.Module, Path]] = {}

    def export(config: str) -> Tuple[nn.Module, Path]:
        if config not in exported:
            model = detector_with_spread_scores(str(REPO / 'configs' / config))
            path = tmp_path_factory.mktemp('export') / 'model.onnx'
            export_onnx(model, str(path), EXPORT_SIZE)
            exported[config] = model, path
        return exported[config]

    return export


@pytest.fixture(scope='session')
def nanodet_m_checkpoint(tmp_path_factory) -> Callable[[str], Path]:
    """NanoDet-m's COCO weights converted with tools/model_converters/nanodet_to_mmdet.py,
    once a run for each file (``xdist_group('nanodet_m')``).

    Returns:
        Callable: ``'nanodet_m_320'`` or ``'nanodet_m_416'`` -> the converted checkpoint.
    """
    converted: Dict[str, Path] = {}

    def convert(name: str) -> Path:
        if name not in converted:
            out = tmp_path_factory.mktemp('nanodet_m') / f'{name}_mmdet.pth'
            result = run_tool('tools/model_converters/nanodet_to_mmdet.py',
                              NANODET_M / f'{name}.ckpt', out)
            assert 'BatchNorms are folded' in result.stdout  # the weights of an ncnn export
            converted[name] = out
        return converted[name]

    return convert


@pytest.fixture(scope='session')
def nanodet_m_export(nanodet_m_checkpoint, tmp_path_factory) -> Callable[[str], Path]:
    """The converted NanoDet-m (320) exported with the deployment tools, as a user does, once a
    run for each format (``xdist_group('nanodet_m')``): ``'onnx'``
    (tools/deployment/pytorch2onnx.py), ``'ncnn'`` or ``'openvino'`` (from that ONNX file,
    tools/deployment/convert_onnx.py).

    Returns:
        Callable: the format -> the exported model (``.onnx``, ``.ncnn.param`` or ``.xml``).
    """
    onnx = tmp_path_factory.mktemp('nanodet_m_exports') / 'nanodet_m_320.onnx'
    suffixes = dict(onnx='.onnx', ncnn='.ncnn.param', openvino='.xml')

    def export(backend: str) -> Path:
        if not onnx.exists():
            run_tool('tools/deployment/pytorch2onnx.py', NANODET_M_CONFIG, '--weights',
                     nanodet_m_checkpoint('nanodet_m_320'), '--out', onnx)
        model = onnx.with_suffix(suffixes[backend])
        if not model.exists():
            run_tool('tools/deployment/convert_onnx.py', onnx, '--backend', backend)
        return model

    return export
