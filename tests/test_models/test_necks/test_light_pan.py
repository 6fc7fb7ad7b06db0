import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from shufflenet_det.models.necks import LightPAN


def reference_pan(laterals):
    """NanoDet's PAN merge: resize-and-add top-down, then bottom-up."""
    outs = list(laterals)
    for i in range(len(outs) - 1, 0, -1):
        outs[i - 1] = outs[i - 1] + F.interpolate(outs[i], size=outs[i - 1].shape[2:],
                                                  mode='bilinear', align_corners=False)
    for i in range(len(outs) - 1):
        outs[i + 1] = outs[i + 1] + F.interpolate(outs[i], size=outs[i + 1].shape[2:],
                                                  mode='bilinear', align_corners=False)
    return outs


def test_light_pan_has_only_1x1_laterals_and_merges_like_nanodet():
    neck = LightPAN([116, 232, 464], 96)
    neck.init_weights()
    convs = [m for m in neck.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 3 and all(c.kernel_size == (1, 1) for c in convs)
    assert sum(p.numel() for p in neck.parameters()) == (116 + 232 + 464) * 96 + 3 * 96
    inputs = [torch.rand(1, c, s, s) for c, s in ((116, 40), (232, 20), (464, 10))]
    outs = neck(tuple(inputs))
    expected = reference_pan([conv(x) for conv, x in zip(convs, inputs)])
    for out, exp, size in zip(outs, expected, (40, 20, 10)):
        assert out.shape == (1, 96, size, size)
        torch.testing.assert_close(out, exp)


def test_light_pan_names_a_wrong_number_of_inputs():
    neck = LightPAN([48, 96, 192], 64)
    with pytest.raises(ValueError, match='expects 3 feature maps'):
        neck((torch.rand(1, 48, 8, 8), torch.rand(1, 96, 4, 4)))
