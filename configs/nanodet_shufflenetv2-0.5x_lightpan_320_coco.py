# NanoDet-m's recipe on ShuffleNetV2 0.5x.
_base_ = './nanodet_shufflenetv2_lightpan_320_coco.py'
model = dict(backbone=dict(widen_factor=0.5), neck=dict(in_channels=[48, 96, 192]))
