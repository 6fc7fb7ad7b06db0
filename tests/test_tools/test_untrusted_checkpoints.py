"""Every command-line entry point that loads a checkpoint refuses one whose pickle would run
code, says so, writes nothing, and the payload never runs.

Each case runs a real tool as a user would (``python tools/...`` from the repository root) on a
checkpoint whose ``state_dict`` holds an object that, if unpickled, would run
``touch MARKER`` through ``os.system``.
"""
import pytest
import torch

from tests.malicious_pickles import Payload
from tests.test_tools.tool_runner import REPO, run_tool

CONFIG = 'configs/nanodet_shufflenetv2_lightpan_shapes.py'


@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    """A tiny generated dataset: Runner-based tools build their dataloaders and evaluators
    (which read the annotation file) before they load any checkpoint."""
    root = tmp_path_factory.mktemp('shapes')
    run_tool('tools/misc/make_synthetic_coco.py', root, '--train', '2', '--val', '2', '--size',
             '64')
    return root


def data_options(root):
    """``--cfg-options`` values pointing the config at the generated dataset, no workers."""
    options = [f'data_root={root}/', f'val_evaluator.ann_file={root}/annotations/'
               'instances_val.json', f'test_evaluator.ann_file={root}/annotations/'
               'instances_val.json']
    for split in ('train', 'val', 'test'):
        options += [f'{split}_dataloader.dataset.data_root={root}/',
                    f'{split}_dataloader.num_workers=0',
                    f'{split}_dataloader.persistent_workers=False']
    return options


def pretrained(evil):
    """``--cfg-options`` values giving the backbone an ``init_cfg`` Pretrained on ``evil``."""
    return ['model.backbone.init_cfg.type=Pretrained',
            f'model.backbone.init_cfg.checkpoint={evil}']


# Each entry: the tool's arguments, and the files (in the test's tmp dir) it must not have
# written. In the arguments, {evil} is the checkpoint, {evil_config} a config whose backbone is
# Pretrained on it, {image} an image, {tmp} the test's tmp dir; DATA expands to the dataset
# options, PRETRAINED to the backbone's init_cfg options.
ENTRY_POINTS = {
    'train --resume': (
        ['tools/train.py', CONFIG, '--work-dir', '{tmp}/work', '--resume', '{evil}',
         '--cfg-options', 'DATA'], []),
    'train --resume (latest in the work dir)': (
        ['tools/train.py', CONFIG, '--work-dir', '{tmp}/work', '--resume', '--cfg-options',
         'DATA'], []),
    'train load_from': (
        ['tools/train.py', CONFIG, '--work-dir', '{tmp}/work', '--cfg-options',
         'load_from={evil}', 'DATA'], []),
    'train init_cfg Pretrained': (
        ['tools/train.py', CONFIG, '--work-dir', '{tmp}/work', '--cfg-options', 'PRETRAINED',
         'DATA'], []),
    'test': (
        ['tools/test.py', CONFIG, '{evil}', '--work-dir', '{tmp}/work', '--out',
         '{tmp}/results.pkl', '--cfg-options', 'DATA'], ['results.pkl']),
    'converter': (
        ['tools/model_converters/shufflenet_v2_to_mmdet.py', '{evil}', '{tmp}/out/converted.pth'],
        ['out/converted.pth', 'out/converted.pth.part']),
    'image_demo --weights': (
        ['tools/image_demo.py', '{image}', CONFIG, '--weights', '{evil}', '--out-file',
         '{tmp}/pred.jpg'], ['pred.jpg']),
    'pytorch2onnx --weights': (
        ['tools/deployment/pytorch2onnx.py', CONFIG, '--weights', '{evil}', '--out',
         '{tmp}/model.onnx'], ['model.onnx']),
    # Tools that build a detector from a config (build_detector: init_weights) load the
    # backbone's init_cfg checkpoint.
    'get_flops init_cfg Pretrained': (
        ['tools/analysis_tools/get_flops.py', CONFIG, '--cfg-options', 'PRETRAINED'], []),
}


@pytest.mark.parametrize('entry', list(ENTRY_POINTS))
def test_code_running_checkpoint_is_refused(entry, shapes, tmp_path):
    marker = tmp_path / 'payload_ran'
    # Planted as the work dir's latest checkpoint, for the bare --resume case.
    (tmp_path / 'work').mkdir()
    evil = tmp_path / 'work/epoch_1.pth'
    torch.save({'state_dict': {'conv1.conv.weight': Payload(marker)}}, evil)
    (tmp_path / 'work/last_checkpoint').write_text(str(evil))
    planted = evil.read_bytes()
    evil_config = tmp_path / 'evil_config.py'
    evil_config.write_text(f'_base_ = {str(REPO / CONFIG)!r}\nmodel = dict(backbone=dict('
                           f'init_cfg=dict(type="Pretrained", checkpoint={str(evil)!r})))\n')
    expand = dict(DATA=data_options(shapes), PRETRAINED=pretrained(evil))
    values = dict(evil=evil, evil_config=evil_config, image=shapes / 'val/000001.jpg',
                  tmp=tmp_path)
    template, must_not_exist = ENTRY_POINTS[entry]
    args = []
    for arg in template:
        args += expand.get(arg, [arg.format(**values)])

    result = run_tool(*args, check=False)

    output = result.stdout[-3000:] + result.stderr[-3000:]
    assert not marker.exists(), f'the payload ran:\n{output}'
    assert result.returncode != 0, output
    # The last thing the user reads names the file and what it asked for.
    last_line = result.stderr.strip().splitlines()[-1]
    assert f'refusing to load {evil}' in last_line and 'system' in last_line, output
    for name in must_not_exist:
        assert not (tmp_path / name).exists(), f'{name} was written:\n{output}'
    assert evil.read_bytes() == planted, 'the planted checkpoint was overwritten'
