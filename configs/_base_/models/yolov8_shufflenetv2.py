# ShuffleNetV2 1.0x (stages 2-4: P3, P4, P5 of 116, 232, 464 channels) in place of YOLOv8's
# CSPDarknet: YOLOv8n's neck (the "head" section of Ultralytics' yolov8.yaml at the n scale:
# nearest x2 upsample, concat, C2f without shortcut, 3x3 stride-2 conv downsamples; 64, 128, 256
# channels, one bottleneck per C2f) and its Detect head (a box and a class branch per level,
# reg_max 16 bins with DFL, strides 8/16/32, points at the cell centres). Trained as YOLOv8:
# task-aligned assignment (top-k 10, alpha 0.5, beta 6), BCE, CIoU and DFL at 0.5 / 7.5 / 1.5.
# Decoded as YOLOv8 validates: scores above 0.001, class-wise NMS at IoU 0.7, 300 boxes, boxes
# clipped to the image after NMS. COCO's 80 classes; images RGB in [0, 1], padded with 114.
# Where this differs from Ultralytics: MMDetection keeps at most nms_pre candidates per level
# before NMS, Ultralytics 30000 per image (the same boxes whenever an image has fewer than
# 30000 candidates above 0.001).
model = dict(
    type='SingleStageDetector',
    data_preprocessor=dict(
        type='BatchDetDataPreprocessor',
        mean=[0., 0., 0.],
        std=[255., 255., 255.],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        pad_value=114 / 255),  # padding comes after the normalisation
    backbone=dict(type='ShuffleNetV2', widen_factor=1.0, out_indices=(0, 1, 2)),
    neck=dict(type='YOLOv8PAFPN', in_channels=[116, 232, 464], widen_factor=0.25,
              deepen_factor=0.33),
    bbox_head=dict(
        type='YOLOv8Head',
        num_classes=80,
        in_channels=[64, 128, 256],
        reg_max=16,
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=0.5),
        loss_bbox=dict(type='YOLOv8CIoULoss', loss_weight=7.5),
        loss_dfl=dict(type='DistributionFocalLoss', loss_weight=1.5)),
    train_cfg=dict(
        assigner=dict(type='YOLOv8TaskAlignedAssigner', topk=10, alpha=0.5, beta=6.0)),
    test_cfg=dict(
        nms_pre=30000,
        score_thr=0.001,
        nms=dict(type='nms', iou_threshold=0.7),
        max_per_img=300))
