"""``tools/setup_env.sh``: what it installs into an environment, and that a second run re-uses it.

The environment is a stand-in whose ``python -m pip`` only records its arguments, and whose
``python -c`` runs this test's interpreter (torch, mmcv and mmdet are installed there).
"""
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

REPO = Path(__file__).resolve().parents[2]
SETUP_ENV = REPO / 'tools' / 'setup_env.sh'


def make_recording_env(root: Path, torch_version: Optional[str] = None) -> Path:
    """An environment whose pip calls go to ``root/pip.log`` and whose other calls run here.

    Args:
        root (Path): Where the environment and the log go.
        torch_version (str, optional): Make the script's torch version probe (the one
            ``python -c`` program that reads ``torch.__version__``) see this version.
    """
    bin_dir = root / 'venv' / 'bin'
    bin_dir.mkdir(parents=True)
    fake_torch = ''
    if torch_version:
        (root / 'fake' / 'torch').mkdir(parents=True)
        (root / 'fake' / 'torch' / '__init__.py').write_text(f'__version__ = {torch_version!r}\n')
        fake_torch = ('if [[ $1 == -c && $2 == *torch.__version__* ]]; then\n'
                      f'    export PYTHONPATH={root / "fake"}\n'
                      'fi\n')
    python = bin_dir / 'python'
    python.write_text('#!/usr/bin/env bash\n'
                      'if [[ $1 == -m && $2 == pip ]]; then\n'
                      f'    shift 2; echo "$*" >> {root / "pip.log"}; exit 0\n'
                      'fi\n' + fake_torch + f'exec {sys.executable} "$@"\n')
    python.chmod(0o755)
    return root / 'venv'


def run_setup(venv: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ('TORCH_SPEC', 'TORCH_INDEX_URL')}
    return subprocess.run(['bash', str(SETUP_ENV), str(venv)], env={**environ, **env},
                          capture_output=True, text=True, timeout=300)


def pip_calls(venv: Path) -> List[str]:
    log = venv.parent / 'pip.log'
    return log.read_text().splitlines() if log.exists() else []


def torch_installs(venv: Path) -> List[str]:
    return [call for call in pip_calls(venv) if call.split()[-1].startswith('torch')]


def test_existing_torch_is_kept_and_a_second_run_installs_nothing(tmp_path):
    venv = make_recording_env(tmp_path)
    first = run_setup(venv)
    assert first.returncode == 0, first.stderr
    assert 'keeping the installed torch' in first.stderr
    assert torch_installs(venv) == []
    calls = pip_calls(venv)
    assert any(call.endswith('-r ' + str(REPO / 'requirements.txt')) for call in calls), calls
    assert any(call.endswith('-e ' + str(REPO)) for call in calls), calls
    assert (venv / '.shufflenet_det_stamp').is_file()

    second = run_setup(venv)
    assert second.returncode == 0 and second.stderr == ''
    assert pip_calls(venv) == calls  # nothing more was installed


def test_torch_older_than_2_6_is_replaced(tmp_path):
    venv = make_recording_env(tmp_path, torch_version='2.5.1+cpu')
    result = run_setup(venv)
    assert result.returncode == 0, result.stderr
    assert torch_installs(venv) == ['install --disable-pip-version-check -q torch==2.13.0']


def test_torch_spec_replaces_the_installed_torch(tmp_path):
    venv = make_recording_env(tmp_path)
    result = run_setup(venv, TORCH_SPEC='torch==2.13.0',
                       TORCH_INDEX_URL='https://download.pytorch.org/whl/cpu')
    assert result.returncode == 0, result.stderr
    assert torch_installs(venv) == [
        'install --disable-pip-version-check -q --index-url '
        'https://download.pytorch.org/whl/cpu torch==2.13.0']
