"""Real COCO data: short training runs of each kind of detector on coco_tiny must learn
(an overfitting check), and each config's pipelines must load it.

Uses ../shared/data/coco_tiny (real COCO train2017 images: category ids with gaps, crowd boxes);
skipped where it is absent. Each run: the first 16 training images that hold boxes, 150
iterations from scratch at 192x192, on one thread (the same run whether the suite runs in
parallel or not), then tools/test.py on the same images.
"""
import json
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
IMAGES = 16
ITERS = 150

# An InfiniteSampler: at each end of the data MMEngine's iteration-based loop sleeps 2 s (half
# to three quarters of these runs' time with the default sampler)
OVERRIDES = '''
_base_ = '{base}'
data_root = '{root}/'
{pipelines}
split = dict(data_root=data_root, ann_file='{ann_file}', data_prefix=dict(img='train2017/'))
train_dataloader = dict(batch_size=4, num_workers=2, sampler=dict(type='InfiniteSampler'),
                        dataset=dict(**split, pipeline=train_pipeline))
test_dataloader = dict(batch_size=8, dataset=dict(**split, pipeline=test_pipeline))
test_evaluator = dict(ann_file='{ann_file}')
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


def first_images_with_boxes(out: Path, count: int) -> Path:
    """coco_tiny's training annotations cut to the first ``count`` images that hold a box."""
    coco = json.loads((COCO_TINY / 'annotations/instances_train2017.json').read_text())
    with_boxes = {a['image_id'] for a in coco['annotations'] if not a['iscrowd']}
    ids = set([image['id'] for image in coco['images'] if image['id'] in with_boxes][:count])
    coco['images'] = [image for image in coco['images'] if image['id'] in ids]
    coco['annotations'] = [a for a in coco['annotations'] if a['image_id'] in ids]
    out.write_text(json.dumps(coco))
    return out


@pytest.mark.slow
@requires_shared(COCO_TINY)
@pytest.mark.parametrize('config, keep_ratio', [
    # bbox mAP of these seeded one-thread runs after 100 / 150 / 200 iterations (docs/tests.md)
    # 0.082 / 0.134 / 0.228 (about 0.5 s an iteration with its auxiliary head)
    ('nanodet-plus_shufflenetv2_ghostpan_320_coco.py', False),
    # 0.057 / 0.136 / 0.178 (the others: about 0.17 s an iteration)
    ('fcos_shufflenetv2_coco.py', True),
    # 0.109 / 0.122 / 0.327
    ('nanodet_shufflenetv2_lightpan_320_coco.py', False),
    # 0.047 / 0.123 / 0.292
    ('yolov8_shufflenetv2_320_coco.py', True),
])
def test_short_training_on_coco_tiny_learns(tmp_path, config, keep_ratio):
    cfg = tmp_path / f'tiny_{config}'
    ann_file = first_images_with_boxes(tmp_path / 'instances_train.json', IMAGES)
    pipelines = small_pipelines((192, 192), keep_ratio=keep_ratio, flip=True)
    cfg.write_text(OVERRIDES.format(base=REPO / 'configs' / config, root=COCO_TINY,
                                    ann_file=ann_file, pipelines=pipelines, iters=ITERS))
    work_dir = tmp_path / 'work'
    train = subprocess.run([sys.executable, 'tools/train.py', str(cfg), '--work-dir',
                            str(work_dir)], capture_output=True, text=True, cwd=REPO,
                           env={**os.environ, 'OMP_NUM_THREADS': '1'}, timeout=TRAIN_TIMEOUT_S)
    assert train.returncode == 0, train.stderr[-3000:]
    losses = '\n'.join(re.findall(r'Iter\(train\).*', train.stdout + train.stderr))
    out = tmp_path / 'results.pkl'
    test = subprocess.run([sys.executable, 'tools/test.py', str(cfg),
                           str(work_dir / f'iter_{ITERS}.pth'), '--work-dir', str(work_dir),
                           '--out', str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=TEST_TIMEOUT_S)
    assert test.returncode == 0, test.stderr[-3000:]
    match = re.search(r'coco/bbox_mAP: (\d+\.\d+)', test.stdout + test.stderr)
    assert match, losses + test.stdout[-3000:]
    assert float(match.group(1)) >= 0.05, f'bbox mAP {match.group(1)} after {ITERS} iterations' \
        + losses
    results = mmengine.load(out)
    assert len(results) == IMAGES and len(results[0]['pred_instances']['bboxes']) > 0


@requires_shared(COCO_TINY)
@pytest.mark.parametrize('config', sorted((REPO / 'configs').glob('*_coco.py')),
                         ids=lambda p: p.stem)
def test_shipped_pipelines_load_real_coco(config):
    """Each config's own train and test pipelines run on real COCO images and annotations."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner, set_random_seed

    import shufflenet_det  # noqa: F401

    cfg = Config.fromfile(str(config))
    init_default_scope('mmdet')
    # the transforms draw from the global generators (the loader's seed reaches only workers):
    # the same images and crops in every run
    set_random_seed(0)
    for split, loader in (('train', cfg.train_dataloader), ('val', cfg.test_dataloader)):
        loader.update(batch_size=2, num_workers=0, persistent_workers=False)
        loader.dataset.update(data_root=f'{COCO_TINY}/',
                              ann_file=f'annotations/instances_{split}2017.json',
                              data_prefix=dict(img=f'{split}2017/'))
        batches = iter(Runner.build_dataloader(loader, seed=0))
        batch = next(batches)
        assert len(batch['inputs']) == 2 and batch['inputs'][0].shape[0] == 3
        if split == 'train':
            # CachedMosaic (YOLOv8's pipeline) passes its first 4 images on alone, and the
            # affine crop sized for a mosaic leaves them without boxes; after those, the crop may
            # still leave an image without boxes, kept as a negative (FilterAnnotations'
            # keep_empty=False): most of the next 8 images have boxes
            warm_up = 4 if any(t['type'] == 'CachedMosaic' for t in loader.dataset.pipeline) else 0
            samples = list(islice((s for b in chain([batch], batches) for s in b['data_samples']),
                                  warm_up, warm_up + 8))
            assert sum(len(s.gt_instances) > 0 for s in samples) >= len(samples) // 2
