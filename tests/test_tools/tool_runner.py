"""Run the repository's command-line tools as a user would, from the repository root."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[2]


def run_tool(*args, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess:
    """``python ARGS...`` in the repository root; with ``check``, assert it succeeded.
    A run still going after ``timeout`` seconds is killed and fails the test."""
    result = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                            cwd=REPO, timeout=timeout)
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result
