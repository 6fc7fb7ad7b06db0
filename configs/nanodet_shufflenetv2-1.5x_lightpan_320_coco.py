# NanoDet-m's recipe on ShuffleNetV2 1.5x.
_base_ = './nanodet_shufflenetv2_lightpan_320_coco.py'
model = dict(backbone=dict(widen_factor=1.5), neck=dict(in_channels=[176, 352, 704]))
