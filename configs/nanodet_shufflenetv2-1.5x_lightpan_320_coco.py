# NanoDet-m-1.5x: ShuffleNetV2 1.5x, LightPAN and NanoDetHead at 128 channels (NanoDet's
# config/legacy_v0.x_configs/nanodet-m-1.5x.yml); otherwise nanodet_shufflenetv2_lightpan_320.
_base_ = './nanodet_shufflenetv2_lightpan_320_coco.py'
model = dict(
    backbone=dict(widen_factor=1.5),
    neck=dict(in_channels=[176, 352, 704], out_channels=128),
    bbox_head=dict(in_channels=128, feat_channels=128))
