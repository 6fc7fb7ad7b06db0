"""stop_data_workers: a finished runner's loader workers end at once, not when the garbage
collector gets to the runner."""
import multiprocessing

from shufflenet_det.utils import stop_data_workers
from tests.test_engine.toy_runner import build_toy_runner

CHECKPOINT = dict(type='CheckpointHook', interval=10, by_epoch=False)


def test_a_trained_and_validated_runner_leaves_no_worker_behind(tmp_path):
    before = set(multiprocessing.active_children())
    runner = build_toy_runner(str(tmp_path), CHECKPOINT, max_iters=2, val_interval=2,
                              workers=1)
    runner.train()
    workers = set(multiprocessing.active_children()) - before
    assert workers  # at least the training loader's, waiting for more batches to load
    stop_data_workers(runner)
    assert not workers & set(multiprocessing.active_children())
    assert all(worker.exitcode == 0 for worker in workers)  # stopped, not killed
    runner.val()  # the loader starts workers again when it is used again
    stop_data_workers(runner)
    assert not set(multiprocessing.active_children()) - before


def test_loops_never_built_and_loaders_without_workers_are_left_alone(tmp_path):
    runner = build_toy_runner(str(tmp_path), CHECKPOINT, max_iters=1)
    stop_data_workers(runner)  # nothing built yet
    runner.train()
    stop_data_workers(runner)
    assert runner.iter == 1
