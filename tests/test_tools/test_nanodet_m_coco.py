"""NanoDet-m's published COCO weights, converted: tools/test.py scores on coco_tiny what NanoDet's
own processing scores, and fine-tuning from them on a few COCO classes beats training from
scratch.

Uses ../shared/data/nanodet_m_coco (the weights, NanoDet's reference results) and
../shared/data/coco_tiny (80 real COCO val2017 images); skipped where they are absent.
"""
import json
import re

import pytest

from tests.runtime_runner import results_map, run_runtime, runtime_map
from tests.runtimes import requires
from tests.shared_data import COCO_TINY, NANODET_M, requires_shared
from tests.test_tools.tool_runner import REPO, run_tool

# the conversions of NanoDet-m's weights (tests/conftest.py) are made once, on one worker
pytestmark = [requires_shared(NANODET_M, COCO_TINY), pytest.mark.xdist_group('nanodet_m')]

EVALUATE = '''
_base_ = '{base}'
data_root = '{root}/'
split = dict(data_root=data_root, ann_file='annotations/instances_{split}2017.json',
             data_prefix=dict(img='{split}2017/'))
test_dataloader = dict(batch_size=8, dataset=dict(**split))
test_evaluator = dict(ann_file=data_root + 'annotations/instances_{split}2017.json')
'''
# an InfiniteSampler: at each end of the data MMEngine's iteration-based loop sleeps 2 s
FINE_TUNE = '''
_base_ = '{base}'
data_root = '{root}/'
metainfo = dict(classes={classes})
model = dict(bbox_head=dict(num_classes={num_classes}))
train_dataloader = dict(
    batch_size=8, num_workers=2, sampler=dict(type='InfiniteSampler'),
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train2017.json',
                 data_prefix=dict(img='train2017/'),
                 filter_cfg=dict(filter_empty_gt=True, min_size=0)))
test_dataloader = dict(batch_size=8, dataset=dict(
    data_root=data_root, metainfo=metainfo, ann_file='annotations/instances_val2017.json',
    data_prefix=dict(img='val2017/')))
test_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
val_dataloader = None
val_cfg = None
val_evaluator = None
randomness = dict(seed=0)
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters={iters})
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10)]
optim_wrapper = dict(_delete_=True, type='FiniteLossOptimWrapper', clip_grad=dict(max_norm=35),
                     optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05))
custom_hooks = [dict(type='ClassTransferHook'), dict(type='BNRecalibrationHook')]
default_hooks = dict(checkpoint=dict(interval={iters}, by_epoch=False), logger=dict(interval=10))
log_processor = dict(by_epoch=False)
load_from = {load_from!r}
'''


def bbox_map(output: str) -> float:
    match = re.search(r'coco/bbox_mAP: (\d+\.\d+)', output)
    assert match, output[-3000:]
    return float(match.group(1))


@pytest.mark.parametrize('name, config, reference', [
    ('nanodet_m_320', 'nanodet_shufflenetv2_lightpan_320_coco.py', 0.250),
    ('nanodet_m_416', 'nanodet_shufflenetv2_lightpan_416_coco.py', 0.262),
])
def test_converted_weights_score_what_nanodet_scores(tmp_path, nanodet_m_checkpoint, name, config,
                                                    reference):
    checkpoint = nanodet_m_checkpoint(name)
    cfg = tmp_path / f'coco_tiny_{config}'
    cfg.write_text(EVALUATE.format(base=REPO / 'configs' / config, root=COCO_TINY, split='val'))
    result = run_tool('tools/test.py', cfg, checkpoint, '--work-dir', tmp_path / 'work',
                      timeout=900)
    measured = bbox_map(result.stdout + result.stderr)
    print(f'{name} with {config}: bbox mAP {measured} on coco_tiny val (NanoDet: {reference})')
    assert abs(measured - reference) <= 0.005


@pytest.mark.slow
def test_fine_tuning_from_coco_weights_beats_training_from_scratch(tmp_path,
                                                                   nanodet_m_checkpoint):
    checkpoint = nanodet_m_checkpoint('nanodet_m_320')
    # COCO names in the annotation file's order (MMDetection numbers labels in that order), at
    # other positions than in the checkpoint's 80 classes.
    classes = ('person', 'car', 'dog')
    maps = {}
    for start, load_from in (('coco', str(checkpoint)), ('scratch', None)):
        cfg = tmp_path / f'fine_tune_{start}.py'
        cfg.write_text(FINE_TUNE.format(
            base=REPO / 'configs/nanodet_shufflenetv2_lightpan_320_coco.py', root=COCO_TINY,
            classes=classes, num_classes=len(classes), iters=30, load_from=load_from))
        work_dir = tmp_path / start
        train = run_tool('tools/train.py', cfg, '--work-dir', work_dir, timeout=1800)
        log = train.stdout + train.stderr
        if start == 'coco':
            assert ("ClassTransferHook: 3 of 3 classes take their scores from the checkpoint's "
                    "80 classes: 'person', 'car', 'dog'") in log
            assert re.search(r'BNRecalibrationHook: the statistics of 67 BatchNorm layers '
                             r're-estimated on \d+ training batches', log)
        test = run_tool('tools/test.py', cfg, work_dir / 'iter_30.pth', '--work-dir', work_dir,
                        timeout=900)
        maps[start] = bbox_map(test.stdout + test.stderr)
    print(f'bbox mAP of {classes} on coco_tiny val after 30 iterations: {maps}')
    assert maps['coco'] >= 0.2 and maps['coco'] >= maps['scratch'] + 0.15, maps


CALIBRATE = '''
train_dataloader = dict(dataset=dict(
    data_root=data_root, ann_file='annotations/instances_train2017.json',
    data_prefix=dict(img='train2017/')))
'''


@pytest.mark.slow
@requires('ncnn', 'pnnx', 'openvino')
def test_exported_models_score_what_tools_test_scores(tmp_path, nanodet_m_checkpoint,
                                                      nanodet_m_export):
    """ONNX, OpenVINO and ncnn exports of the converted NanoDet-m score within 0.002 of
    tools/test.py on coco_tiny val, through the config's decoding (test_deployed.py) and
    through the standalone runtime; INT8, calibrated on coco_tiny train, loses at most 0.01,
    and the runtime scores it within 0.002 of test_deployed.py."""
    checkpoint = nanodet_m_checkpoint('nanodet_m_320')
    cfg = tmp_path / 'coco_tiny_nanodet_320.py'
    cfg.write_text(EVALUATE.format(base=REPO / 'configs/nanodet_shufflenetv2_lightpan_320_coco.py',
                                   root=COCO_TINY, split='val') + CALIBRATE)
    work = ('--work-dir', tmp_path / 'work')
    test = run_tool('tools/test.py', cfg, checkpoint, *work, timeout=900)
    reference = bbox_map(test.stdout + test.stderr)

    onnx = nanodet_m_export('onnx')
    int8 = tmp_path / 'nanodet_int8.onnx'
    quantize = run_tool('tools/deployment/quantize.py', cfg, onnx, '--out', int8,
                        '--calib-images', '40', '--seed', '1', '--compare', '--threads', '1',
                        '--repeats', '3', *work, timeout=900)
    assert 'calibrating on 40 train images (seed 1, minmax)' in quantize.stdout + quantize.stderr
    fp32_map, int8_map = (float(v) for v in re.findall(
        r'^\| (?:FP32|INT8) \| (\d\.\d+) \|', quantize.stdout, re.MULTILINE))
    assert abs(fp32_map - reference) <= 0.002
    assert int8_map >= reference - 0.01, quantize.stdout[-2000:]

    maps = {}
    for name, model, backend in (
            ('ONNX Runtime', onnx, None), ('INT8 ONNX Runtime', int8, None),
            ('ncnn', nanodet_m_export('ncnn'), None),
            ('OpenVINO IR', nanodet_m_export('openvino'), None),
            ('OpenVINO from ONNX', onnx, 'openvino')):
        extra = ('--backend', backend) if backend else ()
        # the detections too, to score unrounded (CocoMetric prints 3 decimals)
        prefix = tmp_path / ('deployed_' + name.replace(' ', '_'))
        outfile = ('--cfg-options', f'test_evaluator.outfile_prefix={prefix}')
        result = run_tool('tools/deployment/test_deployed.py', cfg, model, *extra, *outfile,
                          *work, timeout=900)
        maps[name] = bbox_map(result.stdout + result.stderr)
    print(f'bbox mAP on coco_tiny val: tools/test.py {reference}, deployed {maps}')
    for name in ('ONNX Runtime', 'ncnn', 'OpenVINO IR', 'OpenVINO from ONNX'):
        assert abs(maps[name] - reference) <= 0.002, (name, maps[name], reference)
    assert abs(maps['INT8 ONNX Runtime'] - int8_map) <= 1e-9

    # the standalone runtime, without PyTorch: its JSON scored by pycocotools
    runtime = {}
    for name, model in (('ONNX Runtime', onnx), ('INT8 ONNX Runtime', int8),
                        ('ncnn', nanodet_m_export('ncnn')),
                        ('OpenVINO IR', nanodet_m_export('openvino'))):
        detections = tmp_path / f'{len(runtime)}.json'
        run_runtime(model, COCO_TINY / 'val2017', '--json', detections, '--threads', '1')
        runtime[name] = runtime_map(detections, COCO_TINY / 'annotations/instances_val2017.json')
    print(f'bbox mAP on coco_tiny val: python -m shufflenet_det_runtime {runtime}')
    for name in ('ONNX Runtime', 'ncnn', 'OpenVINO IR'):
        assert abs(runtime[name] - reference) <= 0.002, (name, runtime[name], reference)
    # INT8's figure from test_deployed.py's own detections, unrounded
    int8_detections = tmp_path / 'deployed_INT8_ONNX_Runtime.bbox.json'
    int8_deployed = results_map(json.loads(int8_detections.read_text()),
                                COCO_TINY / 'annotations/instances_val2017.json')
    print(f'INT8 unrounded: test_deployed.py {int8_deployed:.5f}, runtime '
          f'{runtime["INT8 ONNX Runtime"]:.5f}')
    assert abs(runtime['INT8 ONNX Runtime'] - int8_deployed) <= 0.002
