"""Wrong wiring and unknown arguments are reported when the detector is built from its config."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmdet.registry import MODELS

import shufflenet_det  # noqa: F401
from shufflenet_det.utils.complexity import build_detector
from shufflenet_det.utils.model_config_check import ModelConfigError, check_model_config
from shufflenet_det.utils.run_config import load_config, load_run_config
from tests.test_tools.tool_runner import run_tool

CONFIGS = Path(__file__).parents[2] / 'configs'
FCOS = 'fcos_shufflenetv2_coco.py'
NANODET = 'nanodet_shufflenetv2_lightpan_320_coco.py'
RETINANET = 'retinanet_shufflenetv2_fpn_1x_coco.py'


def model_config(config: str, **options) -> Config:
    cfg = Config.fromfile(CONFIGS / config)
    cfg.merge_from_dict(options)
    return cfg.model


def check_error(model_cfg) -> str:
    with pytest.raises(ModelConfigError) as error:
        check_model_config(model_cfg)
    return str(error.value)


@pytest.mark.parametrize('config', sorted(p.name for p in CONFIGS.glob('*.py')))
def test_every_shipped_config_passes(config):
    check_model_config(model_config(config))


def current_scope_name():
    scope = DefaultScope.get_current_instance()
    return None if scope is None else scope.scope_name


@pytest.mark.parametrize('scope', [None, 'mmengine'])
def test_the_check_leaves_random_state_and_scope_alone(scope):
    with DefaultScope.overwrite_default_scope(scope):  # None: whatever is current
        before = current_scope_name()
        torch.manual_seed(0)
        expected = torch.rand(3)
        torch.manual_seed(0)
        check_model_config(model_config(NANODET))
        assert torch.equal(torch.rand(3), expected)
        assert current_scope_name() == before


def test_neck_in_channels_name_what_the_backbone_produces():
    message = check_error(model_config(FCOS, **{'model.backbone.widen_factor': 0.5}))
    assert message == (
        'neck FPN (model.neck) in_channels [116, 232, 464] do not match the backbone: '
        'ShuffleNetV2(widen_factor=0.5, out_indices=(0, 1, 2)) produces [48, 96, 192]; set '
        'model.neck.in_channels=[48, 96, 192] or change the backbone.')


def test_out_indices_count_must_match_the_neck():
    message = check_error(model_config(NANODET, **{'model.backbone.out_indices': (1, 2)}))
    assert message.startswith('neck LightPAN (model.neck) in_channels [116, 232, 464] do not')
    assert 'out_indices=(1, 2)) produces [232, 464]' in message


def test_head_in_channels_must_match_the_neck():
    message = check_error(model_config(FCOS, **{'model.bbox_head.in_channels': 128}))
    assert message.startswith('head FCOSHead (model.bbox_head) in_channels 128 does not match '
                              'the neck: FPN(')
    assert message.endswith('produces [96, 96, 96, 96, 96]; set model.bbox_head.in_channels=96.')
    message = check_error(model_config(NANODET, **{'model.neck.out_channels': 64}))
    assert 'LightPAN(in_channels=[116, 232, 464], out_channels=64) produces [64, 64, 64]' in message


def test_head_without_neck_must_match_the_backbone():
    model_cfg = model_config(RETINANET)
    del model_cfg['neck']
    assert check_error(model_cfg) == (
        'head RetinaHead (model.bbox_head) in_channels 96 does not match the backbone: '
        'ShuffleNetV2(widen_factor=1.0, out_indices=(0, 1, 2)) produces [116, 232, 464].')


def test_a_list_of_necks_is_not_compared_with_the_head():
    """MMDetection builds a list of necks as a sequence (e.g. FPN then BFP in Libra R-CNN)."""
    model_cfg = model_config(RETINANET)
    model_cfg['neck'] = [model_cfg['neck']]
    check_model_config(model_cfg)


def test_invalid_backbone_value_is_reported_where_it_is():
    message = check_error(model_config(FCOS, **{'model.backbone.widen_factor': 0.7}))
    assert message.startswith('ShuffleNetV2(widen_factor=0.7, out_indices=(0, 1, 2)) '
                              '(model.backbone) cannot be built: widen_factor must be one of')


@pytest.mark.parametrize('config, key, message', [
    (FCOS, 'backbone.widen_factr', "ShuffleNetV2 (model.backbone) got an unknown argument "
     "'widen_factr'; did you mean 'widen_factor'?"),
    (NANODET, 'neck.out_channel', "LightPAN (model.neck) got an unknown argument "
     "'out_channel'; did you mean 'out_channels' or 'in_channels'?"),
    (RETINANET, 'neck.num_out', "FPN (model.neck) got an unknown argument 'num_out'; did you "
     "mean 'num_outs'?"),
    # NanoDetHead -> GFLHead -> AnchorHead: arguments passed on through **kwargs are valid ...
    (NANODET, 'bbox_head.reg_mx', "NanoDetHead (model.bbox_head) got an unknown argument "
     "'reg_mx'; did you mean 'reg_max'?"),
    (RETINANET, 'bbox_head.feat_channel', "RetinaHead (model.bbox_head) got an unknown "
     "argument 'feat_channel'; did you mean 'feat_channels' or 'in_channels'?"),
    (FCOS, 'bbox_head.center_sampling_radius', "FCOSHead (model.bbox_head) got an unknown "
     "argument 'center_sampling_radius'; did you mean 'center_sample_radius' or "
     "'center_sampling'?"),
    (FCOS, 'bbox_head.loss_cls.gama', "FocalLoss (model.bbox_head.loss_cls) got an unknown "
     "argument 'gama'; did you mean 'gamma'?"),
    (NANODET, 'bbox_head.loss_dfl.loss_wieght', "DistributionFocalLoss "
     "(model.bbox_head.loss_dfl) got an unknown argument 'loss_wieght'; did you mean "
     "'loss_weight'?"),
    (NANODET, 'data_preprocessor.pad_divisor', "BatchDetDataPreprocessor (model.data_preprocessor) "
     "got an unknown argument 'pad_divisor'; did you mean 'pad_size_divisor'?"),
])
def test_unknown_argument_names_the_closest_valid_ones(config, key, message):
    assert check_error(model_config(config, **{f'model.{key}': 1})) == message


def test_unknown_argument_without_close_match_lists_the_valid_ones():
    message = check_error(model_config(NANODET, **{'model.neck.xyz': 1}))
    assert message == ("LightPAN (model.neck) got an unknown argument 'xyz'; valid arguments "
                       'are act_cfg, conv_cfg, in_channels, init_cfg, norm_cfg, out_channels.')


@pytest.mark.parametrize('model_cfg', [
    # DETRHead takes bg_cls_weight out of loss_cls before building the loss.
    dict(type='DETRHead', num_classes=3, embed_dims=16,
         loss_cls=dict(type='CrossEntropyLoss', bg_cls_weight=0.1, use_sigmoid=False,
                       loss_weight=1.0, class_weight=1.0)),
    # VFNetHead passes its **kwargs past FCOSHead, to AnchorFreeHead (strides).
    dict(type='VFNetHead', num_classes=3, in_channels=32, feat_channels=32, stacked_convs=1,
         strides=[8, 16, 32, 64, 128]),
])
def test_arguments_the_real_build_accepts_are_not_reported(model_cfg):
    check_model_config(model_cfg)
    with DefaultScope.overwrite_default_scope('mmdet'):
        MODELS.build(model_cfg)


WIDTH_MISMATCH = (
    'error: neck FPN (model.neck) in_channels [116, 232, 464] do not match the backbone: '
    'ShuffleNetV2(widen_factor=0.5, out_indices=(0, 1, 2)) produces [48, 96, 192]; set '
    'model.neck.in_channels=[48, 96, 192] or change the backbone.')


def test_tool_helpers_raise_one_line():
    # load_run_config: tools/train.py and tools/test.py; build_detector: the analysis and
    # deployment tools; load_config: tools/image_demo.py.
    options = {'model.backbone.widen_factor': 0.5}
    for load in (lambda: load_run_config(str(CONFIGS / FCOS), options, None, 'none'),
                 lambda: build_detector(str(CONFIGS / FCOS), options),
                 lambda: load_config(str(CONFIGS / FCOS), options)):
        with pytest.raises(ModelConfigError) as error:
            load()
        assert f'error: {error.value}' == WIDTH_MISMATCH


def test_train_tool_exits_with_one_line_before_any_forward_pass(tmp_path):
    result = run_tool('tools/train.py', f'configs/{FCOS}', '--work-dir', tmp_path,
                      '--cfg-options', 'model.backbone.widen_factor=0.5', check=False)
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == WIDTH_MISMATCH
    assert not list(tmp_path.iterdir())
