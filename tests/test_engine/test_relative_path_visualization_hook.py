"""tools/test.py --show-dir: images with one file name in two directories are both drawn."""
import json

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet.registry import MODELS
from shufflenet_det.engine.hooks.relative_path_visualization_hook import image_root
from tests.small_pipelines import small_pipelines
from tests.test_tools.tool_runner import REPO, run_tool

BASE = REPO / 'configs/nanodet_shufflenetv2_lightpan_shapes.py'
CONFIG = '''
_base_ = '{base}'
{pipelines}
test_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(
    data_root='{root}/', ann_file='test.json', data_prefix=dict(img='images/'),
    pipeline=test_pipeline))
test_evaluator = dict(ann_file='{root}/test.json')
'''


def test_show_dir_keeps_the_directories_below_the_image_root(tmp_path):
    names = ['cam1/0001.jpg', 'cam2/0001.jpg', 'cam2/night/0001.jpg']
    for i, name in enumerate(names):
        (tmp_path / 'images' / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / 'images' / name), np.full((64, 64, 3), 60 * i, np.uint8))
    (tmp_path / 'test.json').write_text(json.dumps(dict(
        images=[dict(id=i + 1, file_name=name, width=64, height=64)
                for i, name in enumerate(names)],
        annotations=[dict(id=i + 1, image_id=i + 1, category_id=1, bbox=[8, 8, 30, 30],
                          area=900, iscrowd=0) for i in range(3)],
        categories=[dict(id=1, name='circle'), dict(id=2, name='square'),
                    dict(id=3, name='triangle')])))
    config = tmp_path / 'config.py'
    config.write_text(CONFIG.format(base=BASE, root=tmp_path,
                                    pipelines=small_pipelines((64, 64))))
    init_default_scope('mmdet')
    model = MODELS.build(Config.fromfile(config).model)
    torch.save(dict(state_dict=model.state_dict()), tmp_path / 'model.pth')

    run_tool('tools/test.py', config, tmp_path / 'model.pth', '--work-dir', tmp_path / 'work',
             '--show-dir', 'vis')
    drawn = sorted(path.relative_to(next((tmp_path / 'work').glob('*/vis'))).as_posix()
                   for path in (tmp_path / 'work').rglob('vis/**/*.jpg'))
    assert drawn == sorted(names)  # MMDetection's hook leaves one 0001.jpg


def test_image_root_looks_into_dataset_wrappers():
    class Inner:
        data_prefix = dict(img='data/images/')

    class Wrapper:
        dataset = Inner()

    assert image_root(Wrapper()) == 'data/images/'
    assert image_root(object()) is None
