"""CheckedCocoMetric with the options MMDetection's CocoMetric documents, on real predictions:
each gives the metrics it names."""
import json
import re

import pytest
import torch
from mmdet.evaluation import CocoMetric
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from shufflenet_det.errors import ConfigError
from shufflenet_det.evaluation import CheckedCocoMetric
from tests.test_tools.tool_runner import REPO, run_tool

CLASSES = ('a', 'b')
# One 20x20 box of each class in each of 3 images; class 'b' is predicted 4 pixels off, an IoU
# of 320 / 480 = 0.67: found at the IoU thresholds 0.5 to 0.65, missed from 0.7 on.
OFFSET = {'a': 0, 'b': 4}
BOXES = {'a': [8, 8, 20, 20], 'b': [36, 30, 20, 20]}  # x, y, w, h


def write_annotations(tmp_path) -> str:
    images = [dict(id=i, file_name=f'{i}.jpg', width=64, height=64) for i in (1, 2, 3)]
    annotations = [dict(id=len(CLASSES) * (i - 1) + c + 1, image_id=i, category_id=c + 1,
                        bbox=BOXES[name], area=400, iscrowd=0)
                   for i in (1, 2, 3) for c, name in enumerate(CLASSES)]
    categories = [dict(id=c + 1, name=name) for c, name in enumerate(CLASSES)]
    path = tmp_path / 'val.json'
    path.write_text(json.dumps(dict(images=images, annotations=annotations,
                                    categories=categories)))
    return str(path)


def predictions() -> list:
    samples = []
    for image_id in (1, 2, 3):
        boxes = [[x + OFFSET[name], y, x + OFFSET[name] + w, y + h]
                 for name, (x, y, w, h) in BOXES.items()]
        sample = DetDataSample(metainfo=dict(img_id=image_id, ori_shape=(64, 64)))
        sample.pred_instances = InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32),
                                             labels=torch.tensor([0, 1]),
                                             scores=torch.tensor([0.9, 0.8]))
        samples.append(sample.to_dict())
    return samples


def evaluate(metric: CocoMetric) -> dict:
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, predictions())
    return metric.evaluate(3)


@pytest.mark.parametrize('iou_thrs', [[0.5, 0.75], (0.5, 0.75)])
def test_iou_thrs_written_in_a_config_are_used(tmp_path, iou_thrs):
    results = evaluate(CheckedCocoMetric(ann_file=write_annotations(tmp_path),
                                         iou_thrs=iou_thrs))
    # 'a' is found at both thresholds, 'b' at 0.5 only: AP over {0.5, 0.75} is 3/4
    assert results['coco/bbox_mAP'] == 0.75
    assert results['coco/bbox_mAP_50'] == 1.0
    assert results['coco/bbox_mAP_75'] == 0.5


def test_one_iou_threshold_as_a_number(tmp_path):
    results = evaluate(CheckedCocoMetric(ann_file=write_annotations(tmp_path), iou_thrs=0.7,
                                         metric_items=['mAP', 'AR@100']))
    assert results == {'coco/bbox_mAP': 0.5, 'coco/bbox_AR@100': 0.5}


def test_mmdetection_coco_metric_fails_on_such_iou_thrs_after_evaluating(tmp_path):
    """Why the tools refuse ``iou_thrs`` with ``CocoMetric``: pycocotools' summary looks a
    threshold up with ``np.where(0.5 == p.iouThrs)``; on a list that is ``np.where(False)``,
    which numpy >= 2.1 refuses."""
    metric = CocoMetric(ann_file=write_annotations(tmp_path), iou_thrs=[0.5, 0.75])
    with pytest.raises(ValueError, match='Calling nonzero on 0d arrays is not allowed'):
        evaluate(metric)


def test_classwise_gives_each_class_its_ap(tmp_path):
    results = evaluate(CheckedCocoMetric(ann_file=write_annotations(tmp_path),
                                         classwise=True))
    assert results['coco/a_precision'] == 1.0
    assert results['coco/b_precision'] == 0.4  # found at 4 of the 10 thresholds 0.5:0.95
    assert results['coco/bbox_mAP'] == 0.7


def test_metric_items_pick_the_items(tmp_path):
    results = evaluate(CheckedCocoMetric(ann_file=write_annotations(tmp_path),
                                         metric_items=['mAP_50', 'mAP_s', 'AR@300']))
    assert results == {'coco/bbox_mAP_50': 1.0, 'coco/bbox_mAP_s': 0.7,
                       'coco/bbox_AR@300': 0.7}


@pytest.mark.parametrize('items, message', [
    (['mAP', 'AP50'], "metric_items ['AP50'] are not CocoMetric items; choose from mAP, mAP_50"),
    ('mAP', "metric_items is the string 'mAP', not a list of items; write metric_items=['mAP']."),
])
def test_items_it_cannot_report_stop_it_when_built(tmp_path, items, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        CheckedCocoMetric(ann_file=write_annotations(tmp_path), metric_items=items)


def test_sorting_categories_is_refused_as_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match='sort_categories=True: CheckedCocoMetric keeps'):
        CheckedCocoMetric(ann_file=write_annotations(tmp_path), sort_categories=True)


def test_proposal_nums_with_100_in_its_place(tmp_path):
    results = evaluate(CheckedCocoMetric(ann_file=write_annotations(tmp_path),
                                         proposal_nums=[1, 100, 1000],
                                         metric_items=['mAP', 'AR@1000']))
    assert results == {'coco/bbox_mAP': 0.7, 'coco/bbox_AR@1000': 0.7}


def test_format_only_writes_the_detections_and_computes_nothing(tmp_path):
    prefix = tmp_path / 'out' / 'results'
    results = evaluate(CheckedCocoMetric(ann_file=write_annotations(tmp_path), format_only=True,
                                         outfile_prefix=str(prefix)))
    assert results == {}
    detections = json.loads((tmp_path / 'out' / 'results.bbox.json').read_text())
    assert len(detections) == 6
    assert {(d['image_id'], d['category_id']) for d in detections} == {
        (i, c) for i in (1, 2, 3) for c in (1, 2)}


SHAPES_CONFIG = REPO / 'configs/nanodet_shufflenetv2_lightpan_shapes.py'


@pytest.fixture(scope='module')
def shapes_checkpoint(tmp_path_factory):
    """The generated shapes dataset and an untrained detector's checkpoint for it."""
    root = tmp_path_factory.mktemp('shapes')
    run_tool('tools/misc/make_synthetic_coco.py', root / 'shapes', '--train', '1', '--val', '2',
             '--size', '128')
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(str(SHAPES_CONFIG)).model)
    torch.save(dict(state_dict=model.state_dict()), root / 'untrained.pth')
    return root / 'shapes', root / 'untrained.pth'


def run_test_tool(shapes_checkpoint, work_dir, *cfg_options):
    """``tools/test.py`` on the generated shapes with more ``--cfg-options``."""
    shapes, checkpoint = shapes_checkpoint
    return run_tool(
        'tools/test.py', SHAPES_CONFIG, checkpoint, '--work-dir', work_dir, '--cfg-options',
        f'test_dataloader.dataset.data_root={shapes}/',
        f'test_evaluator.ann_file={shapes}/annotations/instances_val.json',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
        'model.test_cfg.score_thr=0.0', *cfg_options)


def test_tools_test_evaluates_at_the_iou_thrs_given_on_the_command_line(shapes_checkpoint,
                                                                         tmp_path):
    result = run_test_tool(shapes_checkpoint, tmp_path, 'test_evaluator.iou_thrs=[0.5,0.75]',
                            'test_evaluator.metric_items=[mAP,mAP_75]')
    log = result.stdout + result.stderr
    assert 'Average Precision  (AP) @[ IoU=0.50:0.75 | area=   all | maxDets=100 ]' in log
    assert re.search(r'Epoch\(test\) \[1/1\] +coco/bbox_mAP: \S+ +coco/bbox_mAP_75: \S+ +data',
                     log)


def test_tools_test_format_only_writes_the_json_and_no_metric(shapes_checkpoint, tmp_path):
    result = run_test_tool(shapes_checkpoint, tmp_path / 'work',
                            'test_evaluator.format_only=True',
                            f'test_evaluator.outfile_prefix={tmp_path}/out/shapes')
    assert len(json.loads((tmp_path / 'out/shapes.bbox.json').read_text())) > 0
    assert 'coco/bbox_mAP' not in result.stdout + result.stderr
