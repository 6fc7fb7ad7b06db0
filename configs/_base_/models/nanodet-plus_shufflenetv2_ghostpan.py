# NanoDet-Plus-m's network: ShuffleNetV2 1.0x (stages 2-4, LeakyReLU), GhostPAN at 96 channels
# with a stride-64 extra level, NanoDetPlusHead (2 depthwise-separable 5x5 convs per level, one
# shared 1x1 cls/reg output), QFL + DFL + GIoU, reg_max 7, strides 8/16/32/64, priors at
# i * stride, and NanoDet's test decoding. Training only: a copy of the neck and the auxiliary
# SimpleConvHead (4 convs of 192 channels, GN) whose predictions assign the targets with
# dynamic soft labels. COCO's 80 classes.
norm_cfg = dict(type='BN')
act_cfg = dict(type='LeakyReLU', negative_slope=0.1)
priors = dict(
    type='AnchorGenerator',
    ratios=[1.0],
    octave_base_scale=5,
    scales_per_octave=1,
    center_offset=0.0,  # NanoDet-Plus's prior centres, i * stride
    strides=[8, 16, 32, 64])
model = dict(
    type='NanoDetPlus',
    detach_epoch=10,
    data_preprocessor=dict(
        type='BatchDetDataPreprocessor',
        mean=[103.53, 116.28, 123.675],
        std=[57.375, 57.12, 58.395],
        bgr_to_rgb=False,
        pad_size_divisor=32),  # GhostPAN doubles each level into the next: sides of 32k
    backbone=dict(
        type='ShuffleNetV2', widen_factor=1.0, out_indices=(0, 1, 2), act_cfg=act_cfg),
    neck=dict(
        type='GhostPAN',
        in_channels=[116, 232, 464],
        out_channels=96,
        kernel_size=5,
        num_extra_levels=1,
        norm_cfg=norm_cfg,
        act_cfg=act_cfg),
    bbox_head=dict(
        type='NanoDetPlusHead',
        num_classes=80,
        in_channels=96,
        feat_channels=96,
        stacked_convs=2,
        kernel_size=5,
        reg_max=7,
        norm_cfg=norm_cfg,
        act_cfg=act_cfg,
        anchor_generator=priors,
        loss_cls=dict(
            type='QualityFocalLoss', use_sigmoid=True, beta=2.0, loss_weight=1.0),
        loss_dfl=dict(type='DistributionFocalLoss', loss_weight=0.25),
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0)),
    aux_head=dict(
        type='SimpleConvHead',
        num_classes=80,
        in_channels=192,
        feat_channels=192,
        stacked_convs=4,
        reg_max=7,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        act_cfg=act_cfg,
        anchor_generator=priors,
        loss_cls=dict(type='QualityFocalLoss', use_sigmoid=True, beta=2.0, loss_weight=1.0)),
    # NanoDet's cost: MMDetection's assigner adds 10 ** (distance / stride - radius), which a
    # radius of 1e4 makes exactly 0.0 for any distance on an image.
    train_cfg=dict(
        assigner=dict(
            type='DynamicSoftLabelAssigner', topk=13, iou_weight=3.0,
            soft_center_radius=1e4)),
    test_cfg=dict(  # NanoDet's: no per-level top-k (nms_pre=-1), no minimum box size
        nms_pre=-1,
        score_thr=0.05,
        nms=dict(type='nms', iou_threshold=0.6),
        max_per_img=100))
