"""Stop training when its time budget is spent, counting the time of the runs it resumes."""
import time
from typing import Optional

from mmengine.hooks import Hook

from mmdet.registry import HOOKS

META_KEY = 'training_seconds'  # in a checkpoint's meta: the training time spent until it


@HOOKS.register_module()
class TimeLimitHook(Hook):
    """Stop training after ``minutes`` of it, as Ultralytics' ``time=`` does.

    The time is counted from the start of training (after the model, the datasets and the
    checkpoint are loaded); a resumed run adds the time its checkpoint records. The run stops
    after the iteration that reaches the limit; MMEngine's hooks then end it as usual.

    Args:
        minutes (float): The budget, in minutes.
    """

    priority = 'VERY_LOW'

    def __init__(self, minutes: float) -> None:
        if minutes <= 0:
            raise ValueError(f'minutes must be positive, got {minutes}')
        self.seconds = minutes * 60
        self.loaded_seconds = 0.0
        self.spent_before = 0.0
        self.started: Optional[float] = None

    def spent(self) -> float:
        """The training seconds spent so far, resumed runs included."""
        now = time.perf_counter()
        return self.spent_before + now - (self.started if self.started is not None else now)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Read the time the checkpoint's run had spent (used only when it is resumed)."""
        self.loaded_seconds = float(checkpoint.get('meta', {}).get(META_KEY, 0.0))

    def before_train(self, runner) -> None:
        """Start the clock; a resumed run starts from the time its checkpoint records."""
        self.spent_before = self.loaded_seconds if runner.iter > 0 else 0.0
        self.started = time.perf_counter()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        """Stop the loop once the budget is spent."""
        if self.spent() >= self.seconds and not runner.train_loop.stop_training:
            runner.train_loop.stop_training = True
            runner.logger.info(f'TimeLimitHook: the {self.seconds / 60:g} minutes of training '
                               f'are spent; stopping after iteration {runner.iter + 1}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        """Record the time spent, for a run that resumes from this checkpoint."""
        checkpoint.setdefault('meta', {})[META_KEY] = self.spent()
