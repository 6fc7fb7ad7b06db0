"""tools/misc/check_dataset.py: the dataset's problems before training, and its exit status."""
import json
import re
from pathlib import Path

import mmdet
import pytest

from shufflenet_det.datasets import SHAPE_CLASSES
from tests.test_datasets.bad_coco import EXPECTED, write_coco
from tests.test_tools.tool_runner import REPO, run_tool

TOOL = REPO / 'tools/misc/check_dataset.py'
CONFIG = '''
_base_ = '{base}'
split = dict(data_root='{root}/', ann_file='annotations/{name}.json',
             data_prefix=dict(img='images/'))
train_dataloader = dict(dataset=split)
val_dataloader = dict(dataset=split)
test_dataloader = val_dataloader
val_evaluator = dict(ann_file='{root}/annotations/{name}.json')
test_evaluator = val_evaluator
'''
FATAL = {'missing_image', 'unreadable_image', 'size_mismatch'}


@pytest.fixture(scope='module')
def configs(tmp_path_factory):
    """Configs for the bad, the clean and a warnings-only version of the dataset."""
    root = tmp_path_factory.mktemp('check_dataset')
    bad = json.loads(write_coco(root).read_text())
    write_coco(root, bad=False)
    # Only annotation problems: the good images and empty.jpg.
    keep = {image['id'] for image in bad['images'] if image['file_name'].startswith(('good',
                                                                                     'empty'))}
    (root / 'annotations/warnings.json').write_text(json.dumps(dict(
        bad, images=[image for image in bad['images'] if image['id'] in keep],
        annotations=[ann for ann in bad['annotations'] if ann['image_id'] in keep])))
    configs = {}
    for name in ('bad', 'clean', 'warnings'):
        configs[name] = root / f'{name}.py'
        configs[name].write_text(CONFIG.format(
            base=REPO / 'configs/nanodet_shufflenetv2_lightpan_shapes.py', root=root, name=name))
    return configs


def test_bad_dataset_reports_every_problem_and_fails(configs):
    result = run_tool(TOOL, configs['bad'], check=False)
    assert result.returncode == 1, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    for kind, where in EXPECTED:
        severity = 'ERROR' if kind in FATAL else 'WARNING'
        found = [line for line in lines
                 if re.fullmatch(rf'  {severity} +{kind}: \S*{re.escape(where)}: .+', line)]
        assert len(found) == 1, (kind, where, result.stdout)
    # Decoding every image finds the one whose header is fine but whose data is broken.
    assert re.search(r'ERROR +unreadable_image: \S*/broken_body.jpg: the image data cannot',
                     result.stdout)
    assert 'train: 7 images load, 11 problems (box_outside_image 2, invalid_box 1, ' in \
        result.stdout
    assert lines[-3:] == ['val: the same dataset as above', 'test: the same dataset as above',
                          '4 fatal problems: fix them before training']


def test_clean_dataset_passes(configs):
    result = run_tool(TOOL, configs['clean'], '--split', 'train')
    assert result.stdout.splitlines()[-2:] == ['train: 5 images load, 0 problems',
                                               'no fatal problems']


def test_annotation_problems_are_fatal_only_with_strict(configs):
    result = run_tool(TOOL, configs['warnings'], '--split', 'val')
    assert 'val: 6 images load, 7 problems' in result.stdout
    assert result.stdout.splitlines()[-1] == 'no fatal problems'
    # A config with MMDetection's plain CocoDataset is checked all the same.
    result = run_tool(TOOL, configs['warnings'], '--split', 'val', '--strict', '--cfg-options',
                      'val_dataloader.dataset.type=CocoDataset', check=False)
    assert result.returncode == 1
    assert result.stdout.count('  ERROR ') == 7
    assert result.stdout.splitlines()[-1] == '7 fatal problems: fix them before training'


def test_a_filter_that_leaves_no_training_image_is_fatal(configs):
    result = run_tool(TOOL, configs['clean'], '--split', 'train', '--cfg-options',
                      'train_dataloader.dataset.filter_cfg.min_size=200', check=False)
    assert result.returncode == 1
    assert ('  ERROR   filter_cfg leaves 0 of 5 images for training; left out: 5 with a side '
            'under filter_cfg.min_size=200 (the largest is 128x128)') in result.stdout


MMDET_CONFIG = """
_base_ = '{mmdet}/.mim/configs/_base_/datasets/coco_detection.py'
split = dict(data_root='{root}/', ann_file='annotations/no_area.json',
             data_prefix=dict(img='images/'), metainfo=dict(classes={classes}))
train_dataloader = dict(dataset=split)
val_dataloader = dict(dataset=split)
test_dataloader = val_dataloader
val_evaluator = dict(ann_file='{root}/annotations/no_area.json')
test_evaluator = val_evaluator
"""
# docs/fine_tuning.md's switch to the checked dataset and metric, in a config inheriting the
# dataloaders.
SWITCH = """
train_dataloader = val_dataloader = test_dataloader = dict(dataset=dict(type='CheckedCocoDataset'))
val_evaluator = test_evaluator = dict(type='CheckedCocoMetric')
"""


def test_an_mmdetection_config_is_checked_and_switched_in_one_line(configs, tmp_path):
    """An MMDetection config with plain CocoDataset and CocoMetric: what they fail on is fatal;
    with docs/fine_tuning.md's switch, it is a logged repair."""
    root = configs['clean'].parent
    clean = json.loads((root / 'annotations/clean.json').read_text())
    for ann in clean['annotations']:
        del ann['area']
    (root / 'annotations/no_area.json').write_text(json.dumps(clean))
    config = tmp_path / 'mmdet_config.py'
    config.write_text(MMDET_CONFIG.format(mmdet=Path(mmdet.__file__).parent, root=root,
                                          classes=SHAPE_CLASSES))
    plain = run_tool(TOOL, config, check=False)
    assert plain.returncode == 1
    assert re.search(r'  ERROR   missing_area: \S+/no_area.json: \d+ of \d+ annotations have '
                     r"no \"area\"; set to the box's area .+ \(CocoDataset or CocoMetric fails "
                     r'on this: use the checked ones\)', plain.stdout)
    switched = tmp_path / 'switched.py'
    switched.write_text(f"_base_ = '{config}'\n{SWITCH}")
    checked = run_tool(TOOL, switched)
    assert re.search(r'  WARNING missing_area: \S+/no_area.json: ', checked.stdout)
    assert checked.stdout.splitlines()[-1] == 'no fatal problems'
