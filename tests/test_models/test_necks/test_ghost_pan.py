"""GhostPAN: NanoDet-Plus's neck, with the stride-64 extra level."""
import pytest
import torch

from shufflenet_det.models.layers import GhostBottleneck
from shufflenet_det.models.necks import GhostPAN


def test_one_output_per_input_and_the_extra_level_at_half_size():
    neck = GhostPAN([116, 232, 464], 96).eval()
    feats = [torch.rand(2, c, s, s) for c, s in ((116, 40), (232, 20), (464, 10))]
    with torch.no_grad():
        outs = neck(feats)
    assert [o.shape for o in outs] == [(2, 96, s, s) for s in (40, 20, 10, 5)]
    assert neck.num_outs == 4 and neck.out_channels == 96  # what the wiring check reads
    merge = neck.top_down_blocks[0][0]
    assert isinstance(merge, GhostBottleneck)
    assert merge.shortcut.depthwise_conv.conv.kernel_size == (5, 5)  # 2C in, C out
    assert neck.downsamples[0].depthwise_conv.conv.stride == (2, 2)


def test_the_extra_level_adds_the_coarsest_input_and_output_paths():
    """Zeroing the last output conv leaves the extra level to the reduced stride-32 input."""
    neck = GhostPAN([8, 8, 8], 8).eval()
    feats = [torch.rand(1, 8, s, s) for s in (16, 8, 4)]
    torch.nn.init.zeros_(neck.extra_out_convs[0].pointwise_conv.bn.weight)
    torch.nn.init.zeros_(neck.extra_out_convs[0].pointwise_conv.bn.bias)
    with torch.no_grad():
        extra = neck(feats)[-1]
        expected = neck.extra_in_convs[0](neck.reduce_layers[2](feats[2]))
    # LeakyReLU(0) = 0: the zeroed branch adds nothing
    assert torch.allclose(extra, expected)


def test_a_wrong_number_of_inputs_is_named():
    with pytest.raises(ValueError, match=r'GhostPAN expects 3 feature maps .* got 2'):
        GhostPAN([8, 8, 8], 8)([torch.rand(1, 8, 4, 4)] * 2)
