"""NanoDet-Plus's auxiliary head: MMDetection's GFL head with NanoDet's activation."""
from typing import List

from mmcv.cnn import ConvModule
from torch import nn

from mmdet.models.dense_heads import GFLHead
from mmdet.registry import MODELS
from mmdet.utils import ConfigType


@MODELS.register_module()
class SimpleConvHead(GFLHead):
    """``GFLHead`` (separate class and box towers of 3x3 conv + GN + act, 3x3 outputs, a
    ``Scale`` per level) with NanoDet's LeakyReLU in the towers: NanoDet's ``SimpleConvHead``.

    NanoDet-Plus trains it beside the detection head, on the concatenated outputs of the neck
    and of a copy of it; its predictions assign the targets of both (see ``NanoDetPlus``). It is
    not used at inference.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Channels of every input level.
        act_cfg (dict): Activation of the tower convs. Default: dict(type='LeakyReLU',
            negative_slope=0.1).
        **kwargs: Passed to :class:`GFLHead`.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 act_cfg: ConfigType = dict(type='LeakyReLU', negative_slope=0.1),
                 **kwargs) -> None:
        self.act_cfg = act_cfg
        super().__init__(num_classes=num_classes, in_channels=in_channels, **kwargs)

    def _init_layers(self) -> None:
        """``GFLHead``'s layers, with towers that use ``act_cfg``."""
        super()._init_layers()
        self.cls_convs, self.reg_convs = (nn.ModuleList([
            ConvModule(self.in_channels if i == 0 else self.feat_channels, self.feat_channels,
                       3, padding=1, conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg,
                       act_cfg=self.act_cfg) for i in range(self.stacked_convs)
        ]) for _ in range(2))

    def class_score_params(self) -> List[str]:
        """Parameters whose first ``num_classes`` output channels are the class scores, for
        ``ClassTransferHook``."""
        return ['gfl_cls.weight', 'gfl_cls.bias']
