"""ShuffleNet V2 and its detection variant ShuffleNet V2* as MMDetection backbones."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmengine.model.weight_init import constant_init, normal_init
from torch.nn.modules.batchnorm import _BatchNorm

from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig

from shufflenet_det.errors import ModelConfigError

from .shufflenet_v2_arch import ARCH_SETTINGS, STAGE_BLOCKS, STEM_CHANNELS
from .shufflenet_v2_checkpoint import load_shufflenet_v2_weights

def concat_shuffle(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Concatenate two halves along channels and shuffle them with 2 groups, in one copy.

    Equivalent to ``channel_shuffle(torch.cat((first, second), 1), groups=2)``: output channel
    ``2i`` is ``first[:, i]`` and ``2i + 1`` is ``second[:, i]``. Stacking the halves on a new
    axis writes them interleaved directly, instead of a concatenation followed by a transposed
    copy.

    Args:
        first (Tensor): First half, shape (N, C, H, W).
        second (Tensor): Second half, same shape.

    Returns:
        Tensor: Shape (N, 2C, H, W).
    """
    return torch.stack((first, second), dim=2).flatten(1, 2)


class InvertedResidual(BaseModule):
    """The ShuffleNet V2 unit (Fig. 3 (c) and (d) of the paper).

    A stride-1 unit splits its input in two halves: the first passes through, the second goes
    through ``branch2`` (1x1 conv-BN-act, 3x3 depthwise conv-BN, 1x1 conv-BN-act). A stride-2
    unit feeds the whole input to ``branch1`` (3x3 depthwise stride-2 conv-BN, 1x1 conv-BN-act)
    and to ``branch2``. The two halves are concatenated and shuffled with 2 groups.

    With ``extra_dw=True`` (ShuffleNet V2*, Sec. 5 of the paper) a 3x3 depthwise conv-BN,
    ``extra_dw``, runs on ``branch2``'s input before its first pointwise conv. ``branch1`` of a
    stride-2 unit is unchanged: it already starts with a 3x3 depthwise conv.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        stride (int): Stride of the depthwise convs, 1 or 2. Default: 1.
        conv_cfg (dict, optional): Config of the conv layers. Default: None.
        norm_cfg (dict): Config of the norm layers. Default: dict(type='BN').
        act_cfg (dict): Config of the activations. Default: dict(type='ReLU').
        with_cp (bool): Use activation checkpointing to save memory. Default: False.
        init_cfg (dict or list[dict], optional): Initialization config. Default: None.
        extra_dw (bool): Add the ShuffleNet V2* depthwise conv (keyword only). Default: False.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int = 1,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 with_cp: bool = False,
                 init_cfg: OptMultiConfig = None,
                 *,
                 extra_dw: bool = False) -> None:
        super().__init__(init_cfg=init_cfg)
        if stride not in (1, 2):
            raise ValueError(f'stride must be 1 or 2, but got {stride}')
        branch_channels = out_channels // 2
        if stride == 1 and in_channels != out_channels:
            raise ValueError('a stride-1 unit keeps its channel count, but got '
                             f'in_channels={in_channels}, out_channels={out_channels}')
        self.stride = stride
        self.with_cp = with_cp
        branch2_in = in_channels if stride == 2 else branch_channels
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)

        if stride == 2:
            self.branch1 = nn.Sequential(
                ConvModule(in_channels, in_channels, 3, stride, 1, groups=in_channels,
                           act_cfg=None, **common),
                ConvModule(in_channels, branch_channels, 1, act_cfg=act_cfg, **common))
        self.extra_dw = ConvModule(
            branch2_in, branch2_in, 3, 1, 1, groups=branch2_in, act_cfg=None,
            **common) if extra_dw else None
        self.branch2 = nn.Sequential(
            ConvModule(branch2_in, branch_channels, 1, act_cfg=act_cfg, **common),
            ConvModule(branch_channels, branch_channels, 3, stride, 1,
                       groups=branch_channels, act_cfg=None, **common),
            ConvModule(branch_channels, branch_channels, 1, act_cfg=act_cfg, **common))

    def _branch2(self, x: torch.Tensor) -> torch.Tensor:
        if self.extra_dw is not None:
            x = self.extra_dw(x)
        return self.branch2(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Forward function."""

        def _inner_forward(x: torch.Tensor) -> torch.Tensor:
            if self.stride == 2:
                return concat_shuffle(self.branch1(x), self._branch2(x))
            x1, x2 = x.chunk(2, dim=1)
            return concat_shuffle(x1, self._branch2(x2))

        if self.with_cp and x.requires_grad:
            return cp.checkpoint(_inner_forward, x, use_reentrant=False)
        return _inner_forward(x)


@MODELS.register_module()
class ShuffleNetV2(BaseModule):
    """ShuffleNet V2 backbone, and ShuffleNet V2* with ``extra_dw=True``.

    Arguments, defaults and module names follow mmpretrain's ``ShuffleNetV2``, so configs and
    checkpoints of either work with the other. ``out_indices`` 0, 1, 2 select the outputs of
    stage2, stage3, stage4 (strides 8, 16, 32); 3 selects the final 1x1 conv ``layers[3]``
    (stride 32), which is built only when selected (like NanoDet's ``with_last_conv=False``),
    so a detector reading the stages carries no unused parameters. Its weights in a
    checkpoint are skipped then.

    ``frozen_stages`` differs from mmpretrain in one point: the stem's BN is put in eval mode
    too, so its running statistics stay fixed like those of the frozen stages.

    ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=None)`` loads torchvision,
    mmpretrain/mmcls, Megvii ShuffleNet-Series or this project's files strictly: see
    :func:`shufflenet_det.models.backbones.shufflenet_v2_checkpoint.load_shufflenet_v2_weights`.

    Args:
        widen_factor (float): Width multiplier, one of 0.5, 1.0, 1.5, 2.0. Default: 1.0.
        out_indices (Sequence[int]): Outputs to return, from 0 to 3; they are returned in
            increasing order. Default: (3, ).
        frozen_stages (int): Freeze the stem and the first ``frozen_stages`` entries of
            ``layers`` (parameters and BN statistics); -1 freezes nothing. Default: -1.
        conv_cfg (dict, optional): Config of the conv layers. Default: None.
        norm_cfg (dict): Config of the norm layers. Default: dict(type='BN').
        act_cfg (dict): Config of the activations. Default: dict(type='ReLU').
        norm_eval (bool): Keep all BN layers in eval mode while training. Default: False.
        with_cp (bool): Use activation checkpointing in the units. Default: False.
        init_cfg (dict or list[dict], optional): Initialization config. Default: None.
        extra_dw (bool): Build ShuffleNet V2*, with a 3x3 depthwise conv in front of the first
            pointwise conv of every unit's ``branch2``. Keyword only, after mmpretrain's
            arguments, so positional calls written for mmpretrain mean the same. Default: False.
    """

    def __init__(self,
                 widen_factor: float = 1.0,
                 out_indices: Sequence[int] = (3, ),
                 frozen_stages: int = -1,
                 conv_cfg: OptConfigType = None,
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg: OptMultiConfig = None,
                 *,
                 extra_dw: bool = False) -> None:
        super().__init__(init_cfg=init_cfg)
        if widen_factor not in ARCH_SETTINGS:
            raise ModelConfigError(f'ShuffleNetV2 widen_factor must be one of '
                                   f'{sorted(ARCH_SETTINGS)}, but got {widen_factor!r}')
        for index in out_indices:
            if index not in range(4):
                raise ModelConfigError('ShuffleNetV2 out_indices must be in range(0, 4), '
                                       f'but got {index!r}')
        if frozen_stages not in range(-1, 4):
            raise ModelConfigError('ShuffleNetV2 frozen_stages must be in range(-1, 4), '
                                   f'but got {frozen_stages!r}')
        self.widen_factor = widen_factor
        self.out_indices = tuple(sorted(set(out_indices)))  # the order forward returns them
        self.frozen_stages = frozen_stages
        self.extra_dw = extra_dw
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        channels = ARCH_SETTINGS[widen_factor]
        # Channels of each output index, for wiring necks: see ``out_channels``.
        self.arch_channels = channels

        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv1 = ConvModule(3, STEM_CHANNELS, 3, 2, 1, **common)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)

        self.layers = nn.ModuleList()
        in_channels = STEM_CHANNELS
        for stage_channels, num_blocks in zip(channels[:3], STAGE_BLOCKS):
            units = [
                InvertedResidual(
                    in_channels if i == 0 else stage_channels,
                    stage_channels,
                    stride=2 if i == 0 else 1,
                    extra_dw=extra_dw,
                    with_cp=with_cp,
                    **common) for i in range(num_blocks)
            ]
            self.layers.append(nn.Sequential(*units))
            in_channels = stage_channels
        if 3 in self.out_indices:  # conv5: only built when asked for, as detectors skip it
            self.layers.append(ConvModule(in_channels, channels[3], 1, **common))
        self._freeze_stages()  # before any optimizer or DDP wrapper sees the parameters

    @property
    def out_channels(self) -> List[int]:
        """Channels of the returned feature maps, in ``out_indices`` order."""
        return [self.arch_channels[i] for i in self.out_indices]

    def _freeze_stages(self) -> None:
        if self.frozen_stages >= 0:
            self.conv1.eval()
            for param in self.conv1.parameters():
                param.requires_grad = False
        for i in range(self.frozen_stages):
            layer = self.layers[i]
            layer.eval()
            for param in layer.parameters():
                param.requires_grad = False

    def init_weights(self) -> None:
        """Load ``init_cfg``'s pretrained weights strictly, or initialise from scratch."""
        init_cfgs = self.init_cfg if isinstance(self.init_cfg, list) else [self.init_cfg]
        pretrained = [cfg for cfg in init_cfgs if cfg and cfg.get('type') == 'Pretrained']
        if pretrained:
            # MMEngine's PretrainedInit loads with strict=False and only logs problems;
            # the backbone loads (and converts) its checkpoint itself and refuses any mismatch.
            if len(init_cfgs) > 1 or 'checkpoint' not in pretrained[0]:
                raise ValueError('ShuffleNetV2 takes a Pretrained init_cfg alone, as '
                                 "dict(type='Pretrained', checkpoint=PATH, prefix=None), "
                                 f'but got {self.init_cfg}')
            load_shufflenet_v2_weights(
                self,
                pretrained[0]['checkpoint'],
                prefix=pretrained[0].get('prefix'),
                map_location=pretrained[0].get('map_location', 'cpu'))
            self._is_init = True
            return
        super().init_weights()
        if self.init_cfg is not None:
            return
        for name, module in self.named_modules():
            if isinstance(module, nn.Conv2d):
                std = 0.01 if name.startswith('conv1') else 1.0 / module.weight.shape[1]
                normal_init(module, mean=0, std=std)
            elif isinstance(module, (_BatchNorm, nn.GroupNorm)):
                constant_init(module, val=1, bias=0.0001)
                if isinstance(module, _BatchNorm) and module.running_mean is not None:
                    nn.init.constant_(module.running_mean, 0)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Return the feature maps selected by ``out_indices``."""
        x = self.maxpool(self.conv1(x))
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def train(self, mode: bool = True) -> 'ShuffleNetV2':
        """Set train mode, keeping frozen stages (and all BN with ``norm_eval``) in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
