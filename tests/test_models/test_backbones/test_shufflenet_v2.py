import inspect

import pytest
import torch
import torch.nn as nn

from shufflenet_det.models.backbones import InvertedResidual, ShuffleNetV2
from shufflenet_det.models.backbones.shufflenet_v2 import concat_shuffle
from shufflenet_det.benchmarking import ReferenceShuffleNetV2

# torchvision's shufflenet_v2_x{0_5,1_0,1_5,2_0} parameter counts, 1000-class fc included.
TORCHVISION_PARAMS = {0.5: 1_366_792, 1.0: 2_278_604, 1.5: 3_503_624, 2.0: 7_393_996}
# The paper's complexity (multiply-adds at 224x224, Table 5), in millions.
PAPER_MFLOPS = {0.5: 41, 1.0: 146, 1.5: 299, 2.0: 591}
# ShuffleNetV2* (extra_dw=True) at 224x224 with the classifier, as docs/backbone.md states.
V2_STAR_MFLOPS = {0.5: 42.9, 1.0: 149.8, 1.5: 302.8, 2.0: 592.8}
STAGE_CHANNELS = {0.5: [48, 96, 192, 1024], 1.0: [116, 232, 464, 1024],
                  1.5: [176, 352, 704, 1024], 2.0: [244, 488, 976, 2048]}


def count_params(*modules):
    return sum(p.numel() for m in modules for p in m.parameters())


def count_multiply_adds(model, forward, size=224):
    """Multiply-adds of every Conv2d and Linear, as the paper counts FLOPs."""
    total = []

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total.append(output.numel() * module.in_channels // module.groups * kh * kw)
        else:
            total.append(output.numel() * module.in_features)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        forward(torch.rand(1, 3, size, size))
    for h in handles:
        h.remove()
    return sum(total)


@pytest.mark.parametrize('width', [0.5, 1.0, 1.5, 2.0])
def test_params_match_torchvision(width):
    backbone = ShuffleNetV2(widen_factor=width)
    fc = nn.Linear(backbone.arch_channels[3], 1000)
    assert count_params(backbone, fc) == TORCHVISION_PARAMS[width]
    assert count_params(ReferenceShuffleNetV2(width)) == TORCHVISION_PARAMS[width]


def classifier_multiply_adds(width, extra_dw=False):
    backbone = ShuffleNetV2(widen_factor=width, extra_dw=extra_dw).eval()
    fc = nn.Linear(backbone.arch_channels[3], 1000)
    return count_multiply_adds(
        nn.ModuleList([backbone, fc]), lambda x: fc(backbone(x)[0].mean([2, 3]))) / 1e6


@pytest.mark.parametrize('width', [0.5, 1.0, 1.5, 2.0])
def test_multiply_adds_match_paper(width):
    macs = classifier_multiply_adds(width)
    assert abs(macs - PAPER_MFLOPS[width]) / PAPER_MFLOPS[width] < 0.02
    assert round(classifier_multiply_adds(width, extra_dw=True), 1) == V2_STAR_MFLOPS[width]


@pytest.mark.parametrize('width', [0.5, 1.0, 1.5, 2.0])
def test_output_channels_and_strides(width):
    backbone = ShuffleNetV2(widen_factor=width, out_indices=(0, 1, 2, 3))
    outs = backbone(torch.rand(2, 3, 64, 96))
    assert [o.shape[1] for o in outs] == STAGE_CHANNELS[width] == backbone.out_channels
    assert [o.shape[2:] for o in outs] == [(8, 12), (4, 6), (2, 3), (2, 3)]


def test_out_indices_are_returned_in_order_with_matching_channels():
    backbone = ShuffleNetV2(widen_factor=0.5, out_indices=(2, 0, 2))
    outs = backbone(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == backbone.out_channels == [48, 192]


def test_frozen_stages_apply_before_train_is_called():
    backbone = ShuffleNetV2(frozen_stages=1)
    assert not any(p.requires_grad for p in backbone.conv1.parameters())
    assert not any(p.requires_grad for p in backbone.layers[0].parameters())
    assert all(p.requires_grad for p in backbone.layers[1].parameters())


def test_conv5_is_built_only_when_selected():
    assert len(ShuffleNetV2(out_indices=(0, 1, 2)).layers) == 3
    assert len(ShuffleNetV2(out_indices=(2, 3)).layers) == 4


def test_module_names_follow_mmpretrain():
    keys = ShuffleNetV2().state_dict().keys()
    assert 'conv1.conv.weight' in keys and 'layers.3.bn.running_var' in keys
    assert 'layers.0.0.branch1.0.conv.weight' in keys
    assert 'layers.2.3.branch2.2.bn.weight' in keys
    assert type(ShuffleNetV2().layers[1][0]).__name__ == 'InvertedResidual'


# mmpretrain's signatures (mmpretrain/models/backbones/shufflenet_v2.py), in order.
MMPRETRAIN_BACKBONE_ARGS = [
    ('widen_factor', 1.0), ('out_indices', (3, )), ('frozen_stages', -1), ('conv_cfg', None),
    ('norm_cfg', dict(type='BN')), ('act_cfg', dict(type='ReLU')), ('norm_eval', False),
    ('with_cp', False), ('init_cfg', None)]
MMPRETRAIN_UNIT_ARGS = [
    ('in_channels', inspect.Parameter.empty), ('out_channels', inspect.Parameter.empty),
    ('stride', 1), ('conv_cfg', None), ('norm_cfg', dict(type='BN')),
    ('act_cfg', dict(type='ReLU')), ('with_cp', False), ('init_cfg', None)]


@pytest.mark.parametrize('module, expected', [(ShuffleNetV2, MMPRETRAIN_BACKBONE_ARGS),
                                              (InvertedResidual, MMPRETRAIN_UNIT_ARGS)])
def test_arguments_and_defaults_follow_mmpretrain(module, expected):
    params = list(inspect.signature(module.__init__).parameters.values())[1:]
    positional = [(p.name, p.default) for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
    assert positional == expected
    # extra_dw is keyword only, so positional calls written for mmpretrain mean the same here.
    assert [(p.name, p.default) for p in params if p.kind == p.KEYWORD_ONLY] == [
        ('extra_dw', False)]


@pytest.mark.parametrize('kwargs, bad', [
    (dict(widen_factor=0.75), '0.75'),
    (dict(out_indices=(0, 4)), '4'),
    (dict(frozen_stages=4), '4'),
    (dict(frozen_stages=-2), '-2'),
])
def test_invalid_arguments_name_the_value(kwargs, bad):
    with pytest.raises(ValueError, match=f'but got {bad}'):
        ShuffleNetV2(**kwargs)


@pytest.mark.parametrize('memory_format', [torch.contiguous_format, torch.channels_last])
def test_concat_shuffle_is_concatenation_then_channel_shuffle(memory_format):
    a = torch.rand(2, 5, 3, 4).to(memory_format=memory_format)
    b = torch.rand(2, 5, 3, 4).to(memory_format=memory_format)
    out = concat_shuffle(a, b)
    reference = torch.cat((a, b), 1).view(2, 2, 5, 3, 4).transpose(1, 2).reshape(2, 10, 3, 4)
    assert torch.equal(out, reference)
    x = torch.arange(6.).view(1, 6, 1, 1)
    assert concat_shuffle(x[:, :3], x[:, 3:]).flatten().tolist() == [0, 3, 1, 4, 2, 5]


@pytest.mark.parametrize('frozen_stages', [0, 1, 3])
def test_frozen_stages_freeze_params_and_bn_statistics(frozen_stages):
    backbone = ShuffleNetV2(frozen_stages=frozen_stages, out_indices=(0, 1, 2, 3))
    backbone.init_weights()
    backbone.train()
    frozen = [backbone.conv1] + [backbone.layers[i] for i in range(frozen_stages)]
    trainable = [backbone.layers[i] for i in range(frozen_stages, 4)]
    before = {id(m): m.running_mean.clone() for f in frozen for m in f.modules()
              if isinstance(m, nn.BatchNorm2d)}
    backbone(torch.rand(2, 3, 64, 64))
    for part in frozen:
        assert not part.training
        assert all(not p.requires_grad for p in part.parameters())
        for m in part.modules():
            if isinstance(m, nn.BatchNorm2d):
                assert torch.equal(m.running_mean, before[id(m)])
    for part in trainable:
        assert part.training and all(p.requires_grad for p in part.parameters())


def test_norm_eval_keeps_bn_in_eval_mode():
    backbone = ShuffleNetV2(norm_eval=True)
    backbone.train()
    assert all(not m.training for m in backbone.modules() if isinstance(m, nn.BatchNorm2d))
    assert backbone.layers[0][0].branch2[0].conv.training


@pytest.mark.parametrize('extra_dw', [False, True])
def test_with_cp_gives_same_outputs_and_gradients(extra_dw, monkeypatch):
    calls = []
    checkpoint = torch.utils.checkpoint.checkpoint

    def counting_checkpoint(*args, **kwargs):
        calls.append(kwargs.get('use_reentrant'))
        return checkpoint(*args, **kwargs)

    monkeypatch.setattr(torch.utils.checkpoint, 'checkpoint', counting_checkpoint)
    torch.manual_seed(0)
    plain = ShuffleNetV2(widen_factor=0.5, out_indices=(0, 1, 2, 3), extra_dw=extra_dw)
    plain.init_weights()
    checkpointed = ShuffleNetV2(widen_factor=0.5, out_indices=(0, 1, 2, 3),
                                extra_dw=extra_dw, with_cp=True)
    checkpointed.load_state_dict(plain.state_dict())
    assert all(unit.with_cp for stage in checkpointed.layers[:3] for unit in stage)
    x = torch.rand(2, 3, 64, 64)
    grads = []
    for model in (plain, checkpointed):
        model.train()
        inp = x.clone().requires_grad_()
        outs = model(inp)
        sum(o.square().sum() for o in outs).backward()
        grads.append([inp.grad] + [p.grad for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert calls == [False] * 16  # every unit of the checkpointed model, non-reentrant


def test_extra_dw_sits_before_first_pointwise_conv_of_branch2():
    v2 = ShuffleNetV2(widen_factor=1.0)
    star = ShuffleNetV2(widen_factor=1.0, extra_dw=True)
    for stage in star.layers[:3]:
        for unit in stage:
            dw = unit.extra_dw.conv
            first_pw = unit.branch2[0].conv
            assert dw.kernel_size == (3, 3) and dw.groups == dw.in_channels == dw.out_channels
            assert dw.out_channels == first_pw.in_channels and first_pw.kernel_size == (1, 1)
            assert not unit.extra_dw.with_activation
    # 16 units, each with a 3x3 depthwise conv (9 weights per channel) and its BN (2).
    branch2_inputs = sum(u.branch2[0].conv.in_channels for s in star.layers[:3] for u in s)
    assert count_params(star) - count_params(v2) == branch2_inputs * 11
    outs = star.eval()(torch.rand(1, 3, 64, 64))
    assert outs[0].shape == (1, 1024, 2, 2)


def test_extra_dw_enlarges_receptive_field():
    """The output of a stride-1 unit sees a 5x5 window with extra_dw, 3x3 without."""
    def support(extra_dw):
        unit = InvertedResidual(48, 48, extra_dw=extra_dw, act_cfg=None).eval()
        x = torch.rand(1, 48, 11, 11, requires_grad=True)
        unit(x)[0, 1, 5, 5].backward()  # channel 1 comes from branch2 after the shuffle
        return (x.grad.abs().sum((0, 1)) > 0).nonzero()
    for extra_dw, size in ((False, 3), (True, 5)):
        rows, cols = support(extra_dw).unbind(1)
        assert rows.max() - rows.min() + 1 == size and cols.max() - cols.min() + 1 == size
