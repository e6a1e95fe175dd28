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
