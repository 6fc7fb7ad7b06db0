"""The converted NanoDet-m, exported through ONNX to ncnn, computes what NanoDet-m's own ncnn
export computes on a real image: the benchmark's peer runs the same network."""
import cv2
import numpy as np
import pytest
import torch
from mmengine.runner import load_checkpoint

from shufflenet_det.apis.onnx_export import export_onnx
from shufflenet_det.deployment.ncnn_export import onnx_to_ncnn
from shufflenet_det.deployment.ncnn_network import NcnnNetwork
from shufflenet_det.utils.complexity import build_detector
from tests.runtimes import requires
from tests.test_tools.tool_runner import REPO, run_tool

SHARED = REPO.parent / 'shared/data'
NANODET = SHARED / 'nanodet_m_coco'
IMAGES = SHARED / 'coco_tiny/val2017'
pytestmark = [
    requires('ncnn', 'pnnx'),
    pytest.mark.skipif(not (NANODET.exists() and IMAGES.exists()),
                       reason='../shared/data/nanodet_m_coco or coco_tiny is not here'),
]


def test_our_ncnn_export_matches_nanodets_own(tmp_path):
    weights = tmp_path / 'nanodet_m_320.pth'
    run_tool('tools/model_converters/nanodet_to_mmdet.py', NANODET / 'nanodet_m_320.ckpt',
             weights)
    _, model = build_detector(str(REPO / 'configs/nanodet_shufflenetv2_lightpan_320_coco.py'))
    load_checkpoint(model, str(weights), map_location='cpu', strict=True)
    with torch.no_grad():
        export_onnx(model.eval(), str(tmp_path / 'm.onnx'), (320, 320))
    onnx_to_ncnn(str(tmp_path / 'm.onnx'), str(tmp_path / 'm.ncnn.param'), (1, 3, 320, 320))
    ours = NcnnNetwork(str(tmp_path / 'm.ncnn.param'), threads=1)
    preprocessor = model.data_preprocessor
    theirs = NcnnNetwork(str(NANODET / 'ncnn/nanodet-m.param'), threads=1,
                         mean_std=(preprocessor.mean.flatten().tolist(),
                                   preprocessor.std.flatten().tolist()))

    image = cv2.resize(cv2.imread(str(sorted(IMAGES.glob('*.jpg'))[0])), (320, 320))
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
