# FCOS on ShuffleNetV2 1.0x + FPN (96 channels, P3-P7), the "tricks" recipe (GIoU, center
# sampling, centerness on the regression branch, normalised box targets); head slimmed for a
# light backbone: 2 GN convs of 96 channels. COCO's 80 classes.
model = dict(
    type='FCOS',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        type='ShuffleNetV2',
        widen_factor=1.0,
        out_indices=(0, 1, 2),
        norm_cfg=dict(type='BN', requires_grad=True),
        # ImageNet weights in any public layout, e.g.
        # init_cfg=dict(type='Pretrained', checkpoint='shufflenetv2_x1.pth'),
        init_cfg=None),
    neck=dict(
        type='FPN',
        in_channels=[116, 232, 464],
        out_channels=96,
        start_level=0,
        add_extra_convs='on_output',
        num_outs=5,
        relu_before_extra_convs=True),
    bbox_head=dict(
        type='FCOSHead',
        num_classes=80,
        in_channels=96,
        stacked_convs=2,
        feat_channels=96,
        strides=[8, 16, 32, 64, 128],
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        norm_on_bbox=True,
        centerness_on_reg=True,
        center_sampling=True,
        conv_bias=True,
        loss_cls=dict(
            type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    test_cfg=dict(
        nms_pre=1000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.6),
        max_per_img=100))
