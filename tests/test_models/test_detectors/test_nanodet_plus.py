"""NanoDet-Plus trains with assign guidance: both heads learn from the auxiliary head's
assignment, and after detach_epoch the auxiliary branch sends no gradient to the backbone."""
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample

from tests.test_tools.tool_runner import REPO

CONFIG = REPO / 'configs/nanodet-plus_shufflenetv2_ghostpan_320_coco.py'


def build_model(num_classes=3):
    cfg = Config.fromfile(CONFIG)
    cfg.model.bbox_head.num_classes = cfg.model.aux_head.num_classes = num_classes
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model.train()


def batch():
    torch.manual_seed(1)
    samples = []
    for boxes in ([[20., 30., 120., 150.], [150., 40., 300., 200.]], [[60., 60., 260., 280.]]):
        sample = DetDataSample(metainfo=dict(img_shape=(320, 320), ori_shape=(320, 320),
                                             scale_factor=(1.0, 1.0), pad_shape=(320, 320)))
        sample.gt_instances = InstanceData(bboxes=torch.tensor(boxes),
                                           labels=torch.arange(len(boxes)))
        samples.append(sample)
    return torch.rand(2, 3, 320, 320), samples


def backbone_gradient(model, losses, keys):
    model.zero_grad()
    sum(losses[k] for k in keys).backward()
    return sum(p.grad.abs().sum() for p in model.backbone.parameters() if p.grad is not None)


@pytest.mark.parametrize('epoch, detached', [(0, False), (10, True)])
def test_both_heads_learn_and_the_aux_branch_detaches_at_detach_epoch(epoch, detached):
    model = build_model()
    MessageHub.get_current_instance().update_info('epoch', epoch)
    inputs, samples = batch()
    losses = model.loss(inputs, samples)
    names = ['loss_cls', 'loss_bbox', 'loss_dfl']
    assert set(losses) == set(names) | {f'aux_{n}' for n in names}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    aux_only = backbone_gradient(model, losses, [f'aux_{n}' for n in names])
    assert (aux_only == 0) == detached
    assert backbone_gradient(model, model.loss(inputs, samples), names) > 0
    MessageHub.get_current_instance().update_info('epoch', 0)


def test_inference_runs_without_the_auxiliary_branch():
    model = build_model().eval()
    inputs, samples = batch()
    calls = []
    for module in (model.aux_neck, model.aux_head):
        module.register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        model._forward(inputs)
        results = model.predict(inputs, samples)
    assert not calls and len(results) == 2


def test_without_a_guide_the_head_assigns_from_its_own_predictions():
    model = build_model()
    inputs, samples = batch()
    feats = model.neck(model.backbone(inputs))
    losses = model.bbox_head.loss(feats, samples)
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_dfl'}
    assert all(torch.isfinite(v) for v in losses.values())
