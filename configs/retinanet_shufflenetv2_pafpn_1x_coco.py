# RetinaNet on ShuffleNetV2 1.0x with MMDetection's PAFPN (an extra bottom-up path);
# otherwise as retinanet_shufflenetv2_fpn_1x_coco.py.
_base_ = './retinanet_shufflenetv2_fpn_1x_coco.py'
model = dict(neck=dict(type='PAFPN'))
