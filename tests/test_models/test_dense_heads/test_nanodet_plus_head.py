"""NanoDet-Plus's assignment: MMDetection's DynamicSoftLabelAssigner as the configs set it
assigns what NanoDet's own DynamicSoftLabelAssigner assigns (written here from NanoDet's
``head/assigner/dsl_assigner.py`` as the oracle)."""
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmdet.registry import TASK_UTILS
from mmdet.structures.bbox import bbox_overlaps

from tests.test_tools.tool_runner import REPO


def nanodet_assign(scores, priors, bboxes, gt_bboxes, gt_labels, topk=13, iou_factor=3.0):
    """NanoDet's cost: soft-label BCE scaled by |soft label - score|^2, plus 3 x -log(IoU),
    over the priors inside a box; dynamic k from the top-13 IoUs; each prior to its cheapest
    box. Returns the assigned box (1-based, 0 for background) and IoU of every prior."""
    inside = ((priors[:, None, :2] > gt_bboxes[None, :, :2])
              & (priors[:, None, :2] < gt_bboxes[None, :, 2:])).all(-1)
    valid = inside.any(1)
    ious = bbox_overlaps(bboxes[valid], gt_bboxes)
    soft = F.one_hot(gt_labels, scores.shape[1]).float()[None] * ious[..., None]
    logits = scores[valid][:, None].expand(-1, len(gt_bboxes), -1)
    cls_cost = (F.binary_cross_entropy_with_logits(logits, soft, reduction='none')
                * (soft - logits.sigmoid()).abs().pow(2)).sum(-1)
    cost = cls_cost - torch.log(ious + 1e-7) * iou_factor
    matching = torch.zeros_like(cost)
    ks = torch.topk(ious, min(topk, len(ious)), dim=0)[0].sum(0).int().clamp(min=1)
    for gt, k in enumerate(ks.tolist()):
        matching[torch.topk(cost[:, gt], k, largest=False)[1], gt] = 1
    several = matching.sum(1) > 1
    matching[several] = 0
    matching[several, cost[several].argmin(1)] = 1
    matched = matching.sum(1) > 0
    assigned = torch.zeros(len(priors), dtype=torch.long)
    overlaps = torch.zeros(len(priors))
    index = valid.nonzero().squeeze(1)[matched]
    assigned[index] = matching[matched].argmax(1) + 1
    overlaps[index] = (matching * ious).sum(1)[matched]
    return assigned, overlaps


def test_the_configured_assigner_assigns_what_nanodet_assigns():
    cfg = Config.fromfile(REPO / 'configs/nanodet-plus_shufflenetv2_ghostpan_320_coco.py')
    assigner = TASK_UTILS.build(cfg.model.train_cfg.assigner)
    torch.manual_seed(0)
    ys, xs = torch.meshgrid(torch.arange(20.) * 8, torch.arange(20.) * 8, indexing='ij')
    priors = torch.stack([xs.flatten(), ys.flatten(), torch.full((400, ), 8.),
                          torch.full((400, ), 8.)], 1)
    sizes = torch.rand(400, 2) * 40 + 8
    bboxes = torch.cat([priors[:, :2] - sizes * torch.rand(400, 2),
                        priors[:, :2] + sizes * torch.rand(400, 2)], 1)
    scores = torch.randn(400, 5) * 2
    corners = torch.rand(6, 2) * 120
    gt_bboxes = torch.cat([corners, corners + torch.rand(6, 2) * 40 + 12], 1)
    gt_labels = torch.randint(0, 5, (6, ))
    result = assigner.assign(InstanceData(priors=priors, bboxes=bboxes, scores=scores),
                             InstanceData(bboxes=gt_bboxes, labels=gt_labels))
    assigned, overlaps = nanodet_assign(scores, priors, bboxes, gt_bboxes, gt_labels)
    assert (assigned > 0).sum() >= 6 and len(assigned.unique()) >= 4  # positives for most boxes
    assert torch.equal(result.gt_inds, assigned)
    positive = assigned > 0
    torch.testing.assert_close(result.max_overlaps[positive], overlaps[positive])
    torch.testing.assert_close(result.labels[positive], gt_labels[assigned[positive] - 1])


def test_mmdetections_default_centre_term_would_assign_otherwise():
    """The check above can fail: with MMDetection's default radius, the assignment differs."""
    cfg = Config.fromfile(REPO / 'configs/nanodet-plus_shufflenetv2_ghostpan_320_coco.py')
    default = dict(cfg.model.train_cfg.assigner, soft_center_radius=3.0)
    torch.manual_seed(0)
    ys, xs = torch.meshgrid(torch.arange(20.) * 8, torch.arange(20.) * 8, indexing='ij')
    priors = torch.stack([xs.flatten(), ys.flatten(), torch.full((400, ), 8.),
                          torch.full((400, ), 8.)], 1)
    bboxes = torch.cat([priors[:, :2] - 20, priors[:, :2] + 20], 1)
    scores = torch.randn(400, 3) * 2
    gt = InstanceData(bboxes=torch.tensor([[10., 10., 150., 150.]]), labels=torch.tensor([1]))
    pred = InstanceData(priors=priors, bboxes=bboxes, scores=scores)
    configured = TASK_UTILS.build(cfg.model.train_cfg.assigner).assign(pred, gt)
    assert not torch.equal(TASK_UTILS.build(default).assign(pred, gt).gt_inds,
                           configured.gt_inds)
