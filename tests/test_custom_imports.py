"""The backbone from configs and registries outside this repository."""
import textwrap

import torch
from mmengine.config import Config
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import Registry, init_default_scope

from mmdet.registry import MODELS


def test_external_config_builds_mmdet_detector_with_backbone(tmp_path):
    # A user's own config, inheriting MMDetection's RetinaNet recipe from the installed mmdet.
    config = tmp_path / 'my_retinanet.py'
    config.write_text(textwrap.dedent('''
        _base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
        custom_imports = dict(imports=['shufflenet_det'], allow_failed_imports=False)
        model = dict(
            backbone=dict(_delete_=True, type='ShuffleNetV2', widen_factor=0.5,
                          out_indices=(0, 1, 2), extra_dw=True),
            neck=dict(in_channels=[48, 96, 192], out_channels=64, start_level=0),
            bbox_head=dict(in_channels=64, feat_channels=64))
    '''))
    cfg = Config.fromfile(str(config))
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    detector = MODELS.build(cfg.model)
    detector.init_weights()
    assert type(detector.backbone).__name__ == 'ShuffleNetV2' and detector.backbone.extra_dw
    with torch.no_grad():
        cls_scores, _ = detector.eval()(torch.rand(1, 3, 128, 128), mode='tensor')
    assert [s.shape[-1] for s in cls_scores] == [16, 8, 4, 2, 1]


def test_scope_prefix_from_other_registries():
    import shufflenet_det  # noqa: F401

    # Another OpenMMLab project's registry (mmseg, mmyolo, ...) is a child of MMEngine's root.
    other_project = Registry('model', parent=ROOT_MODELS, scope='other_project')
    for registry in (ROOT_MODELS, other_project):
        backbone = registry.build(dict(type='mmdet.ShuffleNetV2', widen_factor=0.5,
                                       out_indices=(0, 1, 2)))
        assert backbone.out_channels == [48, 96, 192]
