"""MMDetection's DetInferencer runs every config of this project, as init_detector does."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet.apis import DetInferencer, inference_detector, init_detector
from mmdet.registry import MODELS

CONFIGS = sorted((Path(__file__).parents[2] / 'configs').glob('*.py'))


@pytest.mark.parametrize('config', CONFIGS, ids=[path.stem for path in CONFIGS])
def test_det_inferencer_runs_the_config(config, tmp_path):
    cfg = Config.fromfile(config)
    cfg.model.test_cfg.score_thr = 0.0  # random weights: keep boxes to compare
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    weights = tmp_path / 'weights.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=tuple(
                        f'class{i}' for i in range(cfg.model.bbox_head.num_classes))))), weights)
    image = tmp_path / 'image.jpg'
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 255, (180, 240, 3), np.uint8))

    inferencer = DetInferencer(model=cfg, weights=str(weights), device='cpu',
                               show_progress=False)
    result = inferencer(str(image), return_datasamples=True, no_save_vis=True)
    predicted = result['predictions'][0].pred_instances
    expected = inference_detector(init_detector(cfg, str(weights), device='cpu'),
                                  str(image)).pred_instances
    assert len(predicted) > 0
    assert torch.equal(predicted.labels, expected.labels)
    assert torch.allclose(predicted.bboxes, expected.bboxes)
    assert inferencer.model.dataset_meta['classes'][0] == 'class0'
