# NanoDet-Plus-m at 320x320 (NanoDet's config/nanodet-plus-m_320.yml; NanoDet published 27.0 COCO
# mAP for it): ShuffleNetV2 1.0x, GhostPAN, NanoDetPlusHead at strides 8-64, trained with assign
# guidance from an auxiliary head (see _base_/models/nanodet-plus_shufflenetv2_ghostpan.py).
# NanoDet-Plus's recipe: AdamW lr 1e-3 and weight decay 0.05 at batch 96 (--auto-scale-lr
# rescales for your total batch), linear warm-up over 500 iterations from 1e-4 of it, cosine
# decay to 5e-5 over 300 epochs, gradient clipping at 35, and an EMA of the weights (NanoDet's
# decay 0.9998 ramped up over ~2000 iterations: MMDetection's ExpMomentumEMA, buffers too),
# which validation uses and each checkpoint's state_dict holds (MMEngine's EMAHook keeps the
# raw weights in ema_state_dict).
# Differences from NanoDet's own pipeline, as in the NanoDet-m configs: MMCV's resize instead of
# NanoDet's warpPerspective, images stretched to 320x320, and MMDetection's augmentation
# (RandomAffine, which scales about the top-left corner where NanoDet scales about the centre,
# with NanoDet's x/y stretch added by StretchedRandomAffine; PhotoMetricDistortion).
_base_ = [
    '_base_/models/nanodet-plus_shufflenetv2_ghostpan.py',
    '_base_/datasets/coco_detection_nanodet_320.py',
    '_base_/schedules/schedule_1x.py',
    '_base_/default_runtime.py',
]

# NanoDet-Plus's augmentation: NanoDet-m's (_base_/datasets/coco_detection_nanodet_320.py)
# plus its separate x and y stretch of 0.8-1.2.
img_scale = (320, 320)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='StretchedRandomAffine', stretch_range=((0.8, 1.2), (0.8, 1.2)),
         max_rotate_degree=0, max_shear_degree=0, scaling_ratio_range=(0.6, 1.4),
         max_translate_ratio=0.2, border=(0, 0)),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='PhotoMetricDistortion', brightness_delta=32, contrast_range=(0.6, 1.4),
         saturation_range=(0.5, 1.2), hue_delta=0),
    dict(type='RandomFlip', prob=0.5),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
    dict(type='PackDetInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

max_epochs = 300
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', eta_min=5e-5, begin=0, end=max_epochs, T_max=max_epochs,
         by_epoch=True, convert_to_iter_based=True)
]
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=35, norm_type=2))
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3))
# load_from a detector of other classes (a converted COCO NanoDet-Plus, say): both heads' class
# scores matched by name, before the EMA copy takes the loaded weights.
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002, gamma=2000,
         update_buffers=True, priority=49),
    dict(type='ClassTransferHook', priority=48)
]
auto_scale_lr = dict(enable=False, base_batch_size=96)
