"""Wrong wiring and unknown arguments are reported on the detector's one real build."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmdet.registry import MODELS

import shufflenet_det  # noqa: F401
from shufflenet_det.models.backbones import ShuffleNetV2
from shufflenet_det.utils import ModelConfigError, build_checked_model, check_model_wiring
from shufflenet_det.utils.run_config import build_detector, build_runner, load_run_config
from tests.test_tools.tool_runner import run_tool

CONFIGS = Path(__file__).parents[2] / 'configs'
FCOS = 'fcos_shufflenetv2_coco.py'
NANODET = 'nanodet_shufflenetv2_lightpan_320_coco.py'
RETINANET = 'retinanet_shufflenetv2_fpn_1x_coco.py'
YOLOV8 = 'yolov8_shufflenetv2_320_coco.py'


def model_config(config: str, **options) -> Config:
    cfg = Config.fromfile(CONFIGS / config)
    cfg.merge_from_dict(options)
    return cfg.model


def check_error(model_cfg) -> str:
    with pytest.raises(ModelConfigError) as error:
        build_checked_model(model_cfg)
    return str(error.value)


@pytest.mark.parametrize('config', sorted(p.name for p in CONFIGS.glob('*.py')))
def test_every_shipped_config_passes(config):
    build_checked_model(model_config(config))


def current_scope_name():
    scope = DefaultScope.get_current_instance()
    return None if scope is None else scope.scope_name


@pytest.mark.parametrize('scope', [None, 'mmengine'])
def test_the_build_leaves_the_scope_alone(scope):
    with DefaultScope.overwrite_default_scope(scope):  # None: whatever is current
        before = current_scope_name()
        build_checked_model(model_config(NANODET))
        assert current_scope_name() == before


def test_the_wiring_is_read_from_the_built_modules_without_a_forward_pass():
    model_cfg = model_config(NANODET)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(model_cfg)
    calls = []
    for module in (model.backbone, model.neck):
        module.register_forward_hook(lambda *_: calls.append(1))
    check_model_wiring(model, model_cfg)
    assert not calls
    model.neck.in_channels = [116, 232, 460]  # as the neck would have been built
    with pytest.raises(ModelConfigError, match=r'in_channels \[116, 232, 460\] do not match'):
        check_model_wiring(model, model_cfg)


def test_a_backbone_without_out_channels_is_run_once_on_a_dummy_image():
    """MMDetection's ResNet does not say what it produces."""
    model_cfg = model_config(RETINANET, **{'model.backbone': dict(
        _delete_=True, type='ResNet', depth=18, out_indices=(1, 2, 3), init_cfg=None)})
    message = check_error(model_cfg)
    assert message.startswith('neck FPN (model.neck) in_channels [116, 232, 464] do not match '
                              'the backbone: ResNet(depth=18, out_indices=(1, 2, 3)')
    assert message.endswith('produces [128, 256, 512]; set model.neck.in_channels='
                            '[128, 256, 512] or change the backbone.')


def count_backbone_builds(monkeypatch) -> list:
    builds = []
    init = ShuffleNetV2.__init__

    def counted_init(self, *args, **kwargs):
        builds.append(1)
        init(self, *args, **kwargs)

    monkeypatch.setattr(ShuffleNetV2, '__init__', counted_init)
    return builds


def test_each_tool_helper_builds_the_model_once(monkeypatch, tmp_path):
    builds = count_backbone_builds(monkeypatch)
    build_detector(str(CONFIGS / FCOS))  # the analysis and deployment tools
    assert len(builds) == 1
    cfg = load_run_config(str(CONFIGS / FCOS), None, str(tmp_path), 'none')
    runner = build_runner(cfg)  # tools/train.py and tools/test.py
    assert len(builds) == 2
    assert isinstance(runner.model.backbone, ShuffleNetV2)


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


def test_per_level_channels_of_yolov8s_neck_and_head_are_checked():
    message = check_error(model_config(YOLOV8, **{'model.backbone.widen_factor': 1.5}))
    assert message.startswith('neck YOLOv8PAFPN (model.neck) in_channels [116, 232, 464] do not')
    message = check_error(model_config(YOLOV8, **{'model.bbox_head.in_channels': [64, 64, 64]}))
    assert message.startswith('head YOLOv8Head (model.bbox_head) in_channels [64, 64, 64] do not '
                              'match the neck: YOLOv8PAFPN(')
    assert message.endswith('produces [64, 128, 256]; set model.bbox_head.in_channels='
                            '[64, 128, 256].')
    build_checked_model(model_config(YOLOV8))


def test_head_without_neck_must_match_the_backbone():
    model_cfg = model_config(RETINANET, **{'model.neck': None})
    assert check_error(model_cfg) == (
        'head RetinaHead (model.bbox_head) in_channels 96 does not match the backbone: '
        'ShuffleNetV2(widen_factor=1.0, out_indices=(0, 1, 2)) produces [116, 232, 464].')


def test_a_list_of_necks_is_not_compared_with_the_head():
    """MMDetection builds a list of necks as a sequence (e.g. FPN then BFP in Libra R-CNN)."""
    model_cfg = model_config(RETINANET)
    model_cfg['neck'] = [model_cfg['neck']]
    build_checked_model(model_cfg)


def test_invalid_backbone_value_names_the_backbone():
    assert check_error(model_config(FCOS, **{'model.backbone.widen_factor': 0.7})) == (
        'ShuffleNetV2 widen_factor must be one of [0.5, 1.0, 1.5, 2.0], but got 0.7')


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
    build_checked_model(model_cfg)


WIDTH_MISMATCH = (
    'error: neck FPN (model.neck) in_channels [116, 232, 464] do not match the backbone: '
    'ShuffleNetV2(widen_factor=0.5, out_indices=(0, 1, 2)) produces [48, 96, 192]; set '
    'model.neck.in_channels=[48, 96, 192] or change the backbone.')


def test_tool_helpers_raise_one_line(tmp_path):
    # build_runner: tools/train.py, tools/test.py, memory_soak.py; build_detector: the analysis
    # and deployment tools (tools/image_demo.py: test_image_demo.py).
    options = {'model.backbone.widen_factor': 0.5}
    for build in (lambda: build_runner(load_run_config(str(CONFIGS / FCOS), options,
                                                       str(tmp_path), 'none')),
                  lambda: build_detector(str(CONFIGS / FCOS), options)):
        with pytest.raises(ModelConfigError) as error:
            build()
        assert f'error: {error.value}' == WIDTH_MISMATCH


def test_train_tool_exits_with_one_line_before_any_forward_pass(tmp_path):
    data = tmp_path / 'shapes'
    run_tool('tools/misc/make_synthetic_coco.py', data, '--train', '1', '--val', '1')
    result = run_tool(
        'tools/train.py', 'configs/nanodet_shufflenetv2_lightpan_shapes.py', '--work-dir',
        tmp_path / 'work', '--cfg-options', 'model.backbone.widen_factor=0.5',
        *[f'{loader}.dataset.data_root={data}/' for loader in ('train_dataloader',
                                                                'val_dataloader')],
        f'val_evaluator.ann_file={data}/annotations/instances_val.json', check=False)
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        'error: neck LightPAN (model.neck) in_channels [116, 232, 464] do not match the '
        'backbone: ShuffleNetV2(widen_factor=0.5, out_indices=(0, 1, 2)) produces [48, 96, '
        '192]; set model.neck.in_channels=[48, 96, 192] or change the backbone.')
    # The runner that builds the model has made its log dir; nothing was trained or saved.
    assert not list(tmp_path.glob('work/**/*.pth'))
    assert not list(tmp_path.glob('work/**/last_checkpoint'))


@pytest.mark.parametrize('config, key, value, registry', [
    (FCOS, 'model.backbone.type', 'NoSuchBackbone', 'mmdet::model'),
    ('nanodet_shufflenetv2_lightpan_shapes.py', 'model.train_cfg.assigner.type', 'NoSuchAssigner',
     'mmdet::task util'),
])
def test_an_unregistered_type_is_one_line(config, key, value, registry):
    with pytest.raises(ModelConfigError, match=rf'^{value} is not in the {registry} registry: a '
                                               r'misspelt type, or a module that registers it '
                                               r'missing from custom_imports$'):
        build_detector(str(CONFIGS / config), {key: value})
