"""tools/train.py and tools/test.py end to end on the generated shapes dataset."""
import os
import re
import subprocess
import sys
from pathlib import Path

import mmengine
import pytest
import torch

from shufflenet_det.utils import safe_torch_load
from shufflenet_det.utils.run_config import build_detector
from shufflenet_det.utils.training_log import read_scalars
from tests.test_tools.tool_runner import REPO, run_tool

CONFIG = REPO / 'configs/nanodet_shufflenetv2_lightpan_shapes.py'
PLOT_CURVES = REPO / 'tools/analysis_tools/plot_curves.py'
# torchrun waits forever on a rank stuck in a gloo collective: fail instead of hanging CI.
DIST_TIMEOUT_S = 900
# What MMEngine's runner logs (on rank 0) in its runtime environment when 2 ranks run.
RUNTIME_ENV_OF_2_RANKS = ('Distributed launcher: pytorch\n    Distributed training: True\n'
                          '    GPU number: 2\n')


def shapes_options(data_root, max_epochs):
    return [
        '--cfg-options', f'data_root={data_root}/',
        f'train_dataloader.dataset.data_root={data_root}/',
        f'val_dataloader.dataset.data_root={data_root}/',
        f'test_dataloader.dataset.data_root={data_root}/',
        f'val_evaluator.ann_file={data_root}/annotations/instances_val.json',
        f'test_evaluator.ann_file={data_root}/annotations/instances_val.json',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False', f'train_cfg.max_epochs={max_epochs}',
        'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1'
    ]


@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    root = tmp_path_factory.mktemp('shapes')
    run_tool('tools/misc/make_synthetic_coco.py', root, '--train', '8', '--val', '4', '--size',
             '128')
    return root


def test_train_resume_and_test(shapes, tmp_path):
    work_dir = tmp_path / 'work'
    run_tool('tools/train.py', CONFIG, '--work-dir', work_dir, *shapes_options(shapes, 1))
    assert (work_dir / 'epoch_1.pth').exists()
    # --resume with no value continues from the latest checkpoint to the new planned end.
    result = run_tool('tools/train.py', CONFIG, '--work-dir', work_dir, '--resume',
                      *shapes_options(shapes, 2),
                      'model.test_cfg.score_thr=0.0')  # validation finds boxes: an mAP to plot
    assert 'resumed epoch: 1' in result.stdout + result.stderr
    assert (work_dir / 'epoch_2.pth').exists()

    out = tmp_path / 'results.pkl'
    result = run_tool('tools/test.py', CONFIG, work_dir / 'epoch_2.pth', '--work-dir',
                      tmp_path / 'test', '--out', out, '--show-dir', 'vis', '--classwise',
                      *shapes_options(shapes, 2),
                      'model.test_cfg.score_thr=0.0')  # an 8-image run scores low
    log = result.stdout + result.stderr
    assert len(re.findall(r'Average (Precision|Recall) +\(A[PR]\) @\[ IoU=', log)) == 12
    assert re.search(r'\| category +\| mAP', log) and '| triangle' in log
    results = mmengine.load(out)
    assert len(results) == 4 and {'img_id', 'pred_instances'} <= set(results[0])
    drawn = list((tmp_path / 'test').glob('*/vis/*.jpg'))
    assert len(drawn) == 4

    result = run_tool('tools/test.py', CONFIG, work_dir / 'epoch_2.pth', '--work-dir',
                      tmp_path / 'tta', '--tta', *shapes_options(shapes, 2),
                      'model.test_cfg.score_thr=0.0')
    assert 'DetTTAModel' in result.stdout + result.stderr
    assert 'coco/bbox_mAP:' in result.stdout + result.stderr

    png = tmp_path / 'curves.png'
    result = run_tool(PLOT_CURVES, work_dir, '--out', png)
    scalars = re.fullmatch(rf'wrote {re.escape(str(png))} from (\S+scalars\.json)\n', result.stdout)
    assert png.stat().st_size > 10_000 and scalars, result.stdout
    losses, metrics = read_scalars(Path(scalars.group(1)))
    # the newest run, the resumed one: its training record at the end of epoch 2 (iteration
    # 4), then the validation that followed
    assert [iteration for iteration, _ in losses.get('loss', [])] == [4], losses
    assert [iteration for iteration, _ in metrics.get('coco/bbox_mAP', [])] == [4], metrics


def test_test_refuses_weights_of_another_detector_or_classes_and_an_out_folder(shapes,
                                                                              tmp_path):
    def save(name, options=None, classes=None):
        _, model = build_detector(str(CONFIG), options)
        meta = {'dataset_meta': {'classes': classes}} if classes else {}
        torch.save({'state_dict': model.state_dict(), 'meta': meta}, tmp_path / name)

    _, fcos = build_detector(str(REPO / 'configs/fcos_shufflenetv2_coco.py'))
    torch.save({'state_dict': fcos.state_dict()}, tmp_path / 'fcos.pth')
    save('pets.pth', classes=['cat', 'dog', 'bird'])
    save('reordered.pth', classes=['square', 'circle', 'triangle'])
    save('more.pth', {'model.bbox_head.num_classes': 4}, ['square', 'star', 'triangle', 'circle'])
    (tmp_path / 'out.pkl').mkdir()
    no_hook = ('custom_hooks=[]', )  # the shapes config's ClassTransferHook left out
    for name, extra, message in (
            ('fcos.pth', (), f'fcos.pth does not match the detector of {CONFIG}: missing keys'),
            ('pets.pth', (), f'pets.pth was trained for the classes cat, dog, bird, not those '
                             f'of {CONFIG} (circle, square, triangle); give the config it was '
                             'trained with'),
            ('reordered.pth', no_hook, '(the same classes in another order)'),
            ('more.pth', no_hook, 'more.pth was trained for the classes square, star'),
            ('more.pth', ('--out', tmp_path / 'out.pkl'), 'out.pkl is a folder')):
        result = run_tool('tools/test.py', CONFIG, tmp_path / name, '--work-dir',
                          tmp_path / 'test', *shapes_options(shapes, 1), *extra, check=False)
        assert result.returncode == 2 and 'Traceback' not in result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith('error: ') and message in last, last
    assert not list(tmp_path.glob('test/**/*.json'))  # nothing evaluated
    # with the hook, each class's scores are taken by name from the checkpoint's four
    result = run_tool('tools/test.py', CONFIG, tmp_path / 'more.pth', '--work-dir',
                      tmp_path / 'test', *shapes_options(shapes, 1))
    assert 'coco/bbox_mAP:' in result.stdout + result.stderr


def test_amp_on_cpu_is_one_clear_sentence(shapes, tmp_path):
    result = run_tool('tools/train.py', CONFIG, '--amp', '--work-dir', tmp_path,
                      *shapes_options(shapes, 1), check=False)
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    assert result.stderr.strip() == ("error: --amp needs a CUDA GPU (MMEngine's AmpOptimWrapper "
                                     'does not run on CPU); train without --amp.')


def test_distributed_training_and_testing_on_cpu(shapes, tmp_path):
    """Two gloo processes train (rank 0 alone writes the checkpoint), then test together."""
    work_dir = tmp_path / 'dist'
    env = {**os.environ, 'PYTHON': sys.executable, 'PORT': '29517'}
    train = subprocess.run(
        ['bash', 'tools/dist_train.sh', str(CONFIG), '2', '--work-dir', str(work_dir),
         *shapes_options(shapes, 1)], capture_output=True, text=True, cwd=REPO, env=env,
        timeout=DIST_TIMEOUT_S)
    # torchrun: every rank exited 0 (rank 0's log tells how far the run got when one did not)
    assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-3000:]
    log = train.stdout + train.stderr
    assert RUNTIME_ENV_OF_2_RANKS in log
    # 8 images in batches of 4 on each of 2 ranks: 1 iteration an epoch (2 on one process)
    assert 'Epoch(train) [1][1/1]' in log
    assert 'Epoch(val) [1][1/1]' in log  # logged once rank 1's results were gathered
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['epoch_1.pth']

    out = tmp_path / 'dist_results.pkl'
    test = subprocess.run(
        ['bash', 'tools/dist_test.sh', str(CONFIG), str(work_dir / 'epoch_1.pth'), '2',
         '--work-dir', str(work_dir), '--out', str(out), *shapes_options(shapes, 1),
         'model.test_cfg.score_thr=0.0'], capture_output=True, text=True, cwd=REPO, env=env,
        timeout=DIST_TIMEOUT_S)
    assert test.returncode == 0, test.stdout[-2000:] + test.stderr[-3000:]
    log = test.stdout + test.stderr
    assert RUNTIME_ENV_OF_2_RANKS in log and 'coco/bbox_mAP:' in log
    # each rank tested 2 of the 4 images; rank 0 gathered both halves
    assert [result['img_id'] for result in mmengine.load(out)] == [1, 2, 3, 4]


def test_diverging_training_stops_naming_the_iteration_and_saves_nothing_spoiled(shapes,
                                                                                 tmp_path):
    """A learning rate of 1e4 turns the loss or the gradients NaN within a few iterations."""
    result = run_tool('tools/train.py', CONFIG, '--work-dir', tmp_path,
                      *shapes_options(shapes, 6), 'optim_wrapper.optimizer.lr=1e4',
                      'randomness.seed=0', check=False)
    assert result.returncode != 0
    match = re.search(r'NonFiniteLossError: Training stopped at iteration (\d+): the (loss|'
                      r'gradient norm) is (nan|inf)', result.stderr)
    assert match, result.stderr[-3000:]
    stopped_at = int(match.group(1))
    checkpoints = sorted(tmp_path.glob('epoch_*.pth'))
    # 2 iterations an epoch: a checkpoint exists for every epoch that ended before the stop.
    assert len(checkpoints) == (stopped_at - 1) // 2
    for path in checkpoints:
        state = safe_torch_load(str(path))['state_dict']
        assert all(torch.isfinite(value).all() for value in state.values())
