"""Every config builds the model it built when ``configs/_base_/models/`` was introduced.

``tests/config_snapshot.json`` holds, per config, SHA-256 digests of the built model's
parameter and buffer names with their shapes, of its ``model`` config and of the rest of the
config. A config change that is meant to change these updates the file:
``python -m tests.test_config_snapshot > tests/config_snapshot.json``.
"""
import hashlib
import json
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

import shufflenet_det  # noqa: F401  (registers the modules)
from mmdet.registry import MODELS

REPO = Path(__file__).parents[1]
SNAPSHOT = REPO / 'tests/config_snapshot.json'
CONFIGS = sorted((REPO / 'configs').glob('*.py'))


def digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def snapshot(config: Path) -> dict:
    """The digests of one config (see the module docstring)."""
    cfg = Config.fromfile(config)
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    return dict(
        state_dict=digest(sorted(f'{k}:{tuple(v.shape)}' for k, v in model.state_dict().items())),
        model_config=digest(cfg.model.to_dict()),
        config=digest({k: v for k, v in cfg.to_dict().items() if k != 'model'}))


@pytest.mark.parametrize('config', CONFIGS, ids=[path.name for path in CONFIGS])
def test_the_config_builds_what_it_built(config):
    assert snapshot(config) == json.loads(SNAPSHOT.read_text())[config.name]


def test_every_config_is_in_the_snapshot():
    assert sorted(json.loads(SNAPSHOT.read_text())) == [path.name for path in CONFIGS]


if __name__ == '__main__':
    print(json.dumps({path.name: snapshot(path) for path in CONFIGS}, indent=1))
