"""FiniteLossOptimWrapper: no update from a NaN or infinite loss or gradient."""
import pytest
import torch
import torch.nn as nn
from mmengine.logging import MessageHub

from shufflenet_det.engine import FiniteLossOptimWrapper, NonFiniteLossError


def make_wrapper(**kwargs):
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    MessageHub.get_instance('test_finite_loss_optim_wrapper').update_info('iter', 6)
    return model, FiniteLossOptimWrapper(optimizer=optimizer, **kwargs)


def weights(model):
    return [p.detach().clone() for p in model.parameters()]


def nan_loss(model):
    return model(torch.ones(1, 3)).sum() * float('nan')


def nan_gradient_loss(model):
    """A finite loss (0) whose gradient is NaN: d/dw sqrt(0 * w) = 0 / (2 sqrt(0))."""
    return torch.sqrt((model.weight * 0).sum())


@pytest.mark.parametrize('loss_fn, what', [(nan_loss, 'the loss is nan'),
                                           (nan_gradient_loss, 'the gradient norm is nan')])
def test_nonfinite_stops_before_the_update_naming_the_iteration(loss_fn, what):
    model, wrapper = make_wrapper()
    before = weights(model)
    with pytest.raises(NonFiniteLossError, match=f'stopped at iteration 7: {what}') as error:
        wrapper.update_params(loss_fn(model))
    # Only what is true: a checkpoint saved while the loss grew may hold diverged weights.
    assert ('The optimizer did not step on it and nothing was saved after it. Checkpoints '
            "saved before are unchanged; with AtomicCheckpointHook (the configs' checkpoint "
            'hook) none holds a NaN or infinite tensor, but one saved while the loss was '
            'already growing holds diverged weights. Resume from a checkpoint saved before the '
            'loss grew (--resume PATH)') in str(error.value)
    assert all(torch.equal(a, b) for a, b in zip(before, weights(model)))
    assert not wrapper.optimizer.state  # no momentum buffer was created either


def test_finite_loss_updates_as_optim_wrapper_does():
    model, wrapper = make_wrapper(clip_grad=dict(max_norm=0.1))  # the norm is 0.74: clipped
    reference = nn.Linear(3, 2)
    reference.load_state_dict(model.state_dict())
    reference_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for _ in range(2):
        wrapper.update_params(model(torch.ones(1, 3)).pow(2).sum())
        reference(torch.ones(1, 3)).pow(2).sum().backward()
        assert nn.utils.clip_grad_norm_(reference.parameters(), 0.1) > 0.1
        reference_optimizer.step()
        reference_optimizer.zero_grad()
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        torch.testing.assert_close(ours, theirs)


def test_skip_mode_skips_then_stops_after_too_many_in_a_row():
    model, wrapper = make_wrapper(on_nonfinite='skip', max_consecutive_skips=3)
    before = weights(model)
    wrapper.update_params(nan_loss(model))
    wrapper.update_params(nan_gradient_loss(model))
    assert all(torch.equal(a, b) for a, b in zip(before, weights(model)))
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())
    wrapper.update_params(model(torch.ones(1, 3)).sum())  # a finite step resets the count
    assert not torch.equal(before[0], model.weight) and wrapper.consecutive_skips == 0
    for _ in range(2):
        wrapper.update_params(nan_loss(model))
    with pytest.raises(NonFiniteLossError, match=r'3 updates in a row skipped'):
        wrapper.update_params(nan_loss(model))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="'ignore'"):
        make_wrapper(on_nonfinite='ignore')
    with pytest.raises(ValueError, match='max_consecutive_skips'):
        make_wrapper(max_consecutive_skips=0)


def test_a_skipped_loss_counts_towards_gradient_accumulation():
    model, wrapper = make_wrapper(on_nonfinite='skip', accumulative_counts=2)
    wrapper.initialize_count_status(model, 0, 4)
    before = weights(model)
    wrapper.update_params(model(torch.ones(1, 3)).sum())  # gradients gathered, no step yet
    wrapper.update_params(nan_loss(model))  # ends the accumulation: dropped with it
    assert all(torch.equal(a, b) for a, b in zip(before, weights(model)))
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())
    wrapper.update_params(model(torch.ones(1, 3)).sum())  # the 2nd accumulation begins
    assert all(torch.equal(a, b) for a, b in zip(before, weights(model)))
    wrapper.update_params(model(torch.ones(1, 3)).sum())  # and steps
    assert not torch.equal(before[0], model.weight)
