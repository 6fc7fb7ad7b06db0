"""Every detector config exports to ONNX; ONNX Runtime reproduces PyTorch's outputs and boxes."""
from pathlib import Path

import pytest

from shufflenet_det_runtime.onnx_runtime_network import OnnxRuntimeNetwork
from tests.deployed_parity import EXPORT_SIZE, assert_matches_pytorch

CONFIGS = sorted(path.name for path in (Path(__file__).parents[2] / 'configs').glob('*.py'))


@pytest.mark.xdist_group('exports')
@pytest.mark.parametrize('config', CONFIGS, ids=lambda name: name[:-3])
def test_onnx_runtime_matches_pytorch(config, exported_detector):
    model, onnx = exported_detector(config)
    network = OnnxRuntimeNetwork(str(onnx), threads=1)
    # a batch size other than the export's (2), within 1e-4
    assert_matches_pytorch(model, network, EXPORT_SIZE, batch_size=3, tolerance=1e-4)
