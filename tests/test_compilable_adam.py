"""ghn.CompilableAdam (the --compile optimizer of both training scripts) against torch.optim.Adam."""

import pytest
import torch

import ghn


def adam_steps(make_optimizer, weight_decay, steps=60):
    """Parameters after `steps` Adam steps on seeded gradients whose scale swings over four decades."""
    torch.manual_seed(0)
    params = [torch.randn(37, 11, requires_grad=True), torch.randn(5, requires_grad=True)]
    optimizer = make_optimizer(params, lr=1e-3, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(1)
    for step in range(steps):
        for param in params:
            param.grad = torch.randn(param.shape, generator=generator) * 10.0 ** (step % 5 - 2)
        optimizer.step()
    return [param.detach() for param in params]


@pytest.mark.parametrize("weight_decay", [0.0, 1e-5])
@pytest.mark.parametrize("foreach", [False, True])
def test_compilable_adam_is_torch_adam_bit_for_bit(weight_decay, foreach):
    """The same float32 operations in the same order as torch.optim.Adam's single-tensor and foreach
    paths (lerp, mul + addcmul, sqrt / correction + eps, (step size x m) / denominator), with the bias
    corrections computed in float64 as torch does, so equal to the last bit on any CPU. With float32
    corrections (0.999 is 0.99900001 there) the parameters differed after the first step."""
    expected = adam_steps(lambda params, **kw: torch.optim.Adam(params, foreach=foreach, **kw), weight_decay)
    actual = adam_steps(ghn.CompilableAdam, weight_decay)
    for expected_param, actual_param in zip(expected, actual):
        assert torch.equal(expected_param, actual_param)


def test_every_tensor_the_step_changes_exists_up_front_marked_static():
    """A CUDA graph replays the compiled step on fixed addresses, so every tensor the step changes in place must exist
    before the graph is captured and be marked static (torch._dynamo.mark_static_address); unmarked, inductor skipped
    CUDA graphs ("mutated inputs"). Adam's moments and step counts are made at construction and after a resume
    (load_state_dict, which replaces them), and marked; the step changes them in place."""
    torch.manual_seed(0)
    params = [torch.randn(7, 3, requires_grad=True), torch.randn(7, requires_grad=True)]
    optimizer = ghn.CompilableAdam(params, lr=1e-3, fused=True)
    state = [tensor for param in params for tensor in optimizer.state[param].values()]
    assert len(state) == 3 * len(params) and all(t._dynamo_static_input_type == "unguarded" for t in state)
    eager = torch.optim.Adam([p.detach().clone().requires_grad_() for p in params], lr=1e-3, fused=True)
    for param in eager.param_groups[0]["params"]:
        param.grad = torch.ones_like(param)
    eager.step()
    optimizer.load_state_dict(eager.state_dict())  # a checkpoint of an eager run, resumed with --compile
    state = [tensor for param in params for tensor in optimizer.state[param].values()]
    assert all(t._dynamo_static_input_type == "unguarded" for t in state)
    assert [float(optimizer.state[p]["step"]) for p in params] == [1.0, 1.0]
    addresses = [t.data_ptr() for t in state]
    for param in params:
        param.grad = torch.ones_like(param)
    optimizer.step()
    assert [t.data_ptr() for t in state] == addresses and [float(optimizer.state[p]["step"]) for p in params] == [2.0, 2.0]
