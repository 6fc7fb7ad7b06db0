"""NanoDet-style GFL head: per-level depthwise-separable towers and one shared 1x1 output."""
from typing import List, Sequence, Tuple

import torch.nn as nn
from mmcv.cnn import DepthwiseSeparableConvModule
from mmengine.model.weight_init import bias_init_with_prob, normal_init
from torch import Tensor

from mmdet.models.dense_heads import GFLHead
from mmdet.registry import MODELS
from mmdet.utils import ConfigType


@MODELS.register_module()
class NanoDetHead(GFLHead):
    """GFL head shaped like NanoDet-m's.

    Each level has its own tower of ``stacked_convs`` depthwise-separable convs (3x3 depthwise
    + BN + act, 1x1 + BN + act; not shared across levels) and its own 1x1 output conv that
    emits the class scores and the box distribution together (``num_classes + 4 * (reg_max +
    1)`` channels). Losses (QFL, DFL, GIoU), the ATSS assigner and decoding are ``GFLHead``'s.
    There is no per-level ``Scale``: NanoDet has none.

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
