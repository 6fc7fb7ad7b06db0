"""A progress bar of the training iterations, with the rate, the ETA and the loss."""
import sys
from typing import Optional

from mmengine.hooks import Hook
from tqdm import tqdm

from mmdet.registry import HOOKS


@HOOKS.register_module()
class ProgressBarHook(Hook):
    """Show training's progress as a tqdm bar on stderr: iterations done of the run's, the rate,
    the time left and the loss. MMEngine's log lines keep coming every ``LoggerHook`` interval.

    A resumed run starts the bar at the iteration it resumes from; a run the ``TimeLimitHook``
    stops closes it where it stopped. When stderr is a file or a pipe (a log), the bar is
    redrawn once every ``log_interval_s`` instead of ten times a second.

    Args:
        log_interval_s (float): Seconds between redraws into a log. Default: 60.
    """

    priority = 'LOWEST'

    def __init__(self, log_interval_s: float = 60) -> None:
        self.log_interval_s = log_interval_s
        self.bar: Optional[tqdm] = None

    def before_train(self, runner) -> None:
        interval = 0.1 if sys.stderr.isatty() else self.log_interval_s
        self.bar = tqdm(total=runner.max_iters, initial=runner.iter, desc='training',
                        unit='it', dynamic_ncols=True, mininterval=interval)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self.bar.update(1)
        if outputs and 'loss' in outputs:
            loss = float(outputs['loss'].detach())  # float() of a tensor with grad warns
            self.bar.set_postfix(loss=f'{loss:.3f}', refresh=False)

    def after_train(self, runner) -> None:
        self.close()

    def close(self) -> None:
        """Close the bar where it stands (MMEngine calls no hook when a run is interrupted:
        a tool that catches the interruption calls this before it says so)."""
        if self.bar is not None:
            self.bar.close()
