"""The one timing loop: contenders interleaved round by round, warm-up untimed."""
import pytest

from shufflenet_det.benchmarking import median_and_iqr, time_interleaved, timed


def test_contenders_run_in_turn_and_only_timed_rounds_are_kept():
    calls = []
    times = time_interleaved({'a': lambda: calls.append('a'), 'b': lambda: calls.append('b')},
                             repeats=3, warmup=2)
    assert calls == ['a', 'b'] * 5
    assert {name: len(values) for name, values in times.items()} == {'a': 3, 'b': 3}
    assert all(t >= 0 for values in times.values() for t in values)


def test_timed_returns_the_result():
    seconds, result = timed(lambda: 42)
    assert result == 42 and seconds >= 0


def test_median_and_iqr():
    # statistics.quantiles' default (exclusive) method: quartiles 1.75 and 5.25 of 1..6
    assert median_and_iqr([6, 1, 5, 2, 4, 3]) == (3.5, pytest.approx(3.5))
