# FCOS on ShuffleNetV2 1.0x + FPN (96 channels), 416x416, COCO 1x schedule.
# FCOS "tricks" recipe (GIoU, center sampling, centerness on the regression branch,
# normalised box targets); head slimmed for a light backbone: 2 GN convs of 96 channels.
_base_ = [
    '_base_/models/fcos_shufflenetv2_fpn.py', '_base_/datasets/coco_detection.py',
    '_base_/schedules/schedule_1x.py', '_base_/default_runtime.py'
]

# Optimizer of MMDetection's plain FCOS config (lr 0.01, bias lr x2, no bias decay, gradient
# clipping at 35) with the 1x schedule's warm-up from 0.001. The "tricks" config drops the
# clipping and warms up from 1/3; both safeguards stay here, as the backbone starts from scratch
# unless ImageNet weights are given.
optim_wrapper = dict(
    optimizer=dict(lr=0.01),
    paramwise_cfg=dict(bias_lr_mult=2., bias_decay_mult=0.),
    clip_grad=dict(max_norm=35, norm_type=2))
