"""Bit-for-bit comparison of checkpoints, for the exact-resume tests of both training scripts."""

import numpy as np
import torch


def assert_same(a, b, path=""):
    """Bit-identical nested checkpoint contents (tensors, arrays, generators, numbers)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            if "time" not in str(key):  # wall-clock statistics of RecordEpisodeStatistics
                assert_same(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), path
    elif isinstance(a, np.random.Generator):
        assert a.bit_generator.state == b.bit_generator.state, path
    else:
        assert a == b, path


def assert_same_first_gradients(eager, compiled, optimizers, rtol=1e-3):
    """After one Adam step, exp_avg is 0.1 x the gradient: the two checkpoints' gradients agree to
    rtol of each tensor's largest entry (see test_ghp_sac.py's compile test for the tolerance)."""
    for optimizer in optimizers:
        states = eager[optimizer]["state"], compiled[optimizer]["state"]
        assert states[0].keys() == states[1].keys() and len(states[0]) > 0, optimizer
        for index, state in states[0].items():
            gradient, other = state["exp_avg"], states[1][index]["exp_avg"]
            assert (gradient - other).abs().max() <= rtol * gradient.abs().max(), (optimizer, index)
            assert int(state["step"]) == int(states[1][index]["step"]) == 1, (optimizer, index)


def assert_same_first_steps(eager, compiled, optimizer, params, lr, eps=1e-8):
    """After one Adam step from the same start, each parameter is start - lr u, where u = m / (sqrt(v) + eps) with
    m = exp_avg / 0.1 and v = exp_avg_sq / 0.001 (the bias-corrected moments of the run's own gradient). So the two runs'
    parameters differ by lr (u_compiled - u_eager), which is 0 wherever their gradients agree, up to float32 rounding:
    an ulp of each parameter (2^-24 |p| each) and of the step (2^-24 lr, a few times). `params`: per run, the
    parameters in the optimizer's order."""
    for index, (eager_param, compiled_param) in enumerate(zip(*params)):
        steps = []
        for checkpoint in (eager, compiled):
            state = checkpoint[optimizer]["state"][index]
            m, v = state["exp_avg"].double() / 0.1, state["exp_avg_sq"].double() / 0.001
            steps.append(lr * m / (v.sqrt() + eps))
        difference = eager_param.double() - compiled_param.double()
        rounding = 2.0**-24 * (eager_param.double().abs() + compiled_param.double().abs() + 8 * lr)
        assert ((difference - (steps[1] - steps[0])).abs() <= rounding).all(), (optimizer, index)
