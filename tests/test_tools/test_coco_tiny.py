"""Real COCO data: short FCOS and NanoDet-style runs on coco_tiny must learn (overfitting check).

Uses ../shared/data/coco_tiny (80 real COCO train2017 images: category ids with gaps, crowd
boxes); skipped where it is absent. Each run: at most 350 iterations from scratch at the
smallest size at which it clearly learns, on one thread (the same run whether the suite runs in
parallel or not), then tools/test.py on the same training images.
"""
import os
import re
import subprocess
import sys
from itertools import chain, islice
from pathlib import Path

import mmengine
import pytest

from tests.shared_data import COCO_TINY, requires_shared
from tests.small_pipelines import small_pipelines

REPO = Path(__file__).parents[2]
# Several times what a run takes on 2 CPU cores: a hung run fails instead of stalling CI.
TRAIN_TIMEOUT_S = 3600
TEST_TIMEOUT_S = 900

OVERRIDES = '''
_base_ = '{base}'
data_root = '{root}/'
{pipelines}
split = dict(data_root=data_root, ann_file='annotations/instances_train2017.json',
             data_prefix=dict(img='train2017/'))
train_dataloader = dict(batch_size=8, num_workers=2, dataset=dict(
    **split, filter_cfg=dict(filter_empty_gt=True, min_size=0), pipeline=train_pipeline))
test_dataloader = dict(batch_size=8, dataset=dict(**split, pipeline=test_pipeline))
test_evaluator = dict(ann_file=data_root + 'annotations/instances_train2017.json')
val_dataloader = None
val_cfg = None
val_evaluator = None
randomness = dict(seed=0)  # the same run every time: a pass here is a pass in CI
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters={iters})
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50)]
optim_wrapper = dict(_delete_=True, type='FiniteLossOptimWrapper',
                     optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
                     clip_grad=dict(max_norm=35, norm_type=2))
default_hooks = dict(checkpoint=dict(interval={iters}, by_epoch=False),
                     logger=dict(interval=50))
log_processor = dict(by_epoch=False)
'''


@pytest.mark.slow
@requires_shared(COCO_TINY)
@pytest.mark.parametrize('config, keep_ratio, size, iters', [
    # bbox mAP of these seeded one-thread runs after 150 / 200 / 250 iterations: 0.020, 0.030,
    # 0.066 (about 2 s an iteration with its auxiliary head; 256x256: 0.058 after 200)
    ('nanodet-plus_shufflenetv2_ghostpan_320_coco.py', False, 192, 250),
    # after 300 / 350 / 400 iterations: 0.030, 0.050, 0.083 (256x256: 0.023, 0.041, 0.061)
    ('fcos_shufflenetv2_coco.py', True, 192, 350),
    # after 200 / 250 / 300 iterations: 0.042, 0.071, 0.121
    ('nanodet_shufflenetv2_lightpan_320_coco.py', False, 192, 250),
    # bbox mAP after 250 iterations: 0.046 (0.7 s an iteration)
    ('yolov8_shufflenetv2_320_coco.py', True, 192, 250),
])
def test_short_training_on_coco_tiny_learns(tmp_path, config, keep_ratio, size, iters):
    cfg = tmp_path / f'tiny_{config}'
    pipelines = small_pipelines((size, size), keep_ratio=keep_ratio, flip=True)
    cfg.write_text(OVERRIDES.format(base=REPO / 'configs' / config, root=COCO_TINY,
                                    pipelines=pipelines, iters=iters))
    work_dir = tmp_path / 'work'
    train = subprocess.run([sys.executable, 'tools/train.py', str(cfg), '--work-dir',
                            str(work_dir)], capture_output=True, text=True, cwd=REPO,
                           env={**os.environ, 'OMP_NUM_THREADS': '1'}, timeout=TRAIN_TIMEOUT_S)
    assert train.returncode == 0, train.stderr[-3000:]
    losses = '\n'.join(re.findall(r'Iter\(train\).*', train.stdout + train.stderr))
    out = tmp_path / 'results.pkl'
    test = subprocess.run([sys.executable, 'tools/test.py', str(cfg),
                           str(work_dir / f'iter_{iters}.pth'), '--work-dir', str(work_dir),
                           '--out', str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=TEST_TIMEOUT_S)
    assert test.returncode == 0, test.stderr[-3000:]
    match = re.search(r'coco/bbox_mAP: (\d+\.\d+)', test.stdout + test.stderr)
    assert match, losses + test.stdout[-3000:]
    assert float(match.group(1)) >= 0.03, f'bbox mAP {match.group(1)} after {iters} iterations' \
        + losses
    results = mmengine.load(out)
    assert len(results) == 80 and len(results[0]['pred_instances']['bboxes']) > 0


@requires_shared(COCO_TINY)
@pytest.mark.parametrize('config', sorted((REPO / 'configs').glob('*_coco.py')),
                         ids=lambda p: p.stem)
def test_shipped_pipelines_load_real_coco(config):
    """Each config's own train and test pipelines run on real COCO images and annotations."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    import shufflenet_det  # noqa: F401

    cfg = Config.fromfile(str(config))
    init_default_scope('mmdet')
    for split, loader in (('train', cfg.train_dataloader), ('val', cfg.test_dataloader)):
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
        loader.dataset.update(data_root=f'{COCO_TINY}/',
                              ann_file=f'annotations/instances_{split}2017.json',
                              data_prefix=dict(img=f'{split}2017/'))
        batches = iter(Runner.build_dataloader(loader, seed=0))
        batch = next(batches)
        assert len(batch['inputs']) == 2 and batch['inputs'][0].shape[0] == 3
        if split == 'train':
            # YOLOv8's mosaic + affine crop may leave an image without boxes, and keeps it
            # (CachedMosaic passes its first 5 images on alone, and the crop is sized for a
            # mosaic): most images of the first 4 batches have boxes
            samples = [s for b in islice(chain([batch], batches), 4) for s in b['data_samples']]
            assert sum(len(s.gt_instances) > 0 for s in samples) >= len(samples) // 2
