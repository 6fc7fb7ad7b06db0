"""Every detector config exports to ONNX; ONNX Runtime reproduces PyTorch's outputs and boxes."""
from pathlib import Path

import pytest

from shufflenet_det.apis.onnx_export import export_onnx
from shufflenet_det.deployment.onnx_runtime_network import OnnxRuntimeNetwork
from tests.deployed_parity import assert_matches_pytorch, detector_with_spread_scores

CONFIGS = sorted((Path(__file__).parents[2] / 'configs').glob('*.py'))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_onnx_runtime_matches_pytorch(path, tmp_path):
    model = detector_with_spread_scores(str(path))
    size = (128, 160)
    export_onnx(model, str(tmp_path / 'model.onnx'), size)
    network = OnnxRuntimeNetwork(str(tmp_path / 'model.onnx'), threads=1)
    # a batch size other than the export's (2), within 1e-4
    assert_matches_pytorch(model, network, size, batch_size=3, tolerance=1e-4)
