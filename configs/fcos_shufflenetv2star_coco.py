# FCOS on ShuffleNetV2* 1.0x (extra 3x3 depthwise conv in every unit); otherwise as
# fcos_shufflenetv2_coco.py.
_base_ = './fcos_shufflenetv2_coco.py'
model = dict(backbone=dict(extra_dw=True))
