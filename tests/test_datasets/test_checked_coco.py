"""A user's own COCO file: what MMDetection would read differently from what was meant stops the
dataset when it is built, or is repaired for training and evaluation alike.

Each case starts from a small generated file (real JPEGs) that ``CheckedCocoDataset`` loads, then
breaks it the way exported files and configs are broken in MMDetection's and pycocotools' bug
reports.
"""
import copy
import json

import cv2
import numpy as np
import pytest
import torch
from mmdet.datasets import CocoDataset
from mmdet.evaluation import CocoMetric
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample
from shufflenet_det.datasets import CheckedCOCO, CheckedCocoDataset, DatasetError
from shufflenet_det.evaluation import CheckedCocoMetric
from tests.small_pipelines import small_pipelines
from tests.test_tools.tool_runner import REPO, run_tool

CATEGORIES = [dict(id=1, name='whee'), dict(id=2, name='wheel'), dict(id=3, name='car')]


def coco(size: int = 64) -> dict:
    """Six images ``cam{1,2}/000{1,2,3}.jpg`` of ``size`` pixels, two boxes each: one 'whee',
    and one 'wheel' or 'car'."""
    images, annotations = [], []
    for i in range(6):
        images.append(dict(id=i + 1, file_name=f'cam{i % 2 + 1}/{i // 2 + 1:04d}.jpg',
                           width=size, height=size))
        for j, category_id in enumerate((1, 2 + i % 2)):
            box = [4 + 20 * j, 6 + 3 * i, 16, 20]
            annotations.append(dict(id=len(annotations) + 1, image_id=i + 1, bbox=box,
                                    category_id=category_id, area=box[2] * box[3], iscrowd=0))
    return dict(images=images, annotations=annotations, categories=copy.deepcopy(CATEGORIES))


def write(root, data: dict, name: str = 'train.json') -> str:
    """Write the images ``data`` lists (if missing) and the annotation file."""
    for image in data['images']:
        path = root / 'images' / image['file_name']
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            gray = np.full((image['height'], image['width'], 3), 90 + image['id'], np.uint8)
            cv2.imwrite(str(path), gray)
    (root / 'annotations').mkdir(exist_ok=True)
    (root / 'annotations' / name).write_text(json.dumps(data))
    return str(root / 'annotations' / name)


def build(root, ann_file: str, classes=('whee', 'wheel', 'car'), test_mode=False,
          min_size=0):
    init_default_scope('mmdet')
    return CheckedCocoDataset(
        data_root=f'{root}/', ann_file=ann_file, data_prefix=dict(img='images/'),
        metainfo=dict(classes=classes), test_mode=test_mode, pipeline=[],
        filter_cfg=dict(filter_empty_gt=True, min_size=min_size))


def test_a_good_file_loads_as_coco_dataset_loads_it(tmp_path):
    ann_file = write(tmp_path, coco())
    checked = build(tmp_path, ann_file)
    init_default_scope('mmdet')
    plain = CocoDataset(data_root=f'{tmp_path}/', ann_file=ann_file, pipeline=[],
                        data_prefix=dict(img='images/'),
                        metainfo=dict(classes=('whee', 'wheel', 'car')))
    assert checked.problems == []
    assert [checked.get_data_info(i) for i in range(6)] == \
        [plain.get_data_info(i) for i in range(6)]


def test_a_string_of_classes_is_not_matched_as_substrings(tmp_path):
    # classes=('wheel') is the string 'wheel': pycocotools would select 'whee' as well.
    ann_file = write(tmp_path, coco())
    with pytest.raises(DatasetError) as error:
        build(tmp_path, ann_file, classes=('wheel'))
    assert str(error.value) == (
        f"{ann_file}: metainfo classes is the string 'wheel', not a tuple of names "
        '(pycocotools would select every category whose name is part of it); write '
        "classes=('wheel',) with the comma.")
    assert [cat['name'] for cat in CheckedCOCO(ann_file).loadCats(
        CheckedCOCO(ann_file).getCatIds(catNms='wheel'))] == ['whee', 'wheel']  # the trap


def test_class_names_not_in_the_file_are_named_with_the_closest_first(tmp_path):
    ann_file = write(tmp_path, coco())
    with pytest.raises(DatasetError) as error:
        build(tmp_path, ann_file, classes=('Whee', 'Wheel', 'Car'))
    assert str(error.value) == (
        f"{ann_file}: metainfo classes 'Whee', 'Wheel', 'Car' are not category names of the "
        "file; its categories are 'whee' (for 'Whee'), 'wheel' (for 'Wheel'), 'car' (for "
        "'Car'); name the classes as the file does (metainfo=dict(classes=(...))), or add the "
        'missing categories to the file.')
    with pytest.raises(DatasetError, match=r"classes 'whel' are not category names of the "
                                           r"file; its categories are 'wheel' \(for 'whel'\), "
                                           r"'whee', 'car';"):
        build(tmp_path, ann_file, classes=('whee', 'whel', 'car'))


def test_classes_out_of_the_files_order_would_swap_names(tmp_path):
    ann_file = write(tmp_path, coco())
    with pytest.raises(DatasetError, match=r"not in the order of their category ids in the "
                                           r".*write classes=\('wheel', 'car'\)\.$"):
        build(tmp_path, ann_file, classes=('car', 'wheel'))
    with pytest.raises(DatasetError, match=r"classes names 'car' more than once"):
        build(tmp_path, ann_file, classes=('whee', 'car', 'car'))
    # A subset in the file's order is fine: labels 0 and 1 are 'whee' and 'car'.
    dataset = build(tmp_path, ann_file, classes=('whee', 'car'))
    assert dataset.cat_ids == [1, 3]


@pytest.mark.parametrize('breaking, message', [
    (lambda d: d['images'][4].update(id=3),
     "image id 3 is used 2 times, by 'cam1/0002.jpg', 'cam1/0003.jpg'; give every image its "
     'own id.'),
    (lambda d: d['images'][4].update(file_name='cam1/0001.jpg'),
     "file_name 'cam1/0001.jpg' is used 2 times, by 1, 5; list each file once, with all its "
     'boxes under one image id.'),
    (lambda d: d['images'][2].pop('height'),
     'images[2] has no "height"; add "height" to every image.'),
    (lambda d: d['categories'][2].update(id=2),
     "category id 2 is used 2 times, by 'wheel', 'car'; give every category its own id."),
    (lambda d: d['categories'][2].update(name='wheel'),
     "category name 'wheel' is used 2 times, by 2, 3; give every category its own name, or "
     'merge them into one.'),
    (lambda d: d['annotations'][3].update(id=1),
     "annotation id 1 is used 2 times, by 'cam1/0001.jpg', 'cam2/0001.jpg'; give every "
     'annotation its own id.'),
    (lambda d: d.pop('categories'),
     '"categories" is missing or not a list; it is not a COCO detection file.'),
])
def test_a_file_that_pycocotools_would_index_wrongly_stops_the_build(tmp_path, breaking,
                                                                     message):
    write(tmp_path, coco())  # the images
    data = coco()
    breaking(data)
    ann_file = write(tmp_path, data)
    with pytest.raises(DatasetError) as error:
        build(tmp_path, ann_file)
    assert str(error.value) == f'{ann_file}: {message}'


def test_not_a_json_object_stops_the_build(tmp_path):
    (tmp_path / 'annotations').mkdir()
    for text, message in (('{"images": [', 'not a JSON file'), ('[]', 'not a COCO file')):
        (tmp_path / 'annotations/bad.json').write_text(text)
        with pytest.raises(DatasetError, match=message):
            build(tmp_path, str(tmp_path / 'annotations/bad.json'))


def test_categories_listed_out_of_id_order_still_label_by_id(tmp_path):
    data = coco()
    data['categories'].reverse()  # CocoDataset would make 'car' label 0
    dataset = build(tmp_path, write(tmp_path, data), test_mode=True)
    assert [(p.kind, p.message) for p in dataset.problems] == [
        ('categories_out_of_order', 'the categories are not listed in the order of their ids; '
         'labels follow the ids')]
    assert dataset.cat2label == {1: 0, 2: 1, 3: 2}


def test_annotations_of_no_image_or_no_category_are_dropped_and_reported(tmp_path):
    data = coco()
    data['annotations'][0]['image_id'] = 99
    del data['annotations'][1]['category_id']
    dataset = build(tmp_path, write(tmp_path, data), test_mode=True)
    assert [(p.kind, p.where) for p in dataset.problems] == [
        ('unknown_image', 'annotation 1'), ('no_category', 'annotation 2 (cam1/0001.jpg)'),
        ('no_annotations', f'{tmp_path}/images/cam1/0001.jpg')]


def detection(dataset, index: int, labels=None) -> dict:
    """A data sample predicting exactly the ground truth of one image (or nothing)."""
    info = dataset.get_data_info(index)
    boxes = torch.tensor([instance['bbox'] for instance in info['instances']], dtype=torch.float32)
    gt_labels = torch.tensor([instance['bbox_label'] for instance in info['instances']])
    keep = slice(None) if labels is None else slice(0)
    sample = DetDataSample(metainfo=dict(img_id=info['img_id'], ori_shape=(64, 64)))
    sample.pred_instances = InstanceData(bboxes=boxes[keep], labels=gt_labels[keep],
                                         scores=torch.ones(len(boxes))[keep])
    return sample.to_dict()


@pytest.mark.parametrize('field', ['area', 'iscrowd'])
def test_a_missing_area_or_iscrowd_is_repaired_for_training_and_evaluation(tmp_path, field):
    data = coco()
    for ann in data['annotations']:
        del ann[field]
    ann_file = write(tmp_path, data)
    dataset = build(tmp_path, ann_file, test_mode=True)
    assert [(p.kind, p.message) for p in dataset.problems] == [
        (f'missing_{field}', f'12 of 12 annotations have no "{field}"; set to '
         f'{"the box" + chr(39) + "s area (width x height)" if field == "area" else "0"}, '
         'for training and evaluation')]
    # MMDetection's CocoMetric dies in pycocotools on this file; the checked one scores it.
    metric = CheckedCocoMetric(ann_file=ann_file)
    metric.dataset_meta = dataset.metainfo
    metric.process({}, [detection(dataset, i) for i in range(len(dataset))])
    assert metric.evaluate(len(dataset))['coco/bbox_mAP'] == 1.0
    plain = CocoMetric(ann_file=ann_file)
    plain.dataset_meta = dataset.metainfo
    plain.process({}, [detection(dataset, i) for i in range(len(dataset))])
    with pytest.raises(KeyError, match=field):
        plain.evaluate(len(dataset))


def test_no_detection_at_all_scores_zero_and_says_why(tmp_path, log_file):
    ann_file = write(tmp_path, coco())
    dataset = build(tmp_path, ann_file, test_mode=True)
    metric = CheckedCocoMetric(ann_file=ann_file)
    metric.dataset_meta = dataset.metainfo
    metric.process({}, [detection(dataset, i, labels=[]) for i in range(len(dataset))])
    results = metric.evaluate(len(dataset))
    assert results == {f'coco/bbox_{item}': value for item, value in (
        ('mAP', 0.0), ('mAP_50', 0.0), ('mAP_75', 0.0), ('mAP_s', 0.0), ('mAP_m', -1.0),
        ('mAP_l', -1.0))}  # the file has no medium or large object: COCO's -1
    assert 'No detection on any of the 6 images: no box scored above the model' in \
        log_file.read_text()
    plain = CocoMetric(ann_file=ann_file)  # what MMDetection reports: nothing
    plain.dataset_meta = dataset.metainfo
    plain.process({}, [detection(dataset, i, labels=[]) for i in range(len(dataset))])
    assert plain.evaluate(len(dataset)) == {}


def test_images_all_below_min_size_stop_the_build_saying_why(tmp_path):
    ann_file = write(tmp_path, coco(size=24))
    with pytest.raises(DatasetError) as error:
        build(tmp_path, ann_file, min_size=32)
    assert str(error.value) == (
        f'{ann_file}: no image left for training: 6 with a side under filter_cfg.min_size=32 '
        '(the largest is 24x24); lower filter_cfg.min_size.')
    assert len(build(tmp_path, ann_file, min_size=24)) == 6


def test_no_box_of_the_classes_stops_the_build_saying_why(tmp_path):
    data = coco()
    data['annotations'] = [ann for ann in data['annotations'] if ann['category_id'] != 3]
    ann_file = write(tmp_path, data)
    with pytest.raises(DatasetError) as error:
        build(tmp_path, ann_file, classes=('car', ))
    assert str(error.value) == (
        f'{ann_file}: no image left for training: 6 without a box of the classes '
        "(filter_empty_gt); check that metainfo classes ('car',) are the ones the boxes belong "
        'to.')


def test_every_image_missing_stops_the_build_naming_the_data_prefix(tmp_path):
    ann_file = write(tmp_path, coco())
    init_default_scope('mmdet')
    with pytest.raises(DatasetError, match=r'no image left to test: every image was dropped '
                                           r'\(missing_image 6, e.g. \S+/imgs/cam1/0001.jpg\); '
                                           'check data_root and data_prefix.'):
        CheckedCocoDataset(data_root=f'{tmp_path}/', ann_file=ann_file, test_mode=True,
                           data_prefix=dict(img='imgs/'), pipeline=[],
                           metainfo=dict(classes=('whee', 'wheel', 'car')))


CONFIG = '''
_base_ = '{base}'
data_root = '{root}/'
{pipelines}
split = dict(data_root=data_root, ann_file='annotations/train.json',
             data_prefix=dict(img='images/'), metainfo=dict(classes={classes}))
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(**split, pipeline=train_pipeline))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                      dataset=dict(**split, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/train.json')
test_evaluator = val_evaluator
model = dict(bbox_head=dict(num_classes={num_classes}))
train_cfg = dict(max_epochs=1, val_interval=1)
'''


@pytest.mark.parametrize('classes, num_classes, broken, message', [
    ("('wheel')", 1, None, "error: train_dataloader.dataset.metainfo classes is the string "
     "'wheel', not a tuple of names; write classes=('wheel',) with the comma."),
    ("('whee', 'wheel', 'car')", 80, None, 'error: model.bbox_head.num_classes is 80 but '
     'train_dataloader.dataset names 3 classes; set model.bbox_head.num_classes=3.'),
    ("('whee', 'wheel', 'car')", 3, 'duplicate_id', "annotations/train.json: image id 3 is "
     "used 2 times, by 'cam1/0002.jpg', 'cam1/0003.jpg'; give every image its own id."),
])
def test_train_stops_before_training_in_one_line(tmp_path, classes, num_classes, broken,
                                                 message):
    data = coco()
    if broken:
        data['images'][4]['id'] = 3
    write(tmp_path, data)
    config = tmp_path / 'config.py'
    config.write_text(CONFIG.format(
        base=REPO / 'configs/nanodet_shufflenetv2_lightpan_shapes.py', root=tmp_path,
        pipelines=small_pipelines((64, 64)), classes=classes, num_classes=num_classes))
    result = run_tool('tools/train.py', config, '--work-dir', tmp_path / 'work', check=False)
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith(message)
    assert 'Epoch(train)' not in result.stdout + result.stderr
    assert not list((tmp_path / 'work').rglob('*.pth'))
    check = run_tool('tools/misc/check_dataset.py', config, '--split', 'train', check=False)
    assert check.returncode == 1
    assert message.removeprefix('error: ') in check.stdout
