# NanoDet-Plus-m at 416x416 (NanoDet's config/nanodet-plus-m_416.yml; NanoDet published 30.4
# COCO mAP for it): the network and recipe of nanodet-plus_shufflenetv2_ghostpan_320_coco.py.
_base_ = './nanodet-plus_shufflenetv2_ghostpan_320_coco.py'
img_scale = (416, 416)

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
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
