"""NanoDet's light PAN: 1x1 laterals, then resize-and-add top-down and bottom-up."""
from typing import List, Sequence, Tuple

import torch.nn.functional as F
from torch import Tensor

from mmdet.models.necks import FPN
from mmdet.registry import MODELS
from mmdet.utils import OptConfigType, OptMultiConfig


@MODELS.register_module()
class LightPAN(FPN):
    """A path aggregation neck with no 3x3 output convolutions.

    MMDetection's ``FPN`` and ``PAFPN`` add 3x3 convs after the merge; NanoDet-m's PAN does not:
    each input goes through a 1x1 lateral conv, coarser maps are resized and added into finer
    ones (top-down), then finer maps are resized and added into coarser ones (bottom-up). One
    output per input, at the same strides.

    Args:
        in_channels (Sequence[int]): Channels of each input feature map.
        out_channels (int): Channels of every output.
        conv_cfg (dict, optional): Config of the lateral convs. Default: None.
        norm_cfg (dict, optional): Norm after the lateral convs. Default: None.
        act_cfg (dict, optional): Activation after the lateral convs. Default: None.
        init_cfg (dict or list[dict], optional): Initialization config.
            Default: Xavier-uniform for the convs.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: int,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: OptConfigType = None,
                 act_cfg: OptConfigType = None,
                 init_cfg: OptMultiConfig = dict(
                     type='Xavier', layer='Conv2d', distribution='uniform')) -> None:
        super().__init__(
            in_channels=list(in_channels),
            out_channels=out_channels,
            num_outs=len(in_channels),
            conv_cfg=conv_cfg,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg,
            init_cfg=init_cfg)
        del self.fpn_convs  # built by FPN, not part of this neck

    def forward(self, inputs: Tuple[Tensor, ...]) -> Tuple[Tensor, ...]:
        """Merge the feature maps, finest first."""
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'LightPAN expects {len(self.in_channels)} feature maps '
                             f'(in_channels={self.in_channels}), got {len(inputs)}')
        outs: List[Tensor] = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        for i in range(len(outs) - 1, 0, -1):
            outs[i - 1] = outs[i - 1] + F.interpolate(
                outs[i], size=outs[i - 1].shape[2:], mode='bilinear', align_corners=False)
        for i in range(len(outs) - 1):
            outs[i + 1] = outs[i + 1] + F.interpolate(
                outs[i], size=outs[i + 1].shape[2:], mode='bilinear', align_corners=False)
        return tuple(outs)
