"""ClassTransferHook, run by MMEngine's own Runner.load_checkpoint: a checkpoint trained on 80
COCO classes loads into a head with other classes, class scores matched by name."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmdet.datasets import CocoDataset

from shufflenet_det.engine import ClassTransferHook, checkpoint_classes
from tests.test_tools.tool_runner import REPO, run_tool

CONFIG = REPO / 'configs/nanodet_shufflenetv2-0.5x_lightpan_320_coco.py'
COCO = CocoDataset.METAINFO['classes']


def runner_for(tmp_path, classes, name, config=CONFIG):
    """A runner whose dataset has ``classes`` (as MMEngine's loops tell the visualizer)."""
    cfg = Config.fromfile(str(config))
    for head in ('bbox_head', 'aux_head'):
        if head in cfg.model:
            cfg.model[head].num_classes = len(classes)
    runner = Runner(model=cfg.model, work_dir=str(tmp_path / name), default_scope='mmdet',
                    custom_hooks=cfg.custom_hooks,
                    experiment_name=f'{tmp_path.name}_{name}')  # unique: one logger each
    runner.visualizer.dataset_meta = dict(classes=classes)
    return runner


def logged(runner):
    return (Path(runner.log_dir) / f'{runner.timestamp}.log').read_text()


def save_coco_checkpoint(tmp_path, with_classes=True, config=CONFIG):
    torch.manual_seed(0)
    coco = runner_for(tmp_path, COCO, 'coco', config).model
    meta = dict(dataset_meta=dict(classes=COCO)) if with_classes else {}
    torch.save(dict(state_dict=coco.state_dict(), meta=meta), tmp_path / 'coco.pth')
    return coco.state_dict()


def test_classes_are_matched_by_name_and_distributions_kept(tmp_path):
    coco = save_coco_checkpoint(tmp_path)
    classes = ('dog', 'widget', 'person')  # COCO's 16th and 0th class, and a new one
    runner = runner_for(tmp_path, classes, 'fine_tune')
    initial = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.load_checkpoint(str(tmp_path / 'coco.pth'))
    loaded = runner.model.state_dict()
    for level in range(3):
        for param in ('weight', 'bias'):
            key = f'bbox_head.out_convs.{level}.{param}'
            assert torch.equal(loaded[key][0], coco[key][COCO.index('dog')])
            assert torch.equal(loaded[key][1], initial[key][1])
            assert torch.equal(loaded[key][2], coco[key][COCO.index('person')])
            assert torch.equal(loaded[key][3:], coco[key][80:])  # the box distribution
    assert torch.equal(loaded['backbone.conv1.conv.weight'], coco['backbone.conv1.conv.weight'])
    assert torch.equal(loaded['bbox_head.towers.2.1.pointwise_conv.bn.running_mean'],
                       coco['bbox_head.towers.2.1.pointwise_conv.bn.running_mean'])
    assert ("ClassTransferHook: 2 of 3 classes take their scores from the checkpoint's 80 "
            "classes: 'dog', 'person'; starting fresh: 'widget'") in logged(runner)


def test_a_misspelt_class_starts_fresh_and_the_log_names_the_close_one(tmp_path):
    coco = save_coco_checkpoint(tmp_path)
    runner = runner_for(tmp_path, ('person', 'trafic light'), 'misspelt')
    runner.load_checkpoint(str(tmp_path / 'coco.pth'))
    assert "starting fresh: 'trafic light' (the checkpoint has 'traffic light')" in logged(
        runner)
    weight = runner.model.state_dict()['bbox_head.out_convs.0.weight']
    assert torch.equal(weight[0], coco['bbox_head.out_convs.0.weight'][0])


def test_the_same_classes_load_unchanged(tmp_path):
    coco = save_coco_checkpoint(tmp_path)
    runner = runner_for(tmp_path, COCO, 'same')
    runner.load_checkpoint(str(tmp_path / 'coco.pth'))
    assert all(torch.equal(v, coco[k]) for k, v in runner.model.state_dict().items())
    assert 'ClassTransferHook:' not in logged(runner)


def test_without_class_names_the_mismatched_tensors_are_not_loaded(tmp_path):
    coco = save_coco_checkpoint(tmp_path, with_classes=False)
    runner = runner_for(tmp_path, ('dog', 'person'), 'no_names')
    initial = runner.model.state_dict()['bbox_head.out_convs.0.weight'].clone()
    runner.load_checkpoint(str(tmp_path / 'coco.pth'))
    assert 'the checkpoint names no classes' in logged(runner)
    state = runner.model.state_dict()
    assert torch.equal(state['bbox_head.out_convs.0.weight'], initial)
    assert torch.equal(state['backbone.conv1.conv.weight'], coco['backbone.conv1.conv.weight'])


def test_nanodet_plus_transfers_both_heads_before_the_ema_copy(tmp_path):
    config = REPO / 'configs/nanodet-plus_shufflenetv2_ghostpan_320_coco.py'
    coco = save_coco_checkpoint(tmp_path, config=config)
    runner = runner_for(tmp_path, ('dog', 'widget'), 'plus', config)
    runner.call_hook('before_run')  # EMAHook makes its copy of the model, as in training
    initial = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.load_checkpoint(str(tmp_path / 'coco.pth'))
    loaded = runner.model.state_dict()
    for key in ('bbox_head.out_convs.3.weight', 'aux_head.gfl_cls.weight',
                'aux_head.gfl_cls.bias'):
        assert torch.equal(loaded[key][0], coco[key][COCO.index('dog')])
        assert torch.equal(loaded[key][1], initial[key][1])
    bias = 'bbox_head.out_convs.3.bias'
    assert torch.equal(loaded[bias][2:], coco[bias][80:])  # the box distribution
    ema = next(h for h in runner.hooks if type(h).__name__ == 'EMAHook').ema_model.module
    # The EMA copy took the checkpoint after ClassTransferHook had rewritten it.
    assert torch.equal(ema.state_dict()['aux_head.gfl_cls.weight'][0],
                       coco['aux_head.gfl_cls.weight'][COCO.index('dog')])


# What scripts that save a checkpoint by hand write in ``meta``: all name no classes.
META_NAMING_NO_CLASSES = {
    'no meta': {},
    'meta None': dict(meta=None),
    'meta a list': dict(meta=['epoch', 3]),
    'meta without dataset_meta': dict(meta=dict(epoch=3)),
    'dataset_meta None': dict(meta=dict(dataset_meta=None)),
    'dataset_meta without classes': dict(meta=dict(dataset_meta=dict(palette=[(0, 0, 0)]))),
    'classes None': dict(meta=dict(dataset_meta=dict(classes=None))),
    'classes a string': dict(meta=dict(dataset_meta=dict(classes='person'))),
    'classes empty': dict(meta=dict(dataset_meta=dict(classes=[]))),
}


@pytest.mark.parametrize('fields', META_NAMING_NO_CLASSES.values(),
                         ids=META_NAMING_NO_CLASSES.keys())
def test_checkpoint_classes_of_a_meta_naming_none_is_none(fields):
    assert checkpoint_classes(dict(state_dict={}, **fields)) is None


def test_checkpoint_classes_reads_a_list_or_a_tuple():
    assert checkpoint_classes(dict(meta=dict(dataset_meta=dict(classes=('a', 'b'))))) == [
        'a', 'b']
    assert checkpoint_classes(dict(meta=dict(dataset_meta=dict(classes=['a'])))) == ['a']


@pytest.fixture(scope='module')
def coco_state_dict(tmp_path_factory):
    torch.manual_seed(0)
    return runner_for(tmp_path_factory.mktemp('coco'), COCO, 'coco').model.state_dict()


@pytest.mark.parametrize('fields', META_NAMING_NO_CLASSES.values(),
                         ids=META_NAMING_NO_CLASSES.keys())
def test_any_meta_naming_no_classes_loads_as_a_checkpoint_naming_none(
        tmp_path, coco_state_dict, fields):
    runner = runner_for(tmp_path, ('dog', 'person'), 'meta')
    state_dict = {k: v.clone() for k, v in coco_state_dict.items()}  # the fixture stays as made
    checkpoint = dict(state_dict=dict(state_dict), **fields)
    ClassTransferHook().after_load_checkpoint(runner, checkpoint)
    # nothing replaced, changed or dropped (MMEngine then skips the tensors of other shapes)
    assert checkpoint['state_dict'].keys() == coco_state_dict.keys()
    assert all(checkpoint['state_dict'][k] is v and torch.equal(v, coco_state_dict[k])
               for k, v in state_dict.items())
    assert 'the checkpoint names no classes (meta.dataset_meta.classes)' in logged(runner)


def test_classes_saved_as_a_tuple_are_matched_by_name(tmp_path, coco_state_dict):
    runner = runner_for(tmp_path, ('dog', 'person'), 'tuple')
    checkpoint = dict(state_dict={k: v.clone() for k, v in coco_state_dict.items()},
                      meta=dict(dataset_meta=dict(classes=tuple(COCO))))
    ClassTransferHook().after_load_checkpoint(runner, checkpoint)
    key = 'bbox_head.out_convs.0.weight'
    assert torch.equal(checkpoint['state_dict'][key][1], coco_state_dict[key][COCO.index('person')])


def test_tools_test_loads_a_checkpoint_saved_with_dataset_meta_none(tmp_path):
    """The reported failure: a state dict saved by hand with ``meta.dataset_meta=None``."""
    shapes = tmp_path / 'shapes'
    run_tool('tools/misc/make_synthetic_coco.py', shapes, '--train', '1', '--val', '2', '--size',
             '128')
    config = REPO / 'configs/nanodet_shufflenetv2_lightpan_shapes.py'
    model = runner_for(tmp_path, ('circle', 'square', 'triangle'), 'shapes', config).model
    torch.save(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=None)),
               tmp_path / 'by_hand.pth')
    result = run_tool(
        'tools/test.py', config, tmp_path / 'by_hand.pth', '--work-dir', tmp_path / 'test',
        '--cfg-options', f'test_dataloader.dataset.data_root={shapes}/',
        f'test_evaluator.ann_file={shapes}/annotations/instances_val.json',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
        check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'coco/bbox_mAP:' in result.stdout + result.stderr
