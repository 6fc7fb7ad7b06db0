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
from mmdet.utils import ConfigType, InstanceList


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
    post-processing together on a CPU); see :meth:`predict_by_feat`.

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

    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        score_factors: Optional[List[Tensor]] = None,
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: Optional[ConfigDict] = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """``GFLHead``'s decoding, with fewer and cheaper steps on a CPU.

        The same boxes as ``GFLHead.predict_by_feat`` (the score filter and ``nms_pre`` still
        apply per level), but: the prior centres are kept while the feature map sizes stay
        the same; the scores of all levels and images go through one sigmoid; and the box
        distributions are integrated and decoded once per image, for the kept candidates of
        all levels together.

        Args:
            cls_scores (list[Tensor]): Class scores of each level, (N, C, H, W).
            bbox_preds (list[Tensor]): Box distributions of each level,
                (N, 4 * (reg_max + 1), H, W).
            score_factors (list[Tensor], optional): Unused (GFL has none).
            batch_img_metas (list[dict]): Meta information of each image.
            cfg (ConfigDict, optional): Test config; ``self.test_cfg`` if None.
            rescale (bool): Whether to return boxes in the original image space.
            with_nms (bool): Whether to apply NMS.

        Returns:
            list[InstanceData]: ``bboxes``, ``scores`` and ``labels`` of each image.
        """
        cfg = self.test_cfg if cfg is None else cfg
        nms_pre = cfg.get('nms_pre', -1)
        centers, strides = self._point_priors([s.shape[-2:] for s in cls_scores],
                                              cls_scores[0].device)
        scores = torch.cat([self._flatten(s, self.cls_out_channels) for s in cls_scores],
                           1).sigmoid()
        distributions = torch.cat([self._flatten(b, 4 * (self.reg_max + 1)) for b in bbox_preds],
                                  1)
        level_ends = torch.tensor([s.shape[-2] * s.shape[-1] for s in cls_scores]).cumsum(0)
        level_starts = level_ends - level_ends[0].new_tensor(
            [s.shape[-2] * s.shape[-1] for s in cls_scores])
        results_list = []
        for img_scores, img_distributions, img_meta in zip(scores, distributions,
                                                           batch_img_metas):
            kept_scores, kept_labels, kept_indices = [], [], []
            for start, end in zip(level_starts.tolist(), level_ends.tolist()):
                level_scores, labels, indices, _ = filter_scores_and_topk(
                    img_scores[start:end], cfg.score_thr, nms_pre)
                kept_scores.append(level_scores)
                kept_labels.append(labels)
                kept_indices.append(indices + start)
            indices = torch.cat(kept_indices)
            distances = self.integral(img_distributions[indices]) * strides[indices, None]
            results = InstanceData(
                bboxes=self.bbox_coder.decode(centers[indices], distances,
                                              max_shape=img_meta['img_shape']),
                scores=torch.cat(kept_scores),
                labels=torch.cat(kept_labels))
            results_list.append(self._bbox_post_process(
                results=results, cfg=cfg, rescale=rescale, with_nms=with_nms, img_meta=img_meta))
        return results_list

    @staticmethod
    def _flatten(x: Tensor, channels: int) -> Tensor:
        """(N, channels, H, W) to (N, H * W, channels)."""
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, channels)

    def _point_priors(self, featmap_sizes: List[torch.Size],
                      device: torch.device) -> Tuple[Tensor, Tensor]:
        """Centres and strides of the priors of all levels, cached for the last sizes seen."""
        key = (tuple(tuple(size) for size in featmap_sizes), device)
        if getattr(self, '_point_priors_key', None) != key:
            priors = self.prior_generator.grid_priors(featmap_sizes, device=device)
            strides = [p.new_full((len(p), ), stride[0])
                       for p, stride in zip(priors, self.prior_generator.strides)]
            self._point_priors_cache = (self.anchor_center(torch.cat(priors)),
                                        torch.cat(strides))
            self._point_priors_key = key
        return self._point_priors_cache
