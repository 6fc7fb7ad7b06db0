# RetinaNet on ShuffleNetV2 1.0x + FPN (96 channels, P3-P7), 416x416, COCO 1x schedule.
# RetinaNet's published recipe (focal loss, 9 anchors per location, IoU 0.5/0.4 assignment);
# head slimmed for a light backbone: 2 convs of 96 channels per tower.
_base_ = [
    '_base_/models/retinanet_shufflenetv2_fpn.py', '_base_/datasets/coco_detection.py',
    '_base_/schedules/schedule_1x.py', '_base_/default_runtime.py'
]

optim_wrapper = dict(optimizer=dict(lr=0.01), clip_grad=dict(max_norm=35, norm_type=2))
