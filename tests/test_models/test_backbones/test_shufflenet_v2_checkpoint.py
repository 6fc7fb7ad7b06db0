"""Loading published checkpoint layouts, checked output for output against reference networks."""
import re
from itertools import accumulate

import pytest
import torch
import torch.nn as nn
from scipy.optimize import linear_sum_assignment

from shufflenet_det.benchmarking import ReferenceShuffleNetV2
from shufflenet_det.models.backbones import ShuffleNetV2
from shufflenet_det.utils import CheckpointError
from tests.reference_shufflenet import (REPEATS, MegviiShuffleNetV2, MmpretrainClassifier,
                                        randomize_bn)


def pretrained(path, width=1.0, extra_dw=False, out_indices=(3, ), **kwargs):
    backbone = ShuffleNetV2(widen_factor=width, extra_dw=extra_dw, out_indices=out_indices,
                            init_cfg=dict(type='Pretrained', checkpoint=str(path), **kwargs))
    backbone.init_weights()
    return backbone.eval()


def assert_same_output(backbone, reference_features, size=96):
    x = torch.rand(2, 3, size, size)
    with torch.no_grad():
        expected = reference_features(x)
        (actual, ) = backbone(x)
    assert (actual - expected).abs().max() < 1e-5


def channel_permutation(actual, expected):
    """The order of ``actual``'s channels that best matches ``expected``'s, channel for
    channel (a minimum-cost assignment on the largest absolute difference)."""
    cost = torch.cdist(expected.transpose(0, 1).flatten(1), actual.transpose(0, 1).flatten(1),
                       p=float('inf'))
    _, order = linear_sum_assignment(cost.numpy())
    return torch.from_numpy(order)


def assert_same_outputs(backbone, reference_outputs, stages_permuted=False, size=96):
    """Compare every output of ``backbone`` with the reference's output at the same index.

    ``stages_permuted``: the stage outputs (indices 0-2) may hold the reference's channels
    in another order, as Megvii's units concatenate unshuffled; conv5's must match as is.
    """
    x = torch.rand(2, 3, size, size)
    with torch.no_grad():
        expected = reference_outputs(x)
        actual = backbone(x)
    assert len(actual) == len(backbone.out_indices)
    for index, out in zip(backbone.out_indices, actual):
        if stages_permuted and index < 3:
            out = out[:, channel_permutation(out, expected[index])]
        assert out.shape == expected[index].shape, index
        assert (out - expected[index]).abs().max() < 1e-5, index


def stage_outputs(stem, stages, conv5):
    """A function of an image batch returning the stage 2, 3, 4 and conv5 feature maps."""

    def outputs(x):
        x = stem(x)
        features = []
        for layer in (*stages, conv5):
            x = layer(x)
            features.append(x)
        return features

    return outputs


def save_reference(kind, width, path):
    """Save a reference network of ``kind`` with random weights to ``path``; return its
    :func:`stage_outputs`."""
    torch.manual_seed(1)
    if kind == 'torchvision':
        ref = randomize_bn(ReferenceShuffleNetV2(width)).eval()
        torch.save(ref.state_dict(), path)
        return stage_outputs(nn.Sequential(ref.conv1, ref.maxpool),
                             (ref.stage2, ref.stage3, ref.stage4), ref.conv5)
    if kind == 'mmpretrain':
        ref = randomize_bn(MmpretrainClassifier(width)).eval()
        torch.save({'meta': {'mmpretrain_version': '1.2.0'}, 'state_dict': ref.state_dict()}, path)
        layers = ref.backbone.layers
        return stage_outputs(nn.Sequential(ref.backbone.conv1, nn.MaxPool2d(3, 2, 1)),
                             layers[:3], layers[3])
    ref = randomize_bn(MegviiShuffleNetV2(width)).eval()
    torch.save({'state_dict': ref.state_dict_as_published()}, path)
    stage_ends = list(accumulate(REPEATS, initial=0))
    stages = [ref.features[start:end] for start, end in zip(stage_ends, stage_ends[1:])]
    return stage_outputs(nn.Sequential(ref.first_conv, ref.maxpool), stages, ref.conv_last)


@pytest.mark.parametrize('kind, width', [
    ('torchvision', 0.5), ('torchvision', 1.0), ('torchvision', 1.5), ('torchvision', 2.0),
    ('mmpretrain', 1.0), ('mmpretrain', 1.5), ('megvii', 0.5)])
def test_layouts_load_exactly(tmp_path, kind, width):
    path = tmp_path / f'{kind}.pth'
    reference_outputs = save_reference(kind, width, path)
    assert_same_outputs(pretrained(path, width, out_indices=(0, 1, 2, 3)), reference_outputs,
                        stages_permuted=kind == 'megvii')


@pytest.mark.parametrize('kind', ['torchvision', 'mmpretrain', 'megvii'])
def test_v2_weights_make_v2_star_compute_v2(tmp_path, kind):
    path = tmp_path / f'{kind}.pth'
    reference_outputs = save_reference(kind, 0.5, path)
    star = pretrained(path, 0.5, extra_dw=True)
    assert_same_outputs(star, reference_outputs)
    bn = star.layers[1][2].extra_dw.bn
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    assert torch.equal(scale, torch.ones_like(scale))


def test_detection_backbone_skips_conv5_weights(tmp_path):
    torch.manual_seed(0)
    ref = randomize_bn(ReferenceShuffleNetV2(1.0)).eval()
    torch.save(ref.state_dict(), tmp_path / 'tv.pth')
    backbone = pretrained(tmp_path / 'tv.pth', 1.0, out_indices=(0, 1, 2))
    assert len(backbone.layers) == 3
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        stage2 = ref.stage2(ref.maxpool(ref.conv1(x)))
        stage4 = ref.stage4(ref.stage3(stage2))
        outs = backbone(x)
    assert (outs[0] - stage2).abs().max() < 1e-5 and (outs[2] - stage4).abs().max() < 1e-5


def test_megvii_wider_than_half_is_refused_with_the_shape_difference(tmp_path):
    path = tmp_path / 'megvii.pth'
    save_reference('megvii', 1.0, path)
    with pytest.raises(CheckpointError, match='24-channel projection with a 92-channel main'):
        pretrained(path, 1.0)


def test_prefix_selects_backbone_of_a_detector_checkpoint(tmp_path):
    source = ShuffleNetV2(widen_factor=0.5)
    source.init_weights()
    randomize_bn(source)
    state = {f'backbone.{k}': v for k, v in source.state_dict().items()}
    state['bbox_head.conv.weight'] = torch.zeros(3)
    torch.save({'state_dict': state, 'meta': {}}, tmp_path / 'det.pth')
    for kwargs in (dict(prefix='backbone.'), {}):
        loaded = pretrained(tmp_path / 'det.pth', 0.5, **kwargs)
        assert_same_output(loaded, lambda x: source.eval()(x)[0])


def test_prefix_without_dot_data_parallel_and_file_url(tmp_path):
    torch.manual_seed(0)
    ref = randomize_bn(ReferenceShuffleNetV2(0.5)).eval()
    torch.save({'state_dict': {f'model.module.{k}': v for k, v in ref.state_dict().items()}},
               tmp_path / 'dp.pth')
    loaded = pretrained(f'file://{tmp_path}/dp.pth', 0.5, prefix='model')
    assert_same_output(loaded, ref.features)


def test_pretrained_in_a_list_of_init_cfgs_is_refused(tmp_path):
    backbone = ShuffleNetV2(init_cfg=[dict(type='Pretrained', checkpoint='x.pth'),
                                      dict(type='Kaiming', layer='Conv2d')])
    with pytest.raises(ValueError, match='Pretrained init_cfg alone'):
        backbone.init_weights()


def test_wrong_width_is_refused_and_nothing_is_loaded(tmp_path):
    path = tmp_path / 'tv.pth'
    save_reference('torchvision', 0.5, path)
    backbone = ShuffleNetV2(widen_factor=1.0,
                            init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    with pytest.raises(CheckpointError, match=r'looks like widen_factor=0\.5'):
        backbone.init_weights()
    assert all(torch.equal(v, before[k]) for k, v in backbone.state_dict().items())


def test_missing_key_is_refused(tmp_path):
    ref = ReferenceShuffleNetV2(1.0)
    state = ref.state_dict()
    del state['stage3.2.branch2.5.weight']
    torch.save(state, tmp_path / 'partial.pth')
    with pytest.raises(CheckpointError, match=r"missing keys \['layers.1.2.branch2.2.conv"):
        pretrained(tmp_path / 'partial.pth', 1.0, extra_dw=True)


def test_unexpected_key_is_refused(tmp_path):
    state = ReferenceShuffleNetV2(1.0).state_dict()
    state['stage2.0.branch3.0.weight'] = torch.zeros(1)
    torch.save(state, tmp_path / 'extra.pth')
    with pytest.raises(CheckpointError, match='unexpected keys'):
        pretrained(tmp_path / 'extra.pth', 1.0)


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / 'full.pth'
    save_reference('torchvision', 0.5, path)
    data = path.read_bytes()
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(data[:len(data) // 2])
    # The zip archive's central directory sits at its end: only a cut-off file lacks it.
    with pytest.raises(CheckpointError, match=(
            rf'{re.escape(str(cut))} .*expected a complete PyTorch checkpoint, but its '
            rf'{len(data) // 2} bytes could not be read: .*failed finding central directory$')):
        pretrained(cut, 0.5)


def test_unknown_layout_is_refused(tmp_path):
    torch.save({'encoder.weight': torch.zeros(2)}, tmp_path / 'other.pth')
    with pytest.raises(CheckpointError, match='not a ShuffleNet V2 checkpoint'):
        pretrained(tmp_path / 'other.pth')
