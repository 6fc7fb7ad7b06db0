"""COCO evaluator options that cannot work stop a run before anything is built, in one line;
those that work pass."""
import re

import pytest
from mmengine.config import Config

from shufflenet_det.errors import ConfigError
from shufflenet_det.utils import check_dataset_config
from shufflenet_det.evaluation import check_evaluator_config
from tests.test_tools.tool_runner import run_tool


def evaluator_run(**options):
    return Config(dict(val_evaluator=dict(dict(type='CheckedCocoMetric', ann_file='val.json'),
                                          **options)))


@pytest.mark.parametrize('options', [
    dict(iou_thrs=[0.5, 0.75], classwise=False),
    dict(iou_thrs=0.5, metric_items=['mAP', 'mAP_50', 'AR@100']),
    dict(iou_thrs=[0.5, 0.55, 0.6, 0.65, 0.7, 0.75], classwise=True),
    dict(classwise=True, metric_items=['mAP_l', 'AR_l@1000']),
    dict(proposal_nums=(10, 100, 1000)),
    dict(proposal_nums=[1, 10, 100], metric_items=['mAP', 'mAP_50']),
    dict(metric=['bbox', 'proposal_fast'], proposal_nums=[10, 100, 1000],
         metric_items=['mAP', 'AR@1000']),
    dict(metric='proposal_fast', proposal_nums=[10, 50], iou_thrs=[0.5, 0.7]),
    dict(type='CocoMetric', format_only=True, outfile_prefix='work_dirs/results',
         iou_thrs=[0.6], proposal_nums=[10, 20]),  # nothing is evaluated
], ids=str)
def test_coco_evaluator_options_that_work_pass(options):
    check_evaluator_config(evaluator_run(**options), ('val_evaluator', ))


@pytest.mark.parametrize('options, message', [
    (dict(metric='box'), "val_evaluator.metric has ['box'], which CocoMetric does not compute; "
     'choose from bbox, segm, proposal, proposal_fast.'),
    (dict(metric_items='mAP'), "val_evaluator.metric_items is the string 'mAP', not a list of "
     "items; write val_evaluator.metric_items=['mAP']."),
    (dict(metric_items=['mAP', 'AP50']), "val_evaluator.metric_items ['AP50'] are not "
     'CocoMetric items; choose from mAP, mAP_50, mAP_75, mAP_s, mAP_m, mAP_l, AR@100, AR@300, '
     'AR@1000, AR_s@1000, AR_m@1000, AR_l@1000.'),
    (dict(format_only=True), 'val_evaluator.format_only=True writes the detections to '
     '<outfile_prefix>.bbox.json and computes no metric, but val_evaluator.outfile_prefix is '
     'not set; set it, e.g. val_evaluator.outfile_prefix=work_dirs/results (or '
     'format_only=False).'),
    (dict(type='CocoMetric', iou_thrs=[0.5, 0.75]), "val_evaluator.iou_thrs=[0.5, 0.75]: "
     "MMDetection's CocoMetric hands it to pycocotools as written, which fails on a list or a "
     'number (numpy >= 2.1) once the whole evaluation has run; set '
     "val_evaluator.type='CheckedCocoMetric', which passes it as an array, or leave iou_thrs "
     'unset.'),
    (dict(iou_thrs=[]), 'val_evaluator.iou_thrs=[]: give IoU thresholds between 0 and 1, e.g. '
     'val_evaluator.iou_thrs=[0.5, 0.75].'),
    (dict(iou_thrs=[50, 75]), 'val_evaluator.iou_thrs=[50, 75]: give IoU thresholds between 0 '
     'and 1'),
    (dict(iou_thrs=0.5), 'val_evaluator.iou_thrs=0.5 has no 0.75, the threshold of mAP_75 '
     '(pycocotools would report -1); add 0.75 to iou_thrs or set '
     "val_evaluator.metric_items=['mAP', 'mAP_50', 'mAP_s', 'mAP_m', 'mAP_l']."),
    (dict(iou_thrs=[0.6, 0.7], metric_items=['mAP', 'mAP_50']), 'val_evaluator.iou_thrs=[0.6, '
     "0.7] has no 0.5, the threshold of mAP_50 (pycocotools would report -1); add 0.5 to "
     "iou_thrs or set val_evaluator.metric_items=['mAP']."),
    (dict(iou_thrs=[0.5, 0.75], classwise=True), "val_evaluator.classwise=True reads each "
     "class's mAP_50 and mAP_75 at the 1st and 6th of iou_thrs, which are not 0.5 and 0.75 in "
     'val_evaluator.iou_thrs=[0.5, 0.75]; leave iou_thrs unset (0.5:0.05:0.95) or set '
     'val_evaluator.classwise=False.'),
    (dict(proposal_nums=[100]), "val_evaluator.proposal_nums=[100]: pycocotools' summary reads "
     'exactly three caps of detections an image; write three, e.g. '
     'val_evaluator.proposal_nums=[100, 300, 1000] (the default).'),
    (dict(proposal_nums=100, format_only=True, outfile_prefix='results'),
     'val_evaluator.proposal_nums=100: give caps of detections an image as a list of whole '
     'numbers, e.g. val_evaluator.proposal_nums=[100, 300, 1000] (the default).'),
    (dict(iou_thrs='0.5', format_only=True, outfile_prefix='results'),
     "val_evaluator.iou_thrs='0.5': give IoU thresholds between 0 and 1"),
    (dict(proposal_nums=[10, 20, 50]), 'val_evaluator.proposal_nums=[10, 20, 50] has no 100, '
     'the cap pycocotools computes mAP at (it would report -1); include 100, e.g. '
     'val_evaluator.proposal_nums=[10, 100, 1000].'),
    (dict(proposal_nums=[1, 10, 100], metric_items=['mAP', 'AR@300']), 'val_evaluator.'
     'metric_items has AR@300, which pycocotools measures at the 2nd of '
     'val_evaluator.proposal_nums=[1, 10, 100], so it would be mislabelled; leave proposal_nums '
     'unset (100, 300, 1000) or leave the AR items out of metric_items.'),
    (dict(metric='proposal', proposal_nums=[100, 300, 500]), 'val_evaluator.metric_items has '
     'AR@1000, which pycocotools measures at the 3rd of'),
], ids=str)
def test_coco_evaluator_options_that_cannot_work_are_named(options, message):
    with pytest.raises(ConfigError) as error:
        check_evaluator_config(evaluator_run(**options), ('val_evaluator', ))
    assert str(error.value).startswith(message)


def run_saving_best(save_best, **options):
    cfg = evaluator_run(**options)
    cfg.default_hooks = dict(checkpoint=dict(type='CheckpointHook', save_best=save_best))
    return cfg


@pytest.mark.parametrize('save_best, options', [
    ('coco/bbox_mAP', {}), ('auto', dict(metric_items=['mAP_50'])), (None, {}),
    (['coco/bbox_mAP_50', 'coco/bbox_mAP_l'], {}),
    ('coco/bbox_mAP_50', dict(metric_items=['mAP_50'])),
    ('val/bbox_mAP', dict(prefix='val')), ('coco/AR@100', dict(metric='proposal')),
    ('coco/AR@10', dict(metric='proposal_fast', proposal_nums=[10, 20, 30])),
    ('coco/person_precision', dict(classwise=True)),  # per-class keys are not checked
], ids=str)
def test_a_save_best_the_evaluator_reports_passes(save_best, options):
    check_evaluator_config(run_saving_best(save_best, **options), ('val_evaluator', ))


@pytest.mark.parametrize('save_best, options, message', [
    ('coco/bbox_mAP', dict(metric_items=['mAP_50', 'mAP_75']),
     "save_best='coco/bbox_mAP': the validation evaluator reports no coco/bbox_mAP, and the run "
     'would stop at its first validation; choose one of coco/bbox_mAP_50, coco/bbox_mAP_75.'),
    (['coco/bbox_mAP', 'bbox_mAP_50'], {}, 'reports no bbox_mAP_50, and the run would stop'),
    ('coco/bbox_mAP', dict(type='CocoMetric', format_only=True, outfile_prefix='results'),
     'it computes no metric (format_only=True); unset save_best.'),
], ids=str)
def test_a_save_best_the_evaluator_does_not_report_stops_the_run(save_best, options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_evaluator_config(run_saving_best(save_best, **options), ('val_evaluator', ))


def test_every_coco_metric_of_an_evaluator_is_checked_and_others_are_not():
    cfg = Config(dict(
        val_evaluator=[dict(type='VOCMetric', iou_thrs=[0.5, 0.75]),
                       dict(type='LVISMetric', metric_items=['APr']),
                       dict(type='Evaluator', metrics=[
                           dict(type='mmdet.CocoMetric', metric_items='mAP')])],
        test_evaluator=dict(type='CocoMetric', metric_items='mAP')))
    with pytest.raises(ConfigError, match=r"^val_evaluator\[2\]\.metrics\[0\]\.metric_items is "
                                          r"the string 'mAP'"):
        check_dataset_config(cfg, ('val_evaluator', ))
    check_evaluator_config(cfg, ('val_dataloader', ))  # no evaluator in the sections


@pytest.mark.parametrize('tool, split', [('tools/train.py', 'val'), ('tools/test.py', 'test')])
def test_tools_stop_on_an_evaluator_option_before_building_anything(tool, split, tmp_path):
    """Without the check, training runs an epoch, saves it and fails in pycocotools."""
    shapes = tmp_path / 'shapes'
    run_tool('tools/misc/make_synthetic_coco.py', shapes, '--train', '4', '--val', '2', '--size',
             '128')
    checkpoint = ('no_checkpoint_needed.pth', ) if tool == 'tools/test.py' else ()
    result = run_tool(
        tool, 'configs/nanodet_shufflenetv2_lightpan_shapes.py', *checkpoint, '--work-dir',
        tmp_path / 'work', '--cfg-options', f'train_dataloader.dataset.data_root={shapes}/',
        f'{split}_dataloader.dataset.data_root={shapes}/',
        f'{split}_evaluator.ann_file={shapes}/annotations/instances_val.json',
        f'{split}_evaluator.type=CocoMetric', f'{split}_evaluator.iou_thrs=[0.5,0.75]',
        'train_cfg.max_epochs=1', 'train_cfg.val_interval=1', 'train_dataloader.batch_size=4',
        *(f'{loader}_dataloader.{key}' for loader in ('train', split)
          for key in ('num_workers=0', 'persistent_workers=False')),
        'model.test_cfg.score_thr=0.0', check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {split}_evaluator.iou_thrs=[0.5, 0.75]: MMDetection's CocoMetric hands it to "
        'pycocotools as written, which fails on a list or a number (numpy >= 2.1) once the '
        f"whole evaluation has run; set {split}_evaluator.type='CheckedCocoMetric', which "
        'passes it as an array, or leave iou_thrs unset.']
    assert not list(tmp_path.rglob('*.pth'))
