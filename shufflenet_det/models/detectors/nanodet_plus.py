"""NanoDet-Plus: a one-stage detector trained with assign guidance from an auxiliary head."""
from typing import Dict

import torch
from mmengine.logging import MessageHub
from torch import Tensor

from mmdet.models.detectors import SingleStageDetector
from mmdet.models.utils import unpack_gt_instances
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig


@MODELS.register_module()
class NanoDetPlus(SingleStageDetector):
    """``SingleStageDetector`` with NanoDet-Plus's assign guidance in training.

    Beside the neck and head, training runs a second neck (``aux_neck``, built from the same
    config) and an auxiliary head (``aux_head``, NanoDet's ``SimpleConvHead``) on the
    concatenation of both necks' outputs. The auxiliary head's predictions assign the targets
    of both heads (``NanoDetPlusHead.loss_by_feat``), and both are trained. From epoch
    ``detach_epoch`` on, the auxiliary branch no longer sends gradients into the backbone and
    the neck. Inference, export and the FLOPs counter (``_forward``, ``predict``) use only the
    backbone, neck and head.

    Args:
        backbone (dict): Backbone config.
        neck (dict): Neck config; the auxiliary neck is built from it too.
        bbox_head (dict): Head config (``NanoDetPlusHead``).
        aux_head (dict): Auxiliary head config (``SimpleConvHead``), whose ``in_channels``
            are twice the neck's.
        detach_epoch (int): The first (0-based) epoch in which the auxiliary branch is
            detached, read from MMEngine's message hub (an ``IterBasedTrainLoop`` stays at
            epoch 0, so it never detaches). Default: 10.
        train_cfg (dict, optional): Training config of the head. Default: None.
        test_cfg (dict, optional): Testing config of the head. Default: None.
        data_preprocessor (dict, optional): Data preprocessor config. Default: None.
        init_cfg (dict or list[dict], optional): Initialization config. Default: None.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 bbox_head: ConfigType,
                 aux_head: ConfigType,
                 detach_epoch: int = 10,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(backbone=backbone, neck=neck, bbox_head=bbox_head,
                         train_cfg=train_cfg, test_cfg=test_cfg,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.aux_neck = MODELS.build(neck)
        self.aux_head = MODELS.build(aux_head)
        self.detach_epoch = detach_epoch

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Losses of the head and of the auxiliary head, both assigned by the latter.

        Args:
            batch_inputs (Tensor): Images, (N, C, H, W).
            batch_data_samples (list[DetDataSample]): Their annotations.

        Returns:
            dict[str, Tensor]: The head's losses and the auxiliary head's (``aux_*``).
        """
        features = self.backbone(batch_inputs)
        neck_features = self.neck(features)
        detach = MessageHub.get_current_instance().get_info('epoch', 0) >= self.detach_epoch
        aux_features = self.aux_neck([f.detach() for f in features] if detach else features)
        dual_features = [torch.cat([n.detach() if detach else n, a], 1)
                         for n, a in zip(neck_features, aux_features)]
        batch_gt_instances, batch_gt_instances_ignore, batch_img_metas = \
            unpack_gt_instances(batch_data_samples)
        return self.bbox_head.loss_by_feat(
            *self.bbox_head(neck_features), batch_gt_instances, batch_img_metas,
            batch_gt_instances_ignore, guide=self.aux_head(dual_features))
