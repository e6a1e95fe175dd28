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
