from .finite_loss_optim_wrapper import FiniteLossOptimWrapper, NonFiniteLossError

__all__ = ['FiniteLossOptimWrapper', 'NonFiniteLossError']
