# The YOLOv8n-style detector at 320x320 (yolov8_shufflenetv2_320_coco.py) on ShuffleNetV2 1.5x:
# stage outputs of 176, 352 and 704 channels into the same YOLOv8n neck and head.
_base_ = './yolov8_shufflenetv2_320_coco.py'
model = dict(
    backbone=dict(widen_factor=1.5),
    neck=dict(in_channels=[176, 352, 704]))
