"""The backbone from configs and registries outside this repository, each in a fresh process.

Other test modules import ``shufflenet_det``, which registers the backbone, so inside this
test session a config's ``custom_imports`` would change nothing. Each check therefore runs a
new interpreter that asserts the package is not imported before the config is read.
"""
import subprocess
import sys
import textwrap
from typing import NamedTuple

import pytest

CUSTOM_IMPORTS = "custom_imports = dict(imports=['shufflenet_det'], allow_failed_imports=False)"
BACKBONE_CLASS = 'shufflenet_det.models.backbones.shufflenet_v2.ShuffleNetV2'

# A user's own config, inheriting MMDetection's RetinaNet recipe from the installed mmdet.
DETECTOR_CONFIG = '''
_base_ = 'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py'
model = dict(
    backbone=dict(_delete_=True, type='ShuffleNetV2', widen_factor=0.5,
                  out_indices=(0, 1, 2), extra_dw=True),
    neck=dict(in_channels=[48, 96, 192], out_channels=64, start_level=0),
    bbox_head=dict(in_channels=64, feat_channels=64))
'''
# Another OpenMMLab project's config (mmseg, mmyolo, ...): the backbone named by its scope.
BACKBONE_CONFIG = '''
default_scope = {scope!r}
backbone = dict(type='mmdet.ShuffleNetV2', widen_factor=0.5, out_indices=(0, 1, 2))
'''

# Every script gets the config's path as its argument and prints what it built.
READ_CONFIG = '''
import sys

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
{registry}

assert 'shufflenet_det' not in sys.modules, 'shufflenet_det was imported before the config'
cfg = Config.fromfile(sys.argv[1])
init_default_scope(cfg.default_scope)
'''
BUILD_DETECTOR = '''
detector = MODELS.build(cfg.model)
detector.init_weights()
backbone = detector.backbone
with torch.no_grad():
    cls_scores, _ = detector.eval()(torch.rand(1, 3, 128, 128), mode='tensor')
print('built', f'{type(backbone).__module__}.{type(backbone).__name__}',
      f'extra_dw={backbone.extra_dw}', [s.shape[-1] for s in cls_scores])
'''
BUILD_BACKBONE = '''
backbone = MODELS.build(cfg.backbone)
with torch.no_grad():
    outs = backbone.eval()(torch.rand(1, 3, 64, 64))
print('built', f'{type(backbone).__module__}.{type(backbone).__name__}',
      [tuple(out.shape[1:]) for out in outs])
'''


class Scenario(NamedTuple):
    """A config, the registry that builds from it, and what the build prints."""
    config: str
    registry: str  # code binding ``MODELS``
    build: str
    expected: str


SCENARIOS = {
    'mmdet_detector': Scenario(
        DETECTOR_CONFIG, 'from mmdet.registry import MODELS', BUILD_DETECTOR,
        f'built {BACKBONE_CLASS} extra_dw=True [16, 8, 4, 2, 1]'),
    'mmengine_root_registry': Scenario(
        BACKBONE_CONFIG.format(scope='mmengine'), 'from mmengine.registry import MODELS',
        BUILD_BACKBONE, f'built {BACKBONE_CLASS} [(48, 8, 8), (96, 4, 4), (192, 2, 2)]'),
    'other_project_registry': Scenario(
        BACKBONE_CONFIG.format(scope='other_project'),
        'from mmengine.registry import MODELS as ROOT_MODELS, Registry\n'
        "MODELS = Registry('model', parent=ROOT_MODELS, scope='other_project')",
        BUILD_BACKBONE, f'built {BACKBONE_CLASS} [(48, 8, 8), (96, 4, 4), (192, 2, 2)]'),
}


def build_in_fresh_process(tmp_path, scenario: Scenario,
                           custom_imports: bool) -> subprocess.CompletedProcess:
    """Write the scenario's config (with or without ``custom_imports``) and script to
    ``tmp_path`` and run the script there in a new interpreter."""
    config = tmp_path / 'user_config.py'
    config.write_text(textwrap.dedent(scenario.config) +
                      (CUSTOM_IMPORTS + '\n' if custom_imports else ''))
    script = tmp_path / 'build.py'
    script.write_text(READ_CONFIG.format(registry=scenario.registry) + scenario.build)
    return subprocess.run([sys.executable, str(script), str(config)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize('scenario', SCENARIOS.values(), ids=SCENARIOS)
def test_custom_imports_registers_the_backbone(tmp_path, scenario):
    result = build_in_fresh_process(tmp_path, scenario, custom_imports=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert scenario.expected in result.stdout.splitlines(), result.stdout


@pytest.mark.parametrize('scenario', SCENARIOS.values(), ids=SCENARIOS)
def test_without_custom_imports_the_backbone_is_unknown(tmp_path, scenario):
    """The control: the same config and script fail, so the checks above can fail."""
    result = build_in_fresh_process(tmp_path, scenario, custom_imports=False)
    assert result.returncode != 0 and 'built' not in result.stdout
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith('KeyError') and 'ShuffleNetV2 is not in the' in last_line, \
        result.stderr[-3000:]
