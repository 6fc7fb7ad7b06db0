"""The check every runtime's tests share: an exported network computes what PyTorch computes,
and the deployed detector finds PyTorch's boxes."""
import numpy as np
import torch
import torch.nn as nn
from mmdet.structures import DetDataSample

from shufflenet_det.deployment import DeployedDetector
from shufflenet_det_runtime.network import Network
from shufflenet_det.utils.run_config import build_detector
from tests.matching import matched_fraction
from tests.reference_shufflenet import randomize_bn

EXPORT_SIZE = (128, 160)  # what the parity tests export and feed the networks at


def detector_with_spread_scores(config: str) -> nn.Module:
    """The config's detector in eval mode with every score kept (``score_thr`` 0), its convs
    re-initialised and BNs randomised: an untrained head gives near-ties otherwise."""
    torch.manual_seed(0)
    _, model = build_detector(config, {'model.test_cfg.score_thr': 0.0})
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.reset_parameters()
    return randomize_bn(model).eval()


def assert_matches_pytorch(model: nn.Module, network: Network, size: tuple,
                           batch_size: int, tolerance: float) -> None:
    """Raw outputs within ``tolerance`` of PyTorch's, and 98% of the boxes after NMS matched,
    on a random batch of ``batch_size`` images of ``size``, the same batch in every run (near-tie
    scores of an untrained head may swap in NMS on other images: see docs/tests.md)."""
    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (batch_size, 3, *size), generator=generator).float()
    with torch.no_grad():
        normalized = model.data_preprocessor(dict(inputs=list(images.byte())))['inputs']
        groups = model._forward(normalized)
    expected = [level for group in groups for level in group]
    raw = network(images.numpy())
    assert len(raw) == len(expected)
    for out, exp in zip(raw, expected):
        assert out.shape == tuple(exp.shape)
        assert np.abs(out - exp.numpy()).max() <= tolerance

    metas = [dict(img_shape=size, ori_shape=size, scale_factor=(1.0, 1.0))] * batch_size
    with torch.no_grad():
        reference = model.bbox_head.predict_by_feat(*groups, batch_img_metas=metas,
                                                    rescale=True)
    samples = [DetDataSample(metainfo=meta) for meta in metas]
    # DeployedDetector maps the preprocessor's normalised batch back to what the graph takes
    predictions = DeployedDetector(network, model).predict(normalized, samples)
    for pred, ref in zip(predictions, reference):
        assert len(pred.pred_instances) == len(ref) > 0
        assert matched_fraction(pred.pred_instances, ref) >= 0.98
