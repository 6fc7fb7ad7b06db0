# NanoDet-Plus-m-1.5x at 320x320 (NanoDet's config/nanodet-plus-m-1.5x_320.yml; NanoDet
# published 29.9 COCO mAP for it): ShuffleNetV2 1.5x, GhostPAN and NanoDetPlusHead at 128
# channels, the auxiliary head at 256; otherwise nanodet-plus_shufflenetv2_ghostpan_320_coco.py.
_base_ = './nanodet-plus_shufflenetv2_ghostpan_320_coco.py'
model = dict(
    backbone=dict(widen_factor=1.5),
    neck=dict(in_channels=[176, 352, 704], out_channels=128),
    bbox_head=dict(in_channels=128, feat_channels=128),
    aux_head=dict(in_channels=256, feat_channels=256))
