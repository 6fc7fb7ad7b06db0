"""The input size the measuring and export tools use comes from the config's test pipeline."""
import pytest
from mmengine.config import Config

from shufflenet_det.errors import ConfigError
from shufflenet_det.utils.complexity import input_size
from tests.test_tools.tool_runner import REPO


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
