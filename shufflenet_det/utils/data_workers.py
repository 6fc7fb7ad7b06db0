"""Stop a finished runner's data loader workers while they can still stop cleanly."""
from mmengine.runner import Runner


def stop_data_workers(runner: Runner) -> None:
    """Stop the worker processes of ``runner``'s data loaders now.

    A runner sits in reference cycles, so when it is no longer used the garbage collector,
    not its last reference, ends it: at a moment of its choosing (inside whatever runs next),
    and in an order in which the persistent workers do not get the word to stop, so that the
    loader waits out PyTorch's 5 s timeout for each of them. A trained runner's two loaders of
    two workers cost 20 s that way (docs/fine_tuning.md). Loops not built and loaders without
    workers are left alone.

    Args:
        runner (Runner): A runner whose training, validation or test has ended.
    """
    # MMEngine keeps a loop as its config until it is first used; ``runner.train_loop``
    # would build it.
    for loop in (runner._train_loop, runner._val_loop, runner._test_loop):
        loader = getattr(loop, 'dataloader', None)
        iterators = [getattr(loader, '_iterator', None),  # a loader's persistent workers
                     getattr(getattr(loop, 'dataloader_iterator', None), '_iterator', None)]
        for iterator in iterators:
            if hasattr(iterator, '_shutdown_workers'):  # a multi-process iterator
                iterator._shutdown_workers()
        if getattr(loader, '_iterator', None) is not None:
            loader._iterator = None  # a later use starts new workers
