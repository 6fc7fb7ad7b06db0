import copy

import onnx
import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule

from shufflenet_det.apis.onnx_export import export_onnx
from shufflenet_det.deployment.channel_alignment import (AlignedShuffleNetV2,
                                                         align_branch_channels, placed_conv)
from shufflenet_det.models.backbones import ShuffleNetV2
from shufflenet_det.utils.run_config import build_detector
from tests.reference_shufflenet import randomize_bn
from tests.runtimes import requires
from tests.test_tools.tool_runner import REPO, run_tool


def backbone(widen_factor, extra_dw=False, **kwargs):
    torch.manual_seed(0)
    model = ShuffleNetV2(widen_factor=widen_factor, out_indices=(0, 1, 2, 3), extra_dw=extra_dw,
                         **kwargs)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            module.reset_parameters()
    return randomize_bn(model).eval()


@pytest.mark.parametrize('extra_dw', [False, True])
@pytest.mark.parametrize('widen_factor', [0.5, 1.0, 1.5, 2.0])
def test_aligned_backbone_computes_the_same_outputs(widen_factor, extra_dw):
    model = backbone(widen_factor, extra_dw)
    aligned = align_branch_channels(copy.deepcopy(model))
    x = torch.rand(2, 3, 96, 128)
    with torch.no_grad():
        expected, found = model(x), aligned(x)
    assert len(found) == len(expected) == 4
    for out, ref in zip(found, expected):
        assert out.shape == ref.shape
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    assert isinstance(aligned, AlignedShuffleNetV2)
    assert aligned.conv1[0].out_channels == 32
    convs = [m for m in aligned.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs[1:]:  # what ONNX Runtime's NCHWc convolutions take
        assert conv.in_channels % (16 if conv.groups > 1 else 4) == 0, conv
    for stage, original in zip(aligned.stages, model.layers):
        branch = original[0].branch2[0].conv.out_channels
        assert stage.padded_channels == 2 * (-(-branch // 16) * 16)  # next multiple of 16
        assert stage.out_channels == 2 * branch


def test_a_backbone_with_group_norm_is_left_as_it_is():
    model = backbone(1.0, norm_cfg=dict(type='GN', num_groups=2))
    aligned = align_branch_channels(copy.deepcopy(model))
    assert type(aligned.conv1).__name__ == 'ConvModule'
    assert all(isinstance(stage, nn.Sequential) for stage in aligned.layers[:3])


def test_a_grouped_conv_is_refused_rather_than_placed_wrongly():
    grouped = ConvModule(8, 8, 3, padding=1, groups=2, norm_cfg=None)
    with pytest.raises(ValueError, match='groups=2'):
        placed_conv(grouped, range(8), 12, 12)


def stem_shape(onnx_path):
    """The weight shape of the first convolution of an ONNX graph."""
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    shapes = {i.name: list(i.dims) for i in graph.initializer}
    return next(shapes[n.input[1]] for n in graph.node if n.op_type == 'Conv')


def test_export_aligns_a_copy_and_leaves_the_detector_as_it_is(tmp_path):
    _, model = build_detector(str(REPO / 'configs/nanodet_shufflenetv2_lightpan_320_coco.py'))
    randomize_bn(model)
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    aligned = align_branch_channels(copy.deepcopy(model))
    x = torch.rand(1, 3, 320, 320)
    with torch.no_grad():
        found, expected = aligned._forward(x), model._forward(x)
    for outs, refs in zip(found, expected):
        for out, ref in zip(outs, refs):
            torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)

    export_onnx(model, str(tmp_path / 'm.onnx'), (320, 320))
    state = model.state_dict()
    assert state.keys() == before.keys()
    assert all(torch.equal(state[k], before[k]) for k in before)
    assert isinstance(model.backbone.layers[0], nn.Sequential)
    assert stem_shape(tmp_path / 'm.onnx') == [32, 3, 3, 3]


def test_export_tool_aligns_unless_told_not_to(tmp_path):
    for flags, stem in (((), [32, 3, 3, 3]), (('--no-align-channels', ), [24, 3, 3, 3])):
        run_tool('tools/deployment/pytorch2onnx.py',
                 'configs/nanodet_shufflenetv2_lightpan_320_coco.py', '--out', tmp_path / 'm.onnx',
                 '--shape', '64', '64', *flags)
        assert stem_shape(tmp_path / 'm.onnx') == stem


def optimized_conv_domains(module, path):
    """The domains of the convolutions ONNX Runtime runs for ``module`` exported to ``path``."""
    import onnxruntime
    torch.onnx.export(module, (torch.rand(1, 3, 320, 320), ), str(path), dynamo=True)
    options = onnxruntime.SessionOptions()
    options.optimized_model_filepath = str(path.with_suffix('.opt.onnx'))
    options.log_severity_level = 3
    onnxruntime.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
    graph = onnx.load(options.optimized_model_filepath, load_external_data=False).graph
    return [n.domain for n in graph.node if n.op_type in ('Conv', 'FusedConv')]


@requires('onnxruntime')
def test_onnx_runtime_runs_every_aligned_convolution_in_its_blocked_layout(tmp_path):
    model = backbone(1.0)
    model.out_indices = (2, )
    plain = optimized_conv_domains(model, tmp_path / 'plain.onnx')
    if 'com.microsoft.nchwc' not in plain:
        pytest.skip('ONNX Runtime uses no NCHWc layout on this CPU (it needs AVX2 or later)')
    assert any(domain != 'com.microsoft.nchwc' for domain in plain)  # the 58-channel stage
    aligned = optimized_conv_domains(align_branch_channels(model), tmp_path / 'aligned.onnx')
    assert aligned and all(domain == 'com.microsoft.nchwc' for domain in aligned)
