import torch
import torch.nn as nn
from mmcv.cnn import DepthwiseSeparableConvModule

from shufflenet_det.models.dense_heads import NanoDetHead

ANCHORS = dict(type='AnchorGenerator', ratios=[1.0], octave_base_scale=5,
               scales_per_octave=1, strides=[8, 16, 32])


def test_towers_are_per_level_with_one_shared_1x1_output():
    head = NanoDetHead(num_classes=80, in_channels=96, feat_channels=96, reg_max=7,
                       anchor_generator=ANCHORS)
    head.init_weights()
    assert len(head.towers) == len(head.out_convs) == 3
    assert head.towers[0][0] is not head.towers[1][0]
    for tower, out_conv in zip(head.towers, head.out_convs):
        assert len(tower) == 2
        assert all(isinstance(m, DepthwiseSeparableConvModule) for m in tower)
        assert isinstance(tower[0].depthwise_conv.norm, nn.BatchNorm2d)
        assert isinstance(tower[0].pointwise_conv.activate, nn.LeakyReLU)
        assert out_conv.kernel_size == (1, 1) and out_conv.out_channels == 80 + 4 * 8
        assert torch.allclose(out_conv.bias[:80], torch.full((80, ), -4.595), atol=1e-3)
    feats = [torch.rand(2, 96, s, s) for s in (40, 20, 10)]
    cls_scores, bbox_preds = head(feats)
    assert [c.shape for c in cls_scores] == [(2, 80, s, s) for s in (40, 20, 10)]
    assert [b.shape for b in bbox_preds] == [(2, 32, s, s) for s in (40, 20, 10)]


def test_decoding_after_the_score_filter_matches_gfl_head():
    from mmengine.config import ConfigDict
    from mmdet.models.dense_heads import GFLHead

    torch.manual_seed(0)
    head = NanoDetHead(num_classes=3, in_channels=16, feat_channels=16, reg_max=7,
                       anchor_generator=ANCHORS,
                       test_cfg=ConfigDict(nms_pre=50, min_bbox_size=0, score_thr=0.05,
                                           nms=dict(type='nms', iou_threshold=0.6),
                                           max_per_img=20)).eval()
    for conv in head.out_convs:
        nn.init.normal_(conv.weight, std=1.0)
    with torch.no_grad():
        cls_scores, bbox_preds = head([torch.rand(2, 16, s, s) for s in (16, 8, 4)])
    # Different sizes: each image's boxes are clipped to its own.
    metas = [dict(img_shape=(128, 128), scale_factor=(1.0, 1.0)),
             dict(img_shape=(96, 112), scale_factor=(1.0, 1.0))]
    ours = head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas)
    reference = GFLHead.predict_by_feat(head, cls_scores, bbox_preds, batch_img_metas=metas)
    # Before NMS too: the same candidates in the same order (nms_pre=50 cuts the two larger
    # levels).
    before_nms = head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas,
                                      with_nms=False)
    reference_before_nms = GFLHead.predict_by_feat(head, cls_scores, bbox_preds,
                                                   batch_img_metas=metas, with_nms=False)
    for a, b in zip(before_nms, reference_before_nms):
        assert len(a) == len(b) > 100
        torch.testing.assert_close(a.bboxes, b.bboxes)
        torch.testing.assert_close(a.scores, b.scores)
        assert torch.equal(a.labels, b.labels)
    # Cached priors: a second call, and one at other sizes, decode as GFLHead does too.
    again = head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas)
    torch.testing.assert_close(again[0].bboxes, ours[0].bboxes)
    with torch.no_grad():
        other = head([torch.rand(1, 16, s, s) for s in (12, 6, 3)])
    meta = [dict(img_shape=(96, 96), scale_factor=(1.0, 1.0))]
    torch.testing.assert_close(head.predict_by_feat(*other, batch_img_metas=meta)[0].bboxes,
                               GFLHead.predict_by_feat(head, *other,
                                                       batch_img_metas=meta)[0].bboxes)
    for a, b in zip(ours, reference):
        assert len(a) > 0
        torch.testing.assert_close(a.bboxes, b.bboxes)
        torch.testing.assert_close(a.scores, b.scores)
        assert torch.equal(a.labels, b.labels)
