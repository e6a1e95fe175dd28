import functools
import glob
import math
import os
import re

import pytest
import torch
from conftest import RunsCode, run_script

from bc_distill import bc_loss
from ghp_sac import deterministic_action

run_bc = functools.partial(run_script, "bc_distill.py", "--threads", "1")


def pendulum_teacher(tmp_path):
    """A [64, 64] ghp_sac.py baseline, briefly trained on Pendulum-v1: a teacher whose outputs depend on the state."""
    runs = str(tmp_path / "teacher")
    run_script(
        *(
            "ghp_sac.py --no-cuda --threads 1 --env-id Pendulum-v1 --meta-batch 2 --total-timesteps 600 --learning-starts "
            "400 --eval-every 0 --baseline-arch 64,64 --runs-dir"
        ).split(),
        runs,
    )
    (path,) = glob.glob(os.path.join(runs, "*", "checkpoint.pt"))
    return path


def test_student_learns_the_teacher_outputs_and_evaluate_reads_it(tmp_path):
    teacher = pendulum_teacher(tmp_path)
    result = run_bc(
        "--teacher",
        teacher,
        *"--arch 16,16 --data-steps 2000 --epochs 30 --eval-episodes 2 --runs-dir".split(),
        str(tmp_path / "bc"),
    )
    mse = [float(value) for value in re.findall(r"mse=([\d.]+)", result.stdout)]
    assert len(mse) == 4 and mse[-1] < 0.1 * mse[0]  # epochs 1, 10, 20, 30: the error fell 10x at least
    (path,) = glob.glob(os.path.join(tmp_path, "bc", "*", "checkpoint.pt"))
    checkpoint = torch.load(path, weights_only=False)
    assert checkpoint["baseline_arch"] == (16, 16) and checkpoint["ghn"] is None
    shapes = [tuple(v.shape) for k, v in checkpoint["baseline_state"].items() if k.endswith("weight")]
    assert shapes == [(16, 3), (16, 16), (2, 16)]
    out = str(tmp_path / "eval")
    evaluation = run_script("evaluate.py", "run", "--threads", "1", "--checkpoint", path, "--episodes", "2", "--out-dir", out)
    assert "1 architectures" in evaluation.stdout and os.path.isfile(os.path.join(out, "results.csv"))
    refused = run_script("evaluate.py", "run", "--checkpoint", path, "--archs", "4", "--out-dir", out, check=False)
    assert "holds one fixed MLP, [16, 16]: --archs can only be that one" in refused.stderr.strip().splitlines()[-1]


def test_a_ghn_checkpoint_is_not_a_teacher(tmp_path):
    torch.save({"algo": "sac", "baseline_arch": None, "ghn": {}}, tmp_path / "ghn.pt")
    result = run_bc("--teacher", str(tmp_path / "ghn.pt"), "--arch", "8", check=False)
    assert (
        result.returncode != 0
        and "not a checkpoint of a ghp_sac.py --baseline-arch run" in result.stderr.strip().splitlines()[-1]
    )


def test_the_loss_is_on_the_action_that_evaluation_runs():
    """The student is fitted to the teacher's deterministic action tanh(mean) x scale + bias: log_std
    outputs and means past tanh's saturation cost nothing (the former loss on raw (mean, log_std)
    would give ((10 - 20)^2 + 0 + (-5 - 3)^2 + (1 + 4)^2) / 4 = 47.25 for the first student)."""
    scale, bias = torch.tensor([2.0, 1.0]), torch.tensor([0.0, 0.5])
    teacher_outputs = torch.tensor([[20.0, 0.5, 3.0, -4.0]])  # act_dim 2: means, then log_stds
    labels = deterministic_action(teacher_outputs, scale, bias)  # (2 tanh(20), tanh(0.5) + 0.5); tanh(20) is 1.0 in float32
    saturated_alike = torch.tensor([[10.0, 0.5, -5.0, 1.0]])  # tanh(10) = 1 - 4e-9 is 1.0 in float32 too
    assert bc_loss(saturated_alike, labels, scale, bias).item() == 0.0
    zeros = torch.zeros(1, 4)  # actions (0, 0.5): errors 2 and tanh(0.5)
    expected = (2.0**2 + math.tanh(0.5) ** 2) / 2
    # float32: a handful of roundings (tanh, scale, subtract, square, mean), each 2^-24 relative, of values <= 4
    assert abs(bc_loss(zeros, labels, scale, bias).item() - expected) < 8 * 2.0**-24 * 4


def test_a_teacher_with_the_authors_action_transforms_is_refused(tmp_path):
    for flag in ("unscaled_actions", "log_std_clamp"):  # bc_distill.py labels with the default transform
        torch.save({"algo": "sac", "baseline_arch": (8,), "args": {flag: True}}, tmp_path / "teacher.pt")
        result = run_bc("--teacher", str(tmp_path / "teacher.pt"), "--arch", "8", check=False)
        assert result.returncode != 0 and f"a --{flag.replace('_', '-')} run" in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("script", ["bc_distill.py", "bc_distill_her.py"])
def test_a_teacher_file_that_is_not_a_checkpoint_is_a_one_line_error(tmp_path, script):
    """An empty file, a text file and a pickle of another kind (weights_only refuses it unread): before, tracebacks."""
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "text.pt").write_text("not a checkpoint\n")
    marker = tmp_path / "code-ran"
    torch.save({"algo": RunsCode(marker)}, tmp_path / "foreign.pt")
    for name in ("empty.pt", "text.pt", "foreign.pt"):
        result = run_script(script, "--teacher", str(tmp_path / name), "--arch", "8", check=False)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert "not a checkpoint this script can read" in result.stderr.strip().splitlines()[-1] and not marker.exists()
