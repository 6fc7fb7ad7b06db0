"""Memory of a training process and its dataloader workers, read from /proc (Linux)."""
import os
from pathlib import Path
from typing import List, Tuple


def _kib(path: str, field: str) -> int:
    """A ``field: N kB`` value from a /proc file."""
    with open(path) as file:
        for line in file:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise ValueError(f'{field} not in {path}')


def _children(pid: int) -> List[int]:
    """Process ids of the direct children of ``pid``."""
    children = []
    for task in Path(f'/proc/{pid}/task').iterdir():
        children += [int(child) for child in (task / 'children').read_text().split()]
    return children


def memory_mib() -> Tuple[float, float]:
    """RSS of this process and PSS of this process with its children, in MiB."""
    pid = os.getpid()
    pss = _kib(f'/proc/{pid}/smaps_rollup', 'Pss')
    for child in _children(pid):
        try:
            pss += _kib(f'/proc/{child}/smaps_rollup', 'Pss')
        except (FileNotFoundError, ProcessLookupError):  # a worker that just exited
            pass
    return _kib(f'/proc/{pid}/status', 'VmRSS') / 1024, pss / 1024


def growth(samples: List[Tuple[int, float, float]], start: int) -> Tuple[int, float, float]:
    """The baseline iteration (the first sample at or after ``start``) and the percent growth
    of RSS and PSS from there to the last sample."""
    base = next(sample for sample in samples if sample[0] >= start)
    last = samples[-1]
    return base[0], 100 * (last[1] / base[1] - 1), 100 * (last[2] / base[2] - 1)
