import re

import pytest
from mmengine.config import Config

import mmdet.datasets  # noqa: F401  (registers CocoDataset)
from shufflenet_det.datasets import DatasetError
from shufflenet_det.errors import ConfigError
from shufflenet_det.utils import check_annotation_files, check_dataset_config, leaf_datasets
from shufflenet_det.utils.run_config import input_size, load_config, load_run_config
from tests.test_tools.tool_runner import REPO, run_tool


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
    with pytest.raises(DatasetError) as error:
        check_annotation_files(make_config(tmp_path), ('train_dataloader', 'val_evaluator'))
    assert str(error.value).startswith(
        'train_dataloader.dataset.dataset.datasets[1].ann_file not found: '
        f'{tmp_path}/annotations/train.json.')


def test_missing_evaluator_file_is_named(tmp_path):
    with pytest.raises(DatasetError, match=r'^val_evaluator\[0\].ann_file not found'):
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
    assert result.returncode == 2
    assert 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        f'error: {split}_dataloader.dataset.ann_file not found: '
        f'{tmp_path}/coco/annotations/{ann_file}.')


def coco_run(root, val_classes=('a', 'b'), num_classes=2, evaluator_file='a.json'):
    for name in ('a.json', 'b.json'):
        (root / name).write_text('{}')
    dataset = dict(type='CocoDataset', data_root=f'{root}/', ann_file='a.json')
    return Config(dict(
        model=dict(type='FCOS', bbox_head=dict(type='FCOSHead', num_classes=num_classes)),
        train_dataloader=dict(dataset=dict(dataset, metainfo=dict(classes=('a', 'b')))),
        val_dataloader=dict(dataset=dict(dataset, **(dict(metainfo=dict(classes=val_classes))
                                                      if val_classes else {}))),
        val_evaluator=dict(type='CocoMetric', ann_file=str(root / evaluator_file))))


SECTIONS = ('train_dataloader', 'val_dataloader', 'val_evaluator')


def test_a_consistent_run_passes(tmp_path):
    check_dataset_config(coco_run(tmp_path), SECTIONS)


@pytest.mark.parametrize('change, message', [
    (dict(val_classes=('b', 'a')), "val_dataloader.dataset names the classes ('b', 'a'), "
     "train_dataloader.dataset ('a', 'b'); each label would mean another class."),
    (dict(val_classes=None), 'val_dataloader.dataset names the classes (\'person\', '),
    (dict(num_classes=80), 'model.bbox_head.num_classes is 80 but train_dataloader.dataset '
     'names 2 classes; set model.bbox_head.num_classes=2.'),
    (dict(evaluator_file='b.json'), 'val_evaluator.ann_file is {root}/b.json, but '
     'val_dataloader reads {root}/a.json: the predictions would be scored against other '
     'annotations; point both at one file.'),
])
def test_where_datasets_model_and_evaluator_disagree_is_named(tmp_path, change, message):
    # val_classes=None: no metainfo, so CocoDataset's 80 COCO classes.
    with pytest.raises(DatasetError) as error:
        check_dataset_config(coco_run(tmp_path, **change), SECTIONS)
    assert str(error.value).startswith(message.format(root=tmp_path))


def test_leaf_datasets_are_found_inside_wrappers():
    coco = dict(type='CocoDataset', ann_file='a.json')
    wrapped = dict(type='ConcatDataset', datasets=[
        dict(type='RepeatDataset', times=2, dataset=coco),
        dict(type='CheckedCocoDataset', ann_file='b.json')])
    assert list(leaf_datasets('train_dataloader', dict(dataset=wrapped))) == [
        ('train_dataloader.dataset.datasets[0].dataset', coco),
        ('train_dataloader.dataset.datasets[1]', wrapped['datasets'][1])]


# The input size the measuring and export tools use comes from the test pipeline.
@pytest.mark.parametrize('config, size', [
    ('nanodet_shufflenetv2_lightpan_320_coco.py', (320, 320)),
    ('nanodet_shufflenetv2_lightpan_416_coco.py', (416, 416)),
    ('fcos_shufflenetv2_coco.py', (416, 416))])
def test_the_size_is_the_test_pipelines(config, size):
    assert input_size(Config.fromfile(REPO / 'configs' / config)) == size


def test_a_wrapped_dataset_and_a_wide_scale_are_read_as_height_width():
    pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(640, 384))]
    cfg = Config(dict(test_dataloader=dict(dataset=dict(
        type='RepeatDataset', times=2, dataset=dict(type='CocoDataset', pipeline=pipeline)))))
    assert input_size(cfg) == (384, 640)


def test_no_fixed_size_is_an_error_not_640():
    cfg = Config(dict(test_dataloader=dict(dataset=dict(
        type='CocoDataset', pipeline=[dict(type='LoadImageFromFile')]))))
    with pytest.raises(ConfigError, match='no Resize with a scale'):
        input_size(cfg)


@pytest.mark.parametrize('text, message', [
    (None, r'^{config}: no such config file$'),
    ('model = dict(\n', r"^{config}:1: '\(' was never closed \(a config is Python"),
    ("_base_ = 'absent_base.py'\n", r'^{config} does not read as a config: \[Errno 2\] No such '
                                    r'file or directory: .*absent_base\.py'),
    ('a = 1\nx = undefined_name\n', r"^{config}:2: NameError: name 'undefined_name' is not "
                                     r"defined$"),
    ("_base_ = 'base.py'\n", r"^{config}: a _base_ it reads, line 3: '\(' was never closed"),
])
def test_a_config_that_does_not_read_is_one_line(tmp_path, text, message):
    config = tmp_path / 'my_config.py'
    (tmp_path / 'base.py').write_text('a = 1\nb = 2\nc = (\n')
    if text is not None:
        config.write_text(text)
    with pytest.raises(ConfigError, match=message.format(config=re.escape(str(config)))):
        load_config(str(config))


def test_a_folder_given_as_config_and_a_library_error_are_told_apart(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r'a folder, not a config file$'):
        load_config(str(tmp_path))
    config = tmp_path / 'duplicate_key.py'  # MMEngine's own parsing refuses it: one line
    (tmp_path / 'a.py').write_text('x = 1\n')
    (tmp_path / 'b.py').write_text('x = 2\n')
    config.write_text("_base_ = ['a.py', 'b.py']\n")
    with pytest.raises(ConfigError, match=r'duplicate_key\.py does not read as a config: '
                                          r'KeyError: .*Duplicate key'):
        load_config(str(config))
    monkeypatch.syspath_prepend(str(tmp_path))  # a plugin whose function raises on import:
    (tmp_path / 'buggy_plugin.py').write_text(  # its traceback is kept, not cut to a line
        "def register():\n    raise ValueError('a bug in the plugin')\n\n\nregister()\n")
    config = tmp_path / 'with_plugin.py'
    config.write_text("custom_imports = dict(imports=['buggy_plugin'])\n")
    with pytest.raises(ValueError, match='a bug in the plugin'):
        load_config(str(config))


def test_the_tools_say_a_missing_config_in_one_line(tmp_path):
    for tool, args in [('tools/train.py', ()), ('tools/test.py', ('x.pth', )),
                       ('tools/misc/check_dataset.py', ())]:
        result = run_tool(tool, tmp_path / 'absent.py', *args, check=False)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            f'error: {tmp_path / "absent.py"}: no such config file']


def test_a_work_dir_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / 'notes.txt').write_text('')
    with pytest.raises(ConfigError, match=r'work dir .*notes\.txt is a file, not a folder'):
        load_run_config(str(REPO / 'configs/fcos_shufflenetv2_coco.py'), None,
                        str(tmp_path / 'notes.txt'), 'none')
