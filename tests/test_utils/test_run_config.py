import pytest
from mmengine.config import Config

from shufflenet_det.utils import check_annotation_files
from tests.test_tools.tool_runner import run_tool


def make_config(root, ann_file='annotations/train.json'):
    return Config(dict(
        train_dataloader=dict(dataset=dict(
            type='RepeatDataset', times=2,
            dataset=dict(type='ConcatDataset', datasets=[
                dict(type='CocoDataset', data_root=str(root), ann_file='annotations/a.json'),
                dict(type='CocoDataset', data_root=str(root), ann_file=ann_file)]))),
        val_evaluator=[dict(type='CocoMetric', ann_file=str(root / 'annotations' / 'a.json'))]))


def test_present_annotation_files_pass(tmp_path):
    (tmp_path / 'annotations').mkdir()
    for name in ('a.json', 'train.json'):
        (tmp_path / 'annotations' / name).write_text('{}')
    check_annotation_files(make_config(tmp_path), ('train_dataloader', 'val_evaluator'))


def test_missing_file_inside_dataset_wrappers_is_named(tmp_path):
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'annotations' / 'a.json').write_text('{}')
    with pytest.raises(SystemExit) as error:
        check_annotation_files(make_config(tmp_path), ('train_dataloader', 'val_evaluator'))
    assert str(error.value).startswith(
        'error: train_dataloader.dataset.dataset.datasets[1].ann_file not found: '
        f'{tmp_path}/annotations/train.json.')


def test_missing_evaluator_file_is_named(tmp_path):
    with pytest.raises(SystemExit, match=r'^error: val_evaluator\[0\].ann_file not found'):
        check_annotation_files(make_config(tmp_path), ('val_evaluator', ))


def test_files_behind_a_storage_backend_are_not_checked(tmp_path):
    remote = dict(type='CocoDataset', data_root='s3://bucket/coco/', ann_file='train.json')
    mapped = dict(type='CocoDataset', data_root=str(tmp_path), ann_file='train.json',
                  backend_args=dict(backend='petrel', path_mapping={str(tmp_path): 's3://b/'}))
    cfg = Config(dict(train_dataloader=dict(dataset=dict(type='ConcatDataset',
                                                         datasets=[remote, mapped]))))
    check_annotation_files(cfg, ('train_dataloader', ))


@pytest.mark.parametrize('tool, extra, split, ann_file', [
    ('tools/train.py', (), 'train', 'instances_train2017.json'),
    ('tools/test.py', ('missing.pth', ), 'test', 'instances_val2017.json')])
def test_tools_without_coco_stop_in_one_line(tool, extra, split, ann_file, tmp_path):
    result = run_tool(tool, 'configs/fcos_shufflenetv2_coco.py', *extra,
                      '--work-dir', tmp_path / 'work', '--cfg-options',
                      f'{split}_dataloader.dataset.data_root={tmp_path}/coco/', check=False)
    assert result.returncode == 1
    assert 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        f'error: {split}_dataloader.dataset.ann_file not found: '
        f'{tmp_path}/coco/annotations/{ann_file}.')
