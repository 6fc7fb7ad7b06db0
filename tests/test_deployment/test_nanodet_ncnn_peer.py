"""The converted NanoDet-m, exported through ONNX to ncnn, computes what NanoDet-m's own ncnn
export computes on a real image: the benchmark's peer runs the same network."""
import cv2
import numpy as np
import pytest

from shufflenet_det_runtime.ncnn_network import NcnnNetwork
from shufflenet_det.utils.run_config import build_detector
from tests.runtimes import requires
from tests.shared_data import COCO_TINY, NANODET_M, requires_shared
from tests.test_tools.tool_runner import REPO

# the converted weights and their ncnn export (tests/conftest.py) are made once, on one worker
pytestmark = [requires('ncnn', 'pnnx'), requires_shared(NANODET_M, COCO_TINY),
              pytest.mark.xdist_group('nanodet_m')]


def test_our_ncnn_export_matches_nanodets_own(nanodet_m_export):
    _, model = build_detector(str(REPO / 'configs/nanodet_shufflenetv2_lightpan_320_coco.py'))
    ours = NcnnNetwork(str(nanodet_m_export('ncnn')), threads=1)
    preprocessor = model.data_preprocessor
    theirs = NcnnNetwork(str(NANODET_M / 'ncnn/nanodet-m.param'), threads=1,
                         mean_std=(preprocessor.mean.flatten().tolist(),
                                   preprocessor.std.flatten().tolist()))

    first_image = sorted((COCO_TINY / 'val2017').glob('*.jpg'))[0]
    image = cv2.resize(cv2.imread(str(first_image)), (320, 320))
    batch = image.transpose(2, 0, 1)[None].astype(np.float32)
    scores, distributions = ours(batch)[:3], ours(batch)[3:]
    reference = theirs(batch)  # (1, H*W, C) per level: scores after sigmoid, then bins
    for level in range(3):
        ref_scores, ref_bins = reference[2 * level], reference[2 * level + 1]
        mine = 1 / (1 + np.exp(-scores[level][0].reshape(80, -1).T))
        assert np.abs(mine - ref_scores[0]).max() <= 1e-3
        bins = distributions[level][0].reshape(32, -1).T
        assert np.abs(bins - ref_bins[0]).max() <= 1e-2 * max(1, np.abs(ref_bins).max())
    assert max(s.max() for s in reference[::2]) > 0.3  # a real image with real detections
