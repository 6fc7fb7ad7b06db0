# NanoDet-m-0.5x: ShuffleNetV2 0.5x, LightPAN and NanoDetHead at 96 channels (NanoDet's
# config/legacy_v0.x_configs/nanodet-m-0.5x.yml); otherwise nanodet_shufflenetv2_lightpan_320.
_base_ = './nanodet_shufflenetv2_lightpan_320_coco.py'
model = dict(backbone=dict(widen_factor=0.5), neck=dict(in_channels=[48, 96, 192]))
