# ShuffleNetV2 1.0x as the backbone of a YOLOv8n-style detector (the neck and Detect head of
# Ultralytics' yolov8.yaml at the n scale; see _base_/models/yolov8_shufflenetv2.py), at 640x640.
# YOLOv8's COCO recipe in MMDetection's terms: 500 epochs from scratch (as the released YOLOv8
# detectors were trained), mosaic, random affine (scale 0.5-1.5, translation 0.1), HSV jitter and
# flips, mosaic off for the last 10 epochs; SGD with Nesterov momentum 0.937, 3 warm-up epochs,
# linear decay to 1%; an EMA of the weights and BN statistics (decay 0.9999, warm-up 2000);
# a total batch of 64 (4 GPUs x 16; --auto-scale-lr rescales for yours).
# Ultralytics states its learning rate (0.01), weight decay (5e-4 on conv weights) and gradient
# clipping (norm 10) for a loss it multiplies by the batch and sums over the 64 images of a step;
# MMDetection averages over the batch, so the same step is lr 0.64, weight decay 5e-4 / 64 and a
# clipping norm of 10 / 64 here.
# Differences from Ultralytics' pipeline: MMDetection's CachedMosaic (a cache of 40 recent
# images; each loader worker passes its first 4 images on alone, and the crop sized for a
# mosaic leaves them without boxes: 4 negatives a worker process, in 500 epochs), its additive
# YOLOXHSVRandomAug (Ultralytics multiplies hue, saturation and value by random gains) and
# images padded at the bottom right (Ultralytics centres them); no warm-up of the momentum
# (0.8 -> 0.937) or of the biases' learning rate.
_base_ = [
    '_base_/models/yolov8_shufflenetv2.py',
    '_base_/datasets/coco_detection.py',
    '_base_/schedules/schedule_1x.py',
    '_base_/default_runtime.py',
]
img_scale = (640, 640)
max_epochs = 500
close_mosaic_epochs = 10

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='CachedMosaic', img_scale=img_scale, pad_val=114.0),
    dict(type='RandomAffine', max_rotate_degree=0, max_shear_degree=0,
         scaling_ratio_range=(0.5, 1.5), max_translate_ratio=0.1,
         border=(-img_scale[0] // 2, -img_scale[1] // 2), border_val=(114, 114, 114)),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
    dict(type='PackDetInputs')
]
train_pipeline_without_mosaic = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='Pad', size=img_scale, pad_val=dict(img=(114, 114, 114))),
    dict(type='RandomAffine', max_rotate_degree=0, max_shear_degree=0,
         scaling_ratio_range=(0.5, 1.5), max_translate_ratio=0.1, border_val=(114, 114, 114)),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(batch_size=16, num_workers=4, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_epochs=max_epochs, val_interval=10,
                 dynamic_intervals=[(max_epochs - close_mosaic_epochs, 1)])
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.01, by_epoch=True, begin=0,
         end=max_epochs)
]
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.64, momentum=0.937, nesterov=True,
                   weight_decay=0.0005 / 64),
    paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0),
    clip_grad=dict(max_norm=10 / 64, norm_type=2))
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=3, save_best='auto'))
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001, gamma=2000,
         update_buffers=True, priority=49),
    dict(type='PipelineSwitchHook', switch_epoch=max_epochs - close_mosaic_epochs,
         switch_pipeline=train_pipeline_without_mosaic),
    # load_from a detector of other classes: class scores matched by name before the EMA copy
    # takes the loaded weights
    dict(type='ClassTransferHook', priority=48),
]
auto_scale_lr = dict(enable=False, base_batch_size=64)
