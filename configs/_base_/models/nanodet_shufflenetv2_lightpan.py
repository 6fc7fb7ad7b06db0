# NanoDet-m's network: ShuffleNetV2 1.0x (stages 2-4, LeakyReLU), LightPAN at 96 channels,
# NanoDetHead (2 depthwise-separable convs per level, one shared 1x1 cls/reg output), QFL + DFL +
# GIoU, ATSS, reg_max 7, strides 8/16/32, and NanoDet's test decoding. COCO's 80 classes.
model = dict(
    type='GFL',
    data_preprocessor=dict(
        type='BatchDetDataPreprocessor',  # fixed-size test batches normalised at once
        mean=[103.53, 116.28, 123.675],
        std=[57.375, 57.12, 58.395],
        bgr_to_rgb=False,
        pad_size_divisor=32),
    backbone=dict(
        type='ShuffleNetV2',
        widen_factor=1.0,
        out_indices=(0, 1, 2),
        act_cfg=dict(type='LeakyReLU', negative_slope=0.1)),
    neck=dict(type='LightPAN', in_channels=[116, 232, 464], out_channels=96),
    bbox_head=dict(
        type='NanoDetHead',
        num_classes=80,
        in_channels=96,
        feat_channels=96,
        stacked_convs=2,
        reg_max=7,
        anchor_generator=dict(
            type='AnchorGenerator',
            ratios=[1.0],
            octave_base_scale=5,
            scales_per_octave=1,
            center_offset=0.5,  # NanoDet-m's prior centres, (i + 0.5) * stride
            strides=[8, 16, 32]),
        loss_cls=dict(
            type='QualityFocalLoss', use_sigmoid=True, beta=2.0, loss_weight=1.0),
        loss_dfl=dict(type='DistributionFocalLoss', loss_weight=0.25),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0)),
    train_cfg=dict(
        assigner=dict(type='ATSSAssigner', topk=9), allowed_border=-1, pos_weight=-1,
        debug=False),
    test_cfg=dict(  # NanoDet's: no per-level top-k (nms_pre=-1), no minimum box size
        nms_pre=-1,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.6),
        max_per_img=100))
