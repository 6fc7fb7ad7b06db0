"""The fast inference path gives the same outputs and boxes as the training model."""
import copy
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from shufflenet_det.apis import optimize_for_inference
from shufflenet_det.models.backbones import ShuffleNetV2
from shufflenet_det.benchmarking.complexity import end_to_end_batch
from shufflenet_det.utils.run_config import build_detector
from tests.matching import matched_fraction
from tests.reference_shufflenet import randomize_bn

CONFIGS = Path(__file__).parents[2] / 'configs'


@pytest.mark.parametrize('channels_last', [False, True])
def test_backbone_outputs_match(channels_last):
    torch.manual_seed(0)
    backbone = ShuffleNetV2(out_indices=(0, 1, 2, 3), extra_dw=True)
    backbone.init_weights()
    randomize_bn(backbone).eval()
    fast = optimize_for_inference(copy.deepcopy(backbone), channels_last=channels_last)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    x = torch.rand(2, 3, 160, 160)
    with torch.no_grad():
        for out, expected in zip(fast(x), backbone(x)):
            torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('config', [
    'nanodet_shufflenetv2_lightpan_320_coco.py', 'fcos_shufflenetv2star_coco.py',
    'retinanet_shufflenetv2_pafpn_1x_coco.py', 'nanodet-plus_shufflenetv2_ghostpan_320_coco.py'])
def test_detector_gives_same_boxes(config):
    torch.manual_seed(0)
    _, model = build_detector(str(CONFIGS / config), {'model.test_cfg.score_thr': 0.0})
    for module in model.modules():  # spread the scores: untrained heads give near-ties
        if isinstance(module, nn.Conv2d):
            module.reset_parameters()
    randomize_bn(model).eval()
    data = end_to_end_batch((192, 256), batch_size=2)
    with torch.no_grad():
        inputs = model.data_preprocessor(data)['inputs']
        expected_raw = model._forward(inputs)
        expected = model.test_step(data)
        fast = optimize_for_inference(copy.deepcopy(model))
        raw = fast._forward(inputs)
        results = fast.test_step(data)
    for outs, expected_outs in zip(raw, expected_raw):
        for out, exp in zip(outs, expected_outs):
            torch.testing.assert_close(out, exp, rtol=1e-4, atol=1e-4)
    for result, reference in zip(results, expected):
        assert len(result.pred_instances) == len(reference.pred_instances) > 0
        # Near-ties at NMS or top-k may swap a box or two.
        assert matched_fraction(result.pred_instances, reference.pred_instances) >= 0.98
