"""The timing loop every benchmark uses: contenders interleaved round by round, so that machine
noise hits each alike."""
import statistics
import time
from typing import Any, Callable, Dict, List, Sequence, Tuple

import torch


def timed(fn: Callable[[], Any]) -> Tuple[float, Any]:
    """The seconds one call of ``fn`` takes (wall clock), and what it returned."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def time_interleaved(contenders: Dict[str, Callable[[], object]], repeats: int,
                     warmup: int) -> Dict[str, List[float]]:
    """Run each contender once per round: ``warmup`` untimed rounds, then ``repeats`` timed.

    Args:
        contenders (dict[str, Callable]): Name and a call with no argument.
        repeats (int): Timed rounds.
        warmup (int): Untimed rounds first.

    Returns:
        dict[str, list[float]]: Seconds of each timed call, by contender.
    """
    for _ in range(warmup):
        for fn in contenders.values():
            fn()
    times: Dict[str, List[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            times[name].append(timed(fn)[0])
    return times


def median_and_iqr(times: Sequence[float]) -> Tuple[float, float]:
    """The median and the interquartile range of at least two times."""
    q1, _, q3 = statistics.quantiles(times, n=4)
    return statistics.median(times), q3 - q1


def matmul_peak_gflops(size: int = 1024, repeats: int = 10) -> float:
    """The best float32 matrix-multiply rate (GFLOP/s) of this machine with the current torch
    thread count: the peak a network's achieved rate is compared with."""
    a, b = torch.rand(size, size), torch.rand(size, size)
    torch.mm(a, b)
    best = min(timed(lambda: torch.mm(a, b))[0] for _ in range(repeats))
    return 2 * size**3 / best / 1e9
