# NanoDet-m with ShuffleNetV2* 1.0x (extra 3x3 depthwise conv in every unit).
_base_ = './nanodet_shufflenetv2_lightpan_320_coco.py'
model = dict(backbone=dict(extra_dw=True))
