"""CheckedCocoDataset: bad images and annotations are logged once and do not stop training."""
import json
import re
from collections import Counter

import numpy as np
import pytest
from mmengine.registry import init_default_scope
from PIL import Image

from shufflenet_det.datasets import CheckedCocoDataset
from tests.small_pipelines import small_pipelines
from tests.test_datasets.bad_coco import EXPECTED, write_coco
from tests.test_tools.tool_runner import REPO, run_tool

TRAIN_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                  dict(type='PackDetInputs')]
TEST_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 64)),
                 dict(type='LoadAnnotations', with_bbox=True),
                 dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                                       'img_shape', 'scale_factor'))]


@pytest.fixture(scope='module')
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp('bad_coco')
    write_coco(root)
    write_coco(root, bad=False)
    return root


def build(root, test_mode, pipeline=(), ann_file='annotations/bad.json', **kwargs):
    init_default_scope('mmdet')
    return CheckedCocoDataset(
        data_root=f'{root}/', ann_file=ann_file, data_prefix=dict(img='images/'),
        metainfo=dict(classes=('circle', 'square', 'triangle')), test_mode=test_mode,
        filter_cfg=dict(filter_empty_gt=True, min_size=32), pipeline=list(pipeline), **kwargs)


def index_of(dataset, file_name):
    return next(i for i in range(len(dataset))
                if dataset.get_data_info(i)['img_path'].endswith(f'/{file_name}'))


def test_each_problem_logged_once_with_summary(root, log_file):
    dataset = build(root, test_mode=True)
    found = sorted((p.kind, p.where.split('/')[-1]) for p in dataset.problems)
    assert found == EXPECTED
    assert {p.kind for p in dataset.problems if p.fatal} == {
        'missing_image', 'unreadable_image', 'size_mismatch'}
    log = log_file.read_text()
    for problem in dataset.problems:
        assert log.count(str(problem)) == 1, problem
        assert re.search(rf'WARNING - {re.escape(problem.kind)}: \S*(images/|annotation )', log)
    counts = Counter(kind for kind, _ in EXPECTED)
    summary = ', '.join(f'{kind} {n}' for kind, n in sorted(counts.items()))
    assert log.count('8 images, ') == 1 and f'{len(EXPECTED)} problems: {summary}' in log


def test_boxes_and_images_kept(root):
    dataset = build(root, test_mode=True)
    files = [dataset.get_data_info(i)['img_path'].split('/')[-1] for i in range(len(dataset))]
    # Missing and unreadable images are dropped; in test mode, images without boxes stay.
    assert files == ['good_1.jpg', 'good_2.jpg', 'good_3.jpg', 'good_4.jpg', 'good_5.jpg',
                     'empty.jpg', 'broken_body.jpg', 'wrong_size.jpg']
    clean = build(root, test_mode=True, ann_file='annotations/clean.json')
    assert clean.problems == []
    good_1, clean_1 = dataset.get_data_info(0)['instances'], clean.get_data_info(0)['instances']
    # Of the bad boxes only the partly outside one is kept, clipped to the 128x128 image.
    assert good_1[:-1] == clean_1
    assert good_1[-1]['bbox'] == [100, 90, 128, 128] and good_1[-1]['bbox_label'] == 1

    train = build(root, test_mode=False)
    assert len(train) == 7  # filter_empty_gt drops empty.jpg
    assert not any(train.get_data_info(i)['img_path'].endswith('empty.jpg')
                   for i in range(len(train)))


def test_filter_empty_gt_drops_images_whose_boxes_were_all_dropped(root, tmp_path):
    coco = json.loads((root / 'annotations/clean.json').read_text())
    for ann in coco['annotations']:
        if ann['image_id'] == 1:  # good_1.jpg
            ann['bbox'][2] = 0
    (tmp_path / 'zero_sized.json').write_text(json.dumps(coco))
    train = build(root, test_mode=False, ann_file=str(tmp_path / 'zero_sized.json'))
    files = [train.get_data_info(i)['img_path'].split('/')[-1] for i in range(len(train))]
    assert files == ['good_2.jpg', 'good_3.jpg', 'good_4.jpg', 'good_5.jpg']
    assert [p.kind for p in train.problems].count('no_annotations') == 1


def test_training_skips_an_image_that_does_not_decode(root, log_file):
    dataset = build(root, test_mode=False, pipeline=TRAIN_PIPELINE)
    broken = index_of(dataset, 'broken_body.jpg')
    np.random.seed(0)
    for _ in range(3):
        sample = dataset[broken]
        assert not sample['data_samples'].img_path.endswith('broken_body.jpg')
        assert len(sample['data_samples'].gt_instances) > 0
    message = 'broken_body.jpg: cannot be read or decoded; skipped'
    assert log_file.read_text().count(message) == 1
    assert [p.kind for p in dataset.problems if message in str(p)] == ['unreadable_image']


def test_testing_uses_a_black_image_for_an_image_that_does_not_decode(root, log_file):
    dataset = build(root, test_mode=True, pipeline=TEST_PIPELINE)
    sample = dataset[index_of(dataset, 'broken_body.jpg')]
    assert sample['inputs'].shape == (3, 64, 64) and not sample['inputs'].any()
    assert sample['data_samples'].ori_shape == (128, 128)
    assert len(sample['data_samples'].gt_instances) > 0
    assert 'broken_body.jpg: cannot be read or decoded; a black image is used' in \
        log_file.read_text()
    good = dataset[0]['inputs']
    assert good.shape == (3, 64, 64) and good.float().std() > 1


def test_other_pipeline_errors_still_raise(root):
    dataset = build(root, test_mode=False, pipeline=TRAIN_PIPELINE)

    def failing_pipeline(data_info):
        raise ValueError('a bug in a transform')

    dataset.pipeline = failing_pipeline
    with pytest.raises(ValueError, match='a bug in a transform'):
        dataset[0]


def test_without_image_checks_missing_files_are_skipped_when_loaded(root, log_file):
    dataset = build(root, test_mode=False, pipeline=TRAIN_PIPELINE, check_images=False)
    assert len(dataset) == 9  # no image dropped, only empty.jpg filtered
    assert {p.kind for p in dataset.problems} == {kind for kind, _ in EXPECTED} - {
        'missing_image', 'unreadable_image', 'size_mismatch'}
    missing = index_of(dataset, 'missing.jpg')
    assert not dataset[missing]['data_samples'].img_path.endswith('missing.jpg')
    assert 'missing.jpg: cannot be read or decoded; skipped' in log_file.read_text()


def test_exif_rotated_image_is_not_a_size_mismatch(tmp_path):
    (tmp_path / 'images').mkdir()
    (tmp_path / 'annotations').mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: decoders return 96 wide, 128 high
    Image.fromarray(np.zeros((96, 128, 3), np.uint8)).save(tmp_path / 'images/r.jpg', exif=exif)
    (tmp_path / 'annotations/r.json').write_text(
        '{"images": [{"id": 1, "file_name": "r.jpg", "width": 96, "height": 128}], '
        '"annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 90, 120], '
        '"area": 10800, "iscrowd": 0}], "categories": [{"id": 1, "name": "circle"}, '
        '{"id": 2, "name": "square"}, {"id": 3, "name": "triangle"}]}')
    dataset = build(tmp_path, test_mode=True, pipeline=TEST_PIPELINE,
                    ann_file='annotations/r.json')
    assert dataset.problems == []
    assert dataset[0]['data_samples'].ori_shape == (128, 96)


OVERRIDES = '''
_base_ = '{base}'
data_root = '{root}/'
{pipelines}
split = dict(data_root=data_root, ann_file='annotations/bad.json', data_prefix=dict(img='images/'))
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(**split, pipeline=train_pipeline))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                      dataset=dict(**split, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/bad.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
model = dict(test_cfg=dict(score_thr=0.0))  # a 4-iteration run scores low
'''


def test_training_and_evaluation_run_to_the_end(root, tmp_path):
    config = tmp_path / 'bad_data.py'
    config.write_text(OVERRIDES.format(
        base=REPO / 'configs/nanodet_shufflenetv2_lightpan_shapes.py', root=root,
        pipelines=small_pipelines((96, 96))))
    result = run_tool('tools/train.py', config, '--work-dir', tmp_path / 'work')
    log = result.stdout + result.stderr
    assert (tmp_path / 'work/epoch_1.pth').exists()
    assert re.search(r'Epoch\(val\) \[1\]\[4/4\] +coco/bbox_mAP: \d', log)
    # The train and the val dataset both load the file; MMEngine's logger drops repeated
    # warnings, so every problem and the summary appear once.
    for kind, where in EXPECTED:
        assert len(re.findall(rf'WARNING - {kind}: \S*{re.escape(where)}: ', log)) == 1, where
    assert log.count(f'{len(EXPECTED)} problems: ') == 1
    # broken_body.jpg is found when it is loaded: in training, then in validation.
    assert log.count('broken_body.jpg: cannot be read or decoded; skipped') == 1
    assert log.count('broken_body.jpg: cannot be read or decoded; a black image is used') == 1
