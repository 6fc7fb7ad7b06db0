"""Every config in configs/ and its subfolders (``_base_`` aside) builds, runs a forward pass
and takes a training step."""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs

CONFIG_DIR = Path(__file__).parents[1] / 'configs'
CONFIGS = sorted(path for path in CONFIG_DIR.rglob('*.py')
                 if '_base_' not in path.relative_to(CONFIG_DIR).parts)


def config_id(path: Path) -> str:
    """``sub/name`` for ``configs/sub/name.py``: unique, and the plain name at the top."""
    return path.relative_to(CONFIG_DIR).with_suffix('').as_posix()


def build_detector(path):
    cfg = Config.fromfile(str(path))
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    model = MODELS.build(cfg.model)
    model.init_weights()
    return cfg, model


@pytest.mark.parametrize('path', CONFIGS, ids=config_id)
def test_config_forward_and_train_step(path):
    torch.manual_seed(0)
    cfg, model = build_detector(path)
    num_classes = model.bbox_head.num_classes
    batch = demo_mm_inputs(2, (3, 128, 128), num_items=[3, 2], num_classes=num_classes)
    data = model.data_preprocessor(batch, training=True)

    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    parts = [part for part in ('backbone', 'neck', 'bbox_head', 'aux_neck', 'aux_head')
             if hasattr(model, part)]
    before = {part: [p.detach().clone() for p in getattr(model, part).parameters()]
              for part in parts}
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    optim_wrapper.update_params(loss)
    for part in parts:  # the step reaches every part of the detector
        after = getattr(model, part).parameters()
        assert any(not torch.equal(a, b) for a, b in zip(after, before[part])), part

    model.eval()
    with torch.no_grad():
        results = model.predict(data['inputs'], data['data_samples'])
    assert len(results) == 2
    for result in results:
        assert result.pred_instances.bboxes.shape[1] == 4
        assert (result.pred_instances.labels < num_classes).all()


@pytest.mark.parametrize('config, size, params, gflops', [
    ('nanodet_shufflenetv2-0.5x_lightpan_320_coco.py', 320, 0.28e6, 0.3e9),
    ('nanodet_shufflenetv2_lightpan_320_coco.py', 320, 0.95e6, 0.72e9),
    ('nanodet_shufflenetv2_lightpan_416_coco.py', 416, 0.95e6, 1.2e9),
    ('nanodet_shufflenetv2-1.5x_lightpan_320_coco.py', 320, 2.08e6, 1.44e9),
])
def test_nanodet_configs_match_nanodet_m_sizes(config, size, params, gflops):
    """NanoDet's model zoo: parameters (counting the gfl_reg convs NanoDet builds but never
    runs, absent here) and GFLOPs (2 x multiply-adds) of NanoDet-m at each width and size."""
    from mmengine.analysis import get_model_complexity_info

    _, model = build_detector(CONFIG_DIR / config)
    model.eval()
    model.forward = model._forward
    info = get_model_complexity_info(model, inputs=(torch.rand(1, 3, size, size), ),
                                     show_table=False, show_arch=False)
    head = model.bbox_head
    unused_gfl_reg = len(head.out_convs) * (head.feat_channels + 1) * 4 * (head.reg_max + 1)
    assert abs(info['params'] + unused_gfl_reg - params) / params < 0.02
    assert abs(2 * info['flops'] - gflops) / gflops < 0.10


@pytest.mark.parametrize('config, size, params, gflops, outside_batchnorm', [
    ('nanodet-plus_shufflenetv2_ghostpan_320_coco.py', 320, 1.17e6, 0.9e9, 1_174_768),
    ('nanodet-plus_shufflenetv2_ghostpan_416_coco.py', 416, 1.17e6, 1.52e9, 1_174_768),
    ('nanodet-plus_shufflenetv2-1.5x_ghostpan_320_coco.py', 320, 2.44e6, 1.75e9, 2_444_368),
])
def test_nanodet_plus_configs_match_nanodet_plus_sizes(config, size, params, gflops,
                                                       outside_batchnorm):
    """NanoDet's model zoo: parameters within 3% and GFLOPs (2 x multiply-adds) within 5%, of
    the network that runs at inference (the auxiliary neck and head are not counted). NanoDet's
    counts leave out the BatchNorms: without them the networks have NanoDet's 1.17M and
    2.44M."""
    from shufflenet_det.benchmarking.complexity import complexity

    _, model = build_detector(CONFIG_DIR / config)
    info = complexity(model.eval(), (size, size))
    assert abs(info['params'] - params) / params < 0.03
    assert abs(2 * info['flops'] - gflops) / gflops < 0.05
    assert sum(p.numel() for p in model.parameters()) > 2 * info['params']  # the aux branch
    assert sum(p.numel() for part in (model.backbone, model.neck, model.bbox_head)
               for m in part.modules() if not isinstance(m, torch.nn.BatchNorm2d)
               for p in m.parameters(recurse=False)) == outside_batchnorm
