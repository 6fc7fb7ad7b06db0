"""NanoDet-style GFL head: per-level depthwise-separable towers and one shared 1x1 output."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import DepthwiseSeparableConvModule
from mmengine.config import ConfigDict
from mmengine.model.weight_init import bias_init_with_prob, normal_init
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.dense_heads import GFLHead
from mmdet.models.utils import filter_scores_and_topk
from mmdet.registry import MODELS
from mmdet.utils import ConfigType


@MODELS.register_module()
class NanoDetHead(GFLHead):
    """GFL head shaped like NanoDet-m's.

    Each level has its own tower of ``stacked_convs`` depthwise-separable convs (3x3 depthwise
    + BN + act, 1x1 + BN + act; not shared across levels) and its own 1x1 output conv that
    emits the class scores and the box distribution together (``num_classes + 4 * (reg_max +
    1)`` channels). Losses (QFL, DFL, GIoU), the ATSS assigner and decoding are ``GFLHead``'s.
    There is no per-level ``Scale``: NanoDet has none. At inference the box distributions are
    decoded only for the candidates that pass the score threshold and ``nms_pre``, not for
    every location (``GFLHead`` decodes all, which costs more than the rest of the
    post-processing together on a CPU).

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels of every input level.
        stacked_convs (int): Depthwise-separable convs per tower. Default: 2.
        norm_cfg (dict): Norm of the tower convs. Default: dict(type='BN').
        act_cfg (dict): Activation of the tower convs. Default: dict(type='LeakyReLU',
            negative_slope=0.1).
        **kwargs: Passed to :class:`GFLHead` (``feat_channels``, ``reg_max``, losses, ...).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 stacked_convs: int = 2,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='LeakyReLU', negative_slope=0.1),
                 **kwargs) -> None:
        self.act_cfg = act_cfg
        super().__init__(
            num_classes=num_classes,
            in_channels=in_channels,
            stacked_convs=stacked_convs,
            norm_cfg=norm_cfg,
            init_cfg=None,
            **kwargs)

    def _init_layers(self) -> None:
        """One tower and one shared cls/reg 1x1 output conv per level."""
        num_levels = len(self.prior_generator.strides)
        self.towers = nn.ModuleList([
            nn.Sequential(*[
                DepthwiseSeparableConvModule(
                    self.in_channels if i == 0 else self.feat_channels,
                    self.feat_channels,
                    3,
                    padding=1,
                    norm_cfg=self.norm_cfg,
                    act_cfg=self.act_cfg) for i in range(self.stacked_convs)
            ]) for _ in range(num_levels)
        ])
        self.out_convs = nn.ModuleList([
            nn.Conv2d(self.feat_channels, self.cls_out_channels + 4 * (self.reg_max + 1), 1)
            for _ in range(num_levels)
        ])

    def init_weights(self) -> None:
        """Normal(0, 0.01) convs; class-score biases at a prior probability of 0.01."""
        super().init_weights()
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                normal_init(module, std=0.01)
        for conv in self.out_convs:
            nn.init.constant_(conv.bias[:self.cls_out_channels], bias_init_with_prob(0.01))

    def forward(self, x: Sequence[Tensor]) -> Tuple[List[Tensor], List[Tensor]]:
        """Class scores and box distributions of every level."""
        if len(x) != len(self.towers):
            raise ValueError(f'NanoDetHead has {len(self.towers)} levels (strides '
                             f'{self.prior_generator.strides}), got {len(x)} feature maps')
        cls_scores, bbox_preds = [], []
        for feat, tower, out_conv in zip(x, self.towers, self.out_convs):
            out = out_conv(tower(feat))
            cls_scores.append(out[:, :self.cls_out_channels])
            bbox_preds.append(out[:, self.cls_out_channels:].float())
        return cls_scores, bbox_preds

    def _predict_by_feat_single(self,
                                cls_score_list: List[Tensor],
                                bbox_pred_list: List[Tensor],
                                score_factor_list: List[Tensor],
                                mlvl_priors: List[Tensor],
                                img_meta: dict,
                                cfg: Optional[ConfigDict] = None,
                                rescale: bool = False,
                                with_nms: bool = True) -> InstanceData:
        """``GFLHead``'s decoding, with the distribution integral after the score filter."""
        cfg = self.test_cfg if cfg is None else cfg
        nms_pre = cfg.get('nms_pre', -1)
        mlvl_bboxes, mlvl_scores, mlvl_labels = [], [], []
        for cls_score, bbox_pred, stride, priors in zip(
                cls_score_list, bbox_pred_list, self.prior_generator.strides, mlvl_priors):
            scores = cls_score.permute(1, 2, 0).reshape(-1, self.cls_out_channels).sigmoid()
            bbox_pred = bbox_pred.permute(1, 2, 0).reshape(-1, 4 * (self.reg_max + 1))
            scores, labels, _, kept = filter_scores_and_topk(
                scores, cfg.score_thr, nms_pre, dict(bbox_pred=bbox_pred, priors=priors))
            distances = self.integral(kept['bbox_pred']) * stride[0]
            mlvl_bboxes.append(self.bbox_coder.decode(
                self.anchor_center(kept['priors']), distances, max_shape=img_meta['img_shape']))
            mlvl_scores.append(scores)
            mlvl_labels.append(labels)
        results = InstanceData(
            bboxes=torch.cat(mlvl_bboxes), scores=torch.cat(mlvl_scores),
            labels=torch.cat(mlvl_labels))
        return self._bbox_post_process(
            results=results, cfg=cfg, rescale=rescale, with_nms=with_nms, img_meta=img_meta)
