"""The runtime's numpy preprocessing and decoding find the boxes of the config's own (the
oracle: ``DeployedDetector``, MMDetection's ``predict_by_feat`` behind the same network), for
every head the project exports."""
import cv2
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.dataset import pseudo_collate

from shufflenet_det.apis.onnx_export import export_described_onnx
from shufflenet_det.deployment import DeployedDetector
from shufflenet_det.models.dense_heads import YOLOv8Head
from shufflenet_det.utils.run_config import build_detector, config_classes
from shufflenet_det_runtime import Detector
from shufflenet_det_runtime.decoding import float32_key, logit_cut, sigmoid
from shufflenet_det_runtime.network_loading import load_network
from tests.deployed_parity import detector_with_spread_scores
from tests.test_tools.tool_runner import REPO

SIZE = 160  # the test resize of every config, small for speed
IMAGES = [(200, 150), (150, 200), (160, 160)]  # width, height: both aspects and a square
# Squares for the YOLOv8 config: the 300 boxes it keeps reach into the uniform padding of the
# others, whose cells score exactly alike, and NMS keeps one of such a row by the order of
# torch.sort, which is not stable. On squares, two overlapping boxes of one class may still
# score alike or within a float32 step of each other (0.68938357 and 0.68938363 in torch, both
# 0.6893836 in numpy): each NMS then keeps the one it takes first and drops the other, and the
# boxes after it may differ. So for YOLOv8 an image's list may differ from the oracle's only
# from such a swap on (same class, scores within 1e-6, IoU above NMS's threshold), and 99% of
# all boxes must still match: on these six squares 5 of the 1,800 boxes differ (2026-12-07).
SQUARES = [(240, 240), (100, 100), (180, 180), (320, 320), (64, 64), (500, 500)]


def config_at_test_size(path: str) -> tuple:
    """The config of ``path`` resizing to ``SIZE``, and its test pipeline without annotations."""
    cfg, _ = build_detector(path)
    pipeline = [t for t in cfg.test_dataloader.dataset.pipeline if t['type'] != 'LoadAnnotations']
    for transform in pipeline:
        if transform['type'] == 'Resize':
            transform['scale'] = (SIZE, SIZE)
    cfg.test_dataloader.dataset.pipeline = pipeline
    return cfg, pipeline


def box_iou(one: np.ndarray, other: np.ndarray) -> float:
    """IoU of two x1, y1, x2, y2 boxes of positive area."""
    sides = np.minimum(one[2:], other[2:]) - np.maximum(one[:2], other[:2])
    inter = np.prod(np.maximum(sides, 0))
    return float(inter / (np.prod(one[2:] - one[:2]) + np.prod(other[2:] - other[:2]) - inter))


@pytest.mark.parametrize('config', [
    'nanodet_shufflenetv2_lightpan_320_coco.py',  # gfl, priors at (i + 0.5) * stride
    'nanodet-plus_shufflenetv2_ghostpan_320_coco.py',  # gfl, four levels, priors at i * stride
    'fcos_shufflenetv2_coco.py',  # fcos, keep_ratio, centerness, nms_pre 1000
    'retinanet_shufflenetv2_fpn_1x_coco.py',  # anchor deltas, nine anchors per cell
    'yolov8_shufflenetv2_320_coco.py',  # gfl of 16 bins, keep_ratio, clipped after NMS
])
def test_the_same_boxes_as_the_configs_own_decoding(config, tmp_path):
    images, unmatched = (SQUARES, 0.01) if config.startswith('yolov8') else (IMAGES, 0)
    path = str(REPO / 'configs' / config)
    cfg, pipeline = config_at_test_size(path)
    model = detector_with_spread_scores(path)  # score threshold 0: 100 boxes an image
    if isinstance(model.bbox_head, YOLOv8Head):
        # its 300 best of 32,000 untrained scores lie within 1e-6 of each other otherwise
        for branch in model.bbox_head.cls_branches:
            branch[-1].weight.data *= 10
    onnx = tmp_path / 'model.onnx'
    with torch.no_grad():
        export_described_onnx(cfg, model, str(onnx), (SIZE, SIZE), config_classes(cfg))
    oracle = DeployedDetector(load_network(str(onnx), threads=1), model).eval()
    runtime = Detector(str(onnx), threads=1)
    transforms = Compose(pipeline)
    iou_threshold = cfg.model.test_cfg.nms.iou_threshold

    compared = matched = 0
    for seed, (width, height) in enumerate(images):
        image_path = tmp_path / f'{seed}.jpg'
        image = np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)
        cv2.imwrite(str(image_path), image)
        with torch.no_grad():
            ref = oracle.test_step(pseudo_collate([transforms(dict(img_path=str(image_path),
                                                                   img_id=seed))]))[0]
        ref = ref.pred_instances
        found = runtime(cv2.imread(str(image_path)))
        assert len(found) == len(ref)
        assert (found.boxes.dtype, found.scores.dtype, found.labels.dtype) == (
            np.float32, np.float32, np.int64) and found.boxes.flags['C_CONTIGUOUS']
        boxes, labels, scores = ref.bboxes.numpy(), ref.labels.numpy(), ref.scores.numpy()
        same = ((np.abs(found.boxes[:, None] - boxes[None]).max(-1) <= 0.5)
                & (found.labels[:, None] == labels[None])
                & (np.abs(found.scores[:, None] - scores[None]) <= 1e-4))
        compared += len(found)
        matched += int(same.any(1).sum())
        only_found, only_ref = np.flatnonzero(~same.any(1)), np.flatnonzero(~same.any(0))
        if unmatched and len(only_found):  # the best of each list's own: a near-tie swap
            assert len(only_ref), f'runtime boxes {only_found}: no oracle box left to match'
            one, other = only_found[0], only_ref[0]
            assert found.labels[one] == labels[other], (one, other)
            assert abs(found.scores[one] - scores[other]) <= 1e-6, (one, other)
            assert box_iou(found.boxes[one], boxes[other]) > iou_threshold, (one, other)
    # every box (YOLOv8: 99%), within 0.5 px and 1e-4 of score, with its label
    assert compared >= 100 and compared - matched <= unmatched * compared, (matched, compared)


def test_no_box_from_scores_that_are_zero_at_a_threshold_of_zero(tmp_path):
    """At ``score_thr`` 0 MMDetection keeps the scores above 0. A logit below -88.72 has a
    float32 sigmoid of exactly 0 (in torch as in numpy), so a head whose class logits all lie
    below it gives no box, in the runtime as in the oracle."""
    path = str(REPO / 'configs/nanodet_shufflenetv2_lightpan_320_coco.py')
    cfg, _ = config_at_test_size(path)
    model = detector_with_spread_scores(path)
    classes = model.bbox_head.num_classes
    for conv in model.bbox_head.out_convs:
        conv.bias.data[:classes] -= 1000  # every class logit far below -88.72
    onnx = tmp_path / 'model.onnx'
    with torch.no_grad():
        export_described_onnx(cfg, model, str(onnx), (SIZE, SIZE), config_classes(cfg))
    image = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), np.uint8)
    runtime = Detector(str(onnx), threads=1)
    outputs = runtime.infer(runtime.prepare(image))
    assert runtime.info.groups == ('cls_score', 'bbox_pred')
    levels = len(outputs) // 2
    assert max(out.max() for out in outputs[:levels]) < -88.73  # every class logit
    metas = dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE), scale_factor=(1.0, 1.0))
    with torch.no_grad():
        ref = model.bbox_head.predict_by_feat(
            *[[torch.from_numpy(out) for out in group]
              for group in (outputs[:levels], outputs[levels:])],
            batch_img_metas=[metas], rescale=False)[0]
    assert len(ref) == 0
    assert len(runtime(image)) == 0


@pytest.mark.parametrize('score_thr', [-0.1, 0.0, 0.001, 0.05, 0.3, 0.5, 0.999, 1.0])
def test_a_logit_is_above_the_cut_exactly_when_its_score_is_above_the_threshold(score_thr):
    """Checked on the 6,000 float32 numbers around the cut and on logits far from it: also at
    0.5, where the logits up to 1.2e-7 score exactly 0.5, and at 0, where those below -88.72
    score exactly 0."""
    cut = logit_cut(score_thr)
    keys = float32_key(cut if np.isfinite(cut) else np.float32(0)) + np.arange(-3000, 3000)
    bits = np.where(keys >= 0, keys, -keys | np.int64(-2 ** 31)).astype(np.int32)
    logits = np.concatenate([bits.view(np.float32), np.float32([-1e30, -100, 0, 1e-7, 100]),
                             np.random.default_rng(0).normal(0, 10, 1000).astype(np.float32)])
    above = sigmoid(logits) > np.float32(score_thr)
    np.testing.assert_array_equal(logits > cut, above)
    assert above.any() == (score_thr < 1) and (~above).any() == (score_thr >= 0)
