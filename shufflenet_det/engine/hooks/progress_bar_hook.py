"""A progress bar of the training iterations, with the rate, the ETA and the loss."""
from typing import Optional

from mmengine.hooks import Hook
from tqdm import tqdm

from mmdet.registry import HOOKS


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """Show training's progress as a tqdm bar on stderr: iterations done of the run's, the rate,
    the time left and the loss. MMEngine's log lines keep coming every ``LoggerHook`` interval.

    A resumed run starts the bar at the iteration it resumes from; a run the ``TimeLimitHook``
    stops closes it where it stopped.
    """

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.bar: Optional[tqdm] = None

    def before_train(self, runner) -> None:
        self.bar = tqdm(total=runner.max_iters, initial=runner.iter, desc='training',
                        unit='it', dynamic_ncols=True)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self.bar.update(1)
        if outputs and 'loss' in outputs:
            self.bar.set_postfix(loss=f'{float(outputs["loss"]):.3f}', refresh=False)

    def after_train(self, runner) -> None:
        self.bar.close()
