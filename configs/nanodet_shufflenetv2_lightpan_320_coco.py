# NanoDet-m: ShuffleNetV2 1.0x (stages 2-4, LeakyReLU), LightPAN at 96 channels, NanoDetHead
# (2 depthwise-separable convs per level, one shared 1x1 cls/reg output), QFL + DFL + GIoU, ATSS,
# reg_max 7, strides 8/16/32, 320x320. It computes what NanoDet-m computes: NanoDet's released
# weights convert exactly (tools/model_converters/nanodet_to_mmdet.py), priors sit at NanoDet's
# centres (i + 0.5) * stride, and the test decoding is NanoDet's: every location's box
# distribution integrated, distances times stride, boxes clamped to the input, sigmoid scores
# above 0.05, class-wise NMS at IoU 0.6, 100 boxes (no per-level top-k, no minimum box size).
# NanoDet-m's schedule: SGD with lr 0.14 at batch 192 (here 0.07 at batch 96; --auto-scale-lr
# rescales for your total batch), 280 epochs, steps at 240/260/275.
# Differences from NanoDet's own pipeline (measured in docs/detectors.md, "Differences from
# NanoDet's own pipeline"):
# - test images are resized with cv2.resize (MMCV's Resize, half-pixel centres), where NanoDet
#   warps them with cv2.warpPerspective;
# - images are stretched to 320x320 (keep_ratio=False), like NanoDet's demo and deployed
#   models; NanoDet's own COCO evaluation (keep_ratio: True) fits them into 320x320 instead;
# - training augmentation is MMDetection's (RandomAffine, PhotoMetricDistortion), not NanoDet's
#   warp pipeline.
_base_ = [
    '_base_/models/nanodet_shufflenetv2_lightpan.py',
    '_base_/datasets/coco_detection_nanodet_320.py',
    '_base_/schedules/schedule_1x.py',
    '_base_/default_runtime.py',
]

max_epochs = 280
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=300),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True,
         milestones=[240, 260, 275], gamma=0.1)
]
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.07, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=35, norm_type=2))
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
# load_from a detector of other classes (a converted COCO NanoDet-m, say): class scores matched
# by name, box distributions kept.
custom_hooks = [dict(type='ClassTransferHook')]
auto_scale_lr = dict(enable=False, base_batch_size=96)
