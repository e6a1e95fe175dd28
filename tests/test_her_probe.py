"""docs/her_probe.py on a tiny ghp_ddpg_her.py baseline run whose actor is set by hand: saturation and action size."""

import glob
import os
import sys

import numpy as np
import torch
from conftest import run_script

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs"))
import her_probe  # noqa: E402


def test_probe_reads_saturation_and_action_size_off_the_actor(tmp_path):
    flags = "--epochs 1 --cycles-per-epoch 1 --updates-per-cycle 1 --rollouts-per-cycle 1 --meta-batch 2 --batch-size 32"
    run_script(
        "ghp_ddpg_her.py", *flags.split(), "--baseline-arch", "8", "--no-cuda", "--threads", "1", "--runs-dir", str(tmp_path)
    )
    (path,) = glob.glob(os.path.join(tmp_path, "*", "checkpoint.pt"))
    checkpoint = torch.load(path, weights_only=False)
    for bias, saturated, mean_abs in ((0.0, 0.0, 0.0), (0.5, 0.0, np.tanh(0.5)), (10.0, 1.0, np.tanh(10.0))):
        state = {name: torch.zeros_like(value) for name, value in checkpoint["baseline_state"].items()}
        state["layers.1.bias"] = torch.full_like(state["layers.1.bias"], bias)  # the output layer: every action tanh(bias)
        torch.save(dict(checkpoint, baseline_state=state), tmp_path / "set.pt")
        _, ((name, share, size, q_pi, q_buffer, target),) = her_probe.probe(str(tmp_path / "set.pt"), 4, 64, 0)
        assert name == "baseline 8" and share == saturated and abs(size - mean_abs) < 1e-6
        assert np.isfinite([q_pi, q_buffer, target]).all() and -1 / (1 - 0.98) <= target <= 0
