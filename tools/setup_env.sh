#!/usr/bin/env bash
# Create (or re-use) the Python environment shufflenet_det runs in.
#
# Usage: bash tools/setup_env.sh [VENV_DIR]
#   VENV_DIR defaults to ./.venv in the repository. Point it at an existing virtual environment
#   to install into that one instead; a torch >= 2.6 already there is kept unless TORCH_SPEC is set.
#
# Environment knobs:
#   TORCH_SPEC       the torch requirement (default torch==2.13.0, unless a torch >= 2.6 is there).
#   TORCH_INDEX_URL  the index torch comes from, e.g. https://download.pytorch.org/whl/cpu; without
#                    it, on a machine whose pip has no local CPU wheel, pip fetches the multi-GB
#                    CUDA build from PyPI.
#   PYTHON           the interpreter that creates a new environment (default python3).
#
# A second run with unchanged requirements returns in well under a second: the environment
# carries a stamp of the files that shaped it.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${1:-$repo/.venv}
torch_spec=${TORCH_SPEC:-torch==2.13.0}
stamp_file=$venv/.shufflenet_det_stamp
stamp=$( (cat "$repo/requirements.txt" "$repo/pyproject.toml" "${BASH_SOURCE[0]}"
          echo "$torch_spec ${TORCH_INDEX_URL:-}") | sha256sum | cut -c1-16)

if [[ -f $stamp_file && $(cat "$stamp_file") == "$stamp" ]]; then
    exit 0
fi

log() { printf '[setup_env] %s\n' "$*" >&2; }

if [[ ! -x $venv/bin/python ]]; then
    log "creating virtual environment in $venv"
    "${PYTHON:-python3}" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install --disable-pip-version-check)

log "installing build tools"
# mmcv 2.1.0's setup.py imports pkg_resources (removed in setuptools 81); torch wants >= 77.
"${pip[@]}" -q "setuptools>=77,<81" wheel ninja
if [[ -z ${TORCH_SPEC:-} ]] && installed_torch=$("$venv/bin/python" -c "import sys, torch
major_minor = tuple(map(int, torch.__version__.split('+')[0].split('.')[:2]))
if major_minor < (2, 6):
    sys.exit(1)
print(torch.__version__)" 2>/dev/null); then
    log "keeping the installed torch $installed_torch (set TORCH_SPEC to replace it)"
else
    log "installing $torch_spec"
    "${pip[@]}" -q ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$torch_spec"
fi

if "$venv/bin/python" -c "import sys, mmcv, mmcv.ops; sys.exit(mmcv.__version__ != '2.1.0')" \
        2>/dev/null; then
    log "mmcv 2.1.0 with ops already installed"
else
    log "installing mmcv 2.1.0 with C++ ops (a first build from source takes a good many minutes;"
    log "pip caches the wheel, so later environments on this machine install it in seconds)"
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} "${pip[@]}" --no-build-isolation "mmcv==2.1.0"
fi

log "installing requirements and shufflenet_det (editable)"
"${pip[@]}" -q -r "$repo/requirements.txt"
"${pip[@]}" -q --no-deps --no-build-isolation -e "$repo"

"$venv/bin/python" -c "import mmcv.ops, mmdet, shufflenet_det, shufflenet_det_runtime" \
    || { log "the environment in $venv does not import; see the messages above"; exit 1; }
echo "$stamp" > "$stamp_file"
log "environment ready: $venv"
