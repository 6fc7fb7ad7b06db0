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
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, InstanceList


@MODELS.register_module()
class NanoDetHead(GFLHead):
    """GFL head shaped like NanoDet-m's.

    Each level has its own tower of ``stacked_convs`` depthwise-separable convs (``kernel_size``
    depthwise + BN + act, 1x1 + BN + act; not shared across levels) and its own 1x1 output conv that
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
        kernel_size (int): Kernel of the depthwise convs: 3 in NanoDet-m, 5 in NanoDet-Plus.
            Default: 3.
        norm_cfg (dict): Norm of the tower convs. Default: dict(type='BN').
        act_cfg (dict): Activation of the tower convs. Default: dict(type='LeakyReLU',
            negative_slope=0.1).
        **kwargs: Passed to :class:`GFLHead` (``feat_channels``, ``reg_max``, losses, ...).
    """

    #: Boxes are clipped to the image before NMS (MMDetection's and NanoDet's order); a
    #: subclass may clip the kept boxes after NMS instead.
    clip_before_nms = True

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 stacked_convs: int = 2,
                 kernel_size: int = 3,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='LeakyReLU', negative_slope=0.1),
                 **kwargs) -> None:
        self.act_cfg = act_cfg
        self.kernel_size = kernel_size
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
                    self.kernel_size,
                    padding=self.kernel_size // 2,
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

    def class_score_params(self) -> List[str]:
        """Parameters whose first ``num_classes`` output channels are the class scores (the
        box distribution follows), for ``ClassTransferHook``."""
        return [f'out_convs.{i}.{param}' for i in range(len(self.out_convs))
                for param in ('weight', 'bias')]

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

        The same boxes, in the same order, as ``GFLHead.predict_by_feat`` (the score filter,
        then the ``nms_pre`` best of each level of each image), but the whole batch is
        filtered and decoded at once: one sigmoid, one threshold, one integral of the box
        distributions of the kept candidates only, and prior centres kept while the feature
        map sizes stay the same. Only NMS runs image by image.

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
        centers, strides, levels = self._point_priors([s.shape[-2:] for s in cls_scores],
                                                      cls_scores[0].device)
        scores = torch.cat([self._flatten(s, self.cls_out_channels) for s in cls_scores],
                           1).sigmoid()
        distributions = torch.cat([self._flatten(b, 4 * (self.reg_max + 1)) for b in bbox_preds],
                                  1)
        img_ids, locations, labels = (scores > cfg.score_thr).nonzero(as_tuple=True)
        kept = self._best_per_group(scores[img_ids, locations, labels],
                                    img_ids * len(cls_scores) + levels[locations],
                                    cfg.get('nms_pre', -1))
        img_ids, locations, labels = img_ids[kept], locations[kept], labels[kept]
        distances = self.integral(distributions[img_ids, locations]) * strides[locations, None]
        bboxes = self.bbox_coder.decode(centers[locations], distances)
        if self.clip_before_nms:
            max_xy = bboxes.new_tensor([meta['img_shape'][1::-1] for meta in batch_img_metas])
            bboxes = torch.minimum(bboxes.clamp(min=0), max_xy[img_ids].repeat(1, 2))
        results_list = []
        for img_id, img_meta in enumerate(batch_img_metas):
            mine = img_ids == img_id
            results = InstanceData(bboxes=bboxes[mine],
                                   scores=scores[img_id, locations[mine], labels[mine]],
                                   labels=labels[mine])
            results = self._bbox_post_process(results=results, cfg=cfg, rescale=rescale,
                                              with_nms=with_nms, img_meta=img_meta)
            if not self.clip_before_nms:
                height, width = img_meta['ori_shape' if rescale else 'img_shape'][:2]
                results.bboxes[:, 0::2] = results.bboxes[:, 0::2].clamp(0, width)
                results.bboxes[:, 1::2] = results.bboxes[:, 1::2].clamp(0, height)
            results_list.append(results)
        return results_list

    @staticmethod
    def _best_per_group(scores: Tensor, groups: Tensor, k: int) -> Tensor:
        """Indices of the ``k`` best scores of each group (all if ``k`` <= 0), ordered by group
        and, within a group, by descending score."""
        order = scores.argsort(descending=True, stable=True)
        order = order[groups[order].argsort(stable=True)]
        if k <= 0:
            return order
        groups = groups[order]
        counts = torch.bincount(groups)
        rank = torch.arange(len(order), device=order.device) - (counts.cumsum(0) - counts)[groups]
        return order[rank < k]

    @staticmethod
    def _flatten(x: Tensor, channels: int) -> Tensor:
        """(N, channels, H, W) to (N, H * W, channels)."""
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, channels)

    def _point_priors(self, featmap_sizes: List[torch.Size],
                      device: torch.device) -> Tuple[Tensor, Tensor, Tensor]:
        """Centres, strides and level indices of the priors of all levels, cached for the last
        sizes seen."""
        key = (tuple(tuple(size) for size in featmap_sizes), device)
        if getattr(self, '_point_priors_key', None) != key:
            priors = self.prior_generator.grid_priors(featmap_sizes, device=device)
            strides = [p.new_full((len(p), ), stride[0])
                       for p, stride in zip(priors, self.prior_generator.strides)]
            levels = [torch.full((len(p), ), i, device=device) for i, p in enumerate(priors)]
            self._point_priors_cache = (self.anchor_center(torch.cat(priors)),
                                        torch.cat(strides), torch.cat(levels))
            self._point_priors_key = key
        return self._point_priors_cache
