# The YOLOv8n-style detector on ShuffleNetV2 1.0x (yolov8_shufflenetv2_640_coco.py) at 320x320,
# the NanoDet configs' size: the same network, recipe and pipelines at half the scale.
_base_ = './yolov8_shufflenetv2_640_coco.py'
img_scale = (320, 320)

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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001, gamma=2000,
         update_buffers=True, priority=49),
    dict(type='PipelineSwitchHook', switch_epoch=490,  # the base's max_epochs - 10
         switch_pipeline=train_pipeline_without_mosaic),
    dict(type='ClassTransferHook', priority=48),
]
