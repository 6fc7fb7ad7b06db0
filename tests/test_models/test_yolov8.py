"""The YOLOv8-style neck, head, assigner and losses against a plain-PyTorch YOLOv8
(``tests/reference_yolov8.py``): sizes first, then the same weights give the same maps, the
same boxes after NMS, the same assigned targets and the same losses."""
import re

import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmdet.models.losses import CIoULoss
from mmdet.models.task_modules.assigners import TaskAlignedAssigner
from shufflenet_det.models.dense_heads import YOLOv8Head
from shufflenet_det.models.losses import YOLOv8CIoULoss
from shufflenet_det.models.necks import YOLOv8PAFPN
from shufflenet_det.models.task_modules import YOLOv8TaskAlignedAssigner
from tests import reference_yolov8 as reference

SHUFFLENET_CHANNELS = (116, 232, 464)
# Ultralytics' layer index in the head section -> the project's neck module
NECK_LAYERS = {12: 'top_down_blocks.1', 15: 'top_down_blocks.0', 16: 'downsamples.0',
               18: 'bottom_up_blocks.0', 19: 'downsamples.1', 21: 'bottom_up_blocks.1'}


def project_key(key: str) -> str:
    """The project's name of a YOLOv8 checkpoint key of the head section (layers 10-22)."""
    layer, rest = re.match(r'model\.(\d+)\.(.*)', key).groups()
    if int(layer) == 22:
        rest = rest.replace('cv2.', 'box_branches.').replace('cv3.', 'cls_branches.')
        return f'bbox_head.{rest}'
    rest = re.sub(r'^m\.(\d+)\.cv([12])\.', lambda m: f'blocks.{m[1]}.{int(m[2]) - 1}.', rest)
    rest = re.sub(r'^cv1\.', 'split_conv.', re.sub(r'^cv2\.', 'final_conv.', rest))
    return f'neck.{NECK_LAYERS[int(layer)]}.{rest}'


def randomised(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """``module`` with random weights and BN statistics, in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    for name, tensor in module.state_dict().items():
        if 'dfl' in name or 'num_batches' in name:
            continue
        values = torch.rand(tensor.shape, generator=generator)
        if name.endswith('running_var') or name.endswith('bn.weight'):
            tensor.copy_(0.5 + values)
        else:
            tensor.copy_((values - 0.5) * 0.2)
    return module.eval()


def project_pair(num_classes: int, seed: int = 0):
    """The reference's neck + Detect on ShuffleNetV2 1.0x's channels, random, and the
    project's neck and head holding the same weights."""
    ref = randomised(reference.YOLOv8(num_classes, SHUFFLENET_CHANNELS), seed)
    neck = YOLOv8PAFPN(SHUFFLENET_CHANNELS)
    head = YOLOv8Head(
        num_classes=num_classes, in_channels=neck.out_channels,
        train_cfg=dict(assigner=dict(type='YOLOv8TaskAlignedAssigner')),
        test_cfg=ConfigDict(nms_pre=30000, score_thr=0.001, max_per_img=300,
                            nms=dict(type='nms', iou_threshold=0.7)))
    state = {project_key(k): v for k, v in ref.state_dict().items() if 'dfl' not in k}
    detector = torch.nn.ModuleDict(dict(neck=neck, bbox_head=head))
    missing, unexpected = detector.load_state_dict(state, strict=False)
    assert not unexpected and missing == ['bbox_head.integral.project']
    return ref, neck.eval(), head.eval()


def features(size: int, seed: int, batch: int = 1):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, size // s, size // s, generator=generator)
            for c, s in zip(SHUFFLENET_CHANNELS, reference.STRIDES)]


def test_the_reference_is_yolov8n_and_the_project_builds_its_sizes():
    def count(module):
        return sum(p.numel() for p in module.parameters())

    yolov8n = reference.YOLOv8(80)
    assert count(yolov8n) == 3_157_200
    assert [count(yolov8n.model[:10]), count(yolov8n.model[10:22]), count(yolov8n.model[22])
            ] == [1_272_656, 986_880, 897_664]
    neck = YOLOv8PAFPN(SHUFFLENET_CHANNELS)
    head = YOLOv8Head(num_classes=80, in_channels=neck.out_channels)
    assert neck.out_channels == [64, 128, 256]
    assert count(neck) == 1_083_392
    # Ultralytics counts the 16 fixed weights of its DFL conv; the project's integral holds
    # them as a buffer
    assert count(head) + head.integral.project.numel() == 897_664


def test_yolov8n_counts_ultralytics_gflops_and_the_head_costs_what_its_detect_does():
    """YOLOv8n: 8.7 GFLOPs at 640 as Ultralytics counts (twice the convolutions'
    multiply-adds); the project's head at 640 costs what YOLOv8n's Detect costs (the same
    channels in), its neck what ``get_flops.py`` prints for the config."""
    from mmengine.analysis import FlopAnalyzer

    from shufflenet_det.benchmarking.complexity import complexity
    from shufflenet_det.utils.run_config import build_detector
    from tests.test_tools.tool_runner import REPO

    analyzer = FlopAnalyzer(reference.YOLOv8(80).eval(), (torch.rand(1, 3, 640, 640), ))
    analyzer.unsupported_ops_warnings(False)
    assert round(2 * analyzer.by_operator()['conv'] / 1e9, 1) == 8.7
    _, model = build_detector(str(REPO / 'configs/yolov8_shufflenetv2_640_coco.py'))
    info = complexity(model.eval(), (640, 640))
    assert info['parts']['bbox_head']['flops'] == analyzer.by_module()['model.22']
    assert info['parts']['neck']['params'] == 1_083_392
    assert sum(part['flops'] for part in info['parts'].values()) == info['flops']


def test_neck_and_head_compute_the_references_maps():
    ref, neck, head = project_pair(80)
    feats = features(320, seed=1, batch=2)
    with torch.no_grad():
        expected = ref(*feats)
        cls_scores, bbox_preds = head(neck(feats))
    for level, maps in enumerate(expected):
        box, cls = maps.split((64, 80), 1)
        assert torch.allclose(bbox_preds[level], box, atol=1e-5)
        assert torch.allclose(cls_scores[level], cls, atol=1e-5)


def test_the_decoded_boxes_after_nms_are_the_references():
    """Rescaled from a 256x192 input to a 512x384 image, clipped after NMS as YOLOv8 clips."""
    ref, neck, head = project_pair(4, seed=2)
    generator = torch.Generator().manual_seed(3)
    for branch in ref.model[22].cv3:  # scores spread over (0.001, 0.5) rather than all low
        branch[2].bias.data.uniform_(-7, 0, generator=generator)
    state = {f'cls_branches.{i}.2.bias': b[2].bias for i, b in enumerate(ref.model[22].cv3)}
    head.load_state_dict(state, strict=False)
    feats = [torch.randn(1, c, 192 // s, 256 // s, generator=generator)
             for c, s in zip(SHUFFLENET_CHANNELS, reference.STRIDES)]
    with torch.no_grad():
        maps = ref(*feats)
        expected = reference.non_max_suppression(ref.model[22].decode(maps))[0]
        cls_scores, bbox_preds = head(neck(feats))
        meta = dict(img_shape=(192, 256), ori_shape=(384, 512), scale_factor=(0.5, 0.5))
        found = head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=[meta],
                                     rescale=True)[0]
    assert 100 < len(expected) <= 300
    expected_boxes = reference.scale_boxes_to(expected[:, :4], 0.5, (384, 512))
    # boxes of exactly equal scores come in the order of each one's sort: put both lists in
    # one order, by score, then label, then left edge
    assert (found.scores[:-1] >= found.scores[1:]).all()
    found_order = in_one_order(found.scores, found.labels, found.bboxes)
    expected_order = in_one_order(expected[:, 4], expected[:, 5], expected_boxes)
    assert torch.equal(found.labels[found_order], expected[expected_order, 5].long())
    assert torch.allclose(found.scores[found_order], expected[expected_order, 4], atol=1e-6)
    assert torch.allclose(found.bboxes[found_order], expected_boxes[expected_order], atol=1e-3)
    assert (expected_boxes[:, 2] >= 512).any()  # some boxes were clipped, after NMS


def in_one_order(scores: torch.Tensor, labels: torch.Tensor,
                 boxes: torch.Tensor) -> torch.Tensor:
    """Indices that sort detections by score (best first), then label, then left edge."""
    return torch.from_numpy(np.lexsort((boxes[:, 0].numpy(), labels.numpy(), -scores.numpy())))


def fixed_batch():
    """Two 256x256 images: three boxes in one, one in the other."""
    boxes = [torch.tensor([[20., 30., 120., 200.], [100., 90., 180., 150.], [5, 5, 40, 28]]),
             torch.tensor([[60., 50., 250., 240.]])]
    labels = [torch.tensor([0, 3, 1]), torch.tensor([2])]
    return boxes, labels


def test_assigned_targets_and_losses_are_the_references():
    ref, neck, head = project_pair(4, seed=4)
    feats = features(256, seed=5, batch=2)
    boxes, labels = fixed_batch()
    padded = torch.zeros(2, 3, 4)
    padded_labels = torch.zeros(2, 3, 1)
    mask_gt = torch.zeros(2, 3, 1)
    for i, (b, l) in enumerate(zip(boxes, labels)):
        padded[i, :len(b)], padded_labels[i, :len(b), 0], mask_gt[i, :len(b)] = b, l.float(), 1
    with torch.no_grad():
        maps = ref(*feats)
        expected_losses, (target_boxes, target_scores, fg) = reference.detection_loss(
            maps, padded_labels, padded, mask_gt, nc=4)
        cls_scores, bbox_preds = head(neck(feats))
        gt_instances = [InstanceData(bboxes=b, labels=l) for b, l in zip(boxes, labels)]
        metas = [dict(img_shape=(256, 256))] * 2
        losses = head.loss_by_feat(cls_scores, bbox_preds, gt_instances, metas)

        centers, _, _ = head._point_priors([s.shape[-2:] for s in cls_scores], 'cpu')
        scores = torch.cat([head._flatten(s, 4) for s in cls_scores], 1).sigmoid()
        sides = head.integral(torch.cat([head._flatten(b, 64) for b in bbox_preds], 1)
                              .reshape(-1, 64)).reshape(2, -1, 4)
        strides = torch.cat([torch.full(((256 // s)**2, 1), float(s)) for s in (8, 16, 32)])
        predicted = torch.cat([centers - sides[..., :2] * strides,
                               centers + sides[..., 2:] * strides], -1)
    assert fg.sum() > 10
    for i, gt in enumerate(gt_instances):
        result = head.assigner.assign(
            InstanceData(priors=centers, bboxes=predicted[i], scores=scores[i]), gt)
        positive = result.gt_inds > 0
        assert torch.equal(positive, fg[i])
        assert torch.equal(gt.bboxes[result.gt_inds[positive] - 1], target_boxes[i][positive])
        mine = torch.zeros(len(positive), 4)
        mine[positive, result.labels[positive]] = result.assign_metrics[positive]
        assert torch.allclose(mine, target_scores[i], atol=1e-4)
    assert torch.allclose(losses['loss_bbox'], expected_losses[0], atol=1e-4)
    assert torch.allclose(losses['loss_cls'], expected_losses[1], atol=1e-4)
    assert torch.allclose(losses['loss_dfl'], expected_losses[2], atol=1e-4)

    # MMDetection's own TaskAlignedAssigner (TOOD's) picks other points on the same batch
    mmdet_assigner = TaskAlignedAssigner(topk=10)
    tood_positive = mmdet_assigner.assign(
        InstanceData(priors=torch.cat([centers, centers], 1), bboxes=predicted[0],
                     scores=scores[0]), gt_instances[0], alpha=0.5, beta=6.0).gt_inds > 0
    assert not torch.equal(tood_positive, fg[0])


def test_yolov8_ciou_is_ultralytics_and_mmdetections_is_not():
    generator = torch.Generator().manual_seed(6)
    corners = torch.rand(2, 500, 2, generator=generator) * 100
    sizes = torch.rand(2, 500, 2, generator=generator) * 60 + 1
    pred, target = (torch.cat([c, c + s], -1) for c, s in zip(corners, sizes))
    expected = 1 - reference.bbox_ciou(pred, target).squeeze(-1)
    mine = YOLOv8CIoULoss(reduction='none')(pred, target)
    mmdet = CIoULoss(reduction='none')(pred, target)
    assert torch.allclose(mine, expected, atol=1e-6)
    assert (mmdet - expected).abs().max() > 1e-2  # the IoU <= 0.5 pairs


@pytest.mark.parametrize('num_gts', [0, 1])
def test_an_image_without_boxes_or_with_a_tiny_one_trains(num_gts):
    _, neck, head = project_pair(4, seed=7)
    head.train()
    feats = features(128, seed=8)
    gt = InstanceData(bboxes=torch.tensor([[10., 10., 11., 11.]])[:num_gts],
                      labels=torch.tensor([1])[:num_gts])
    losses = head.loss_by_feat(*head(neck(feats)), [gt], [dict(img_shape=(128, 128))])
    total = sum(losses.values())
    total.backward()
    assert torch.isfinite(total) and losses['loss_cls'] > 0
