# RetinaNet on ShuffleNetV2* 1.0x; otherwise as retinanet_shufflenetv2_fpn_1x_coco.py.
_base_ = './retinanet_shufflenetv2_fpn_1x_coco.py'
model = dict(backbone=dict(extra_dw=True))
