import functools
import glob
import os
import re

import numpy as np
import torch
from conftest import run_script

from ghn import FixedMLP

run_bc = functools.partial(run_script, "bc_distill_her.py", "--threads", "1")


def fetch_teacher(path):
    """A [32, 32] actor in ghp_ddpg_her.py's --baseline-arch checkpoint format, random weights (its actions
    depend on the state), with non-trivial normalisers: the teacher needs no training to be imitated."""
    torch.manual_seed(3)
    teacher = FixedMLP((32, 32), 13, 4)
    rng = np.random.default_rng(0)
    obs, goals = rng.normal(1.0, 0.3, (100, 10)), rng.normal(1.3, 0.1, (100, 3))
    norm = lambda x: {"sum": torch.tensor(x.sum(0)), "sumsq": torch.tensor(np.square(x).sum(0)), "count": len(x)}  # noqa: E731
    torch.save(
        {
            "algo": "ddpg_her",
            "env_id": "FetchReach-v4",
            "obs_dim": 10,
            "goal_dim": 3,
            "act_dim": 4,
            "epoch": 1,
            "env_steps": 400,
            "args": {"clip_obs": 200.0, "clip_norm": 5.0, "exploration_noise": 0.2, "random_eps": 0.3},
            "ghn": None,
            "baseline_arch": (32, 32),
            "baseline_state": teacher.state_dict(),
            "obs_norm": norm(obs),
            "goal_norm": norm(goals),
        },
        path,
    )
    return str(path)


def test_student_learns_the_teacher_actions_and_evaluate_reads_it(tmp_path):
    teacher = fetch_teacher(tmp_path / "teacher.pt")
    result = run_bc(
        "--teacher",
        teacher,
        *"--arch 16,16 --data-steps 800 --epochs 30 --eval-episodes 8 --runs-dir".split(),
        str(tmp_path / "bc"),
    )
    assert "collected 800 teacher steps (16 episodes)" in result.stdout  # 2 rollouts of 8 envs x 50 steps
    mse = [float(value) for value in re.findall(r"mse=([\d.]+)", result.stdout)]
    assert len(mse) == 4 and mse[-1] < 0.1 * mse[0]  # epochs 1, 10, 20, 30: the error fell 10x at least
    (path,) = glob.glob(os.path.join(tmp_path, "bc", "*", "checkpoint.pt"))
    checkpoint = torch.load(path, weights_only=False)
    assert checkpoint["baseline_arch"] == (16, 16) and checkpoint["ghn"] is None
    shapes = [tuple(v.shape) for k, v in checkpoint["baseline_state"].items() if k.endswith("weight")]
    assert shapes == [(16, 13), (16, 16), (4, 16)]  # (observation 10 + goal 3) -> 16 -> 16 -> 4 actions
    source = torch.load(teacher, weights_only=False)
    assert np.array_equal(checkpoint["obs_norm"]["sum"], source["obs_norm"]["sum"])  # the teacher's normalisers, frozen
    out = str(tmp_path / "eval")
    evaluation = run_script("evaluate.py", "run", "--threads", "1", "--checkpoint", path, "--episodes", "2", "--out-dir", out)
    assert "1 architectures" in evaluation.stdout and os.path.isfile(os.path.join(out, "results.csv"))


def test_a_sac_checkpoint_is_not_a_fetch_teacher(tmp_path):
    torch.save({"algo": "sac", "baseline_arch": (8,), "ghn": None}, tmp_path / "sac.pt")
    result = run_bc("--teacher", str(tmp_path / "sac.pt"), "--arch", "8", check=False)
    assert result.returncode != 0
    assert "not a checkpoint of a ghp_ddpg_her.py --baseline-arch run" in result.stderr.strip().splitlines()[-1]


def test_a_raw_actor_teacher_is_refused(tmp_path):
    torch.save({"algo": "ddpg_her", "baseline_arch": (8,), "args": {"raw_actor": True}}, tmp_path / "raw.pt")
    result = run_bc("--teacher", str(tmp_path / "raw.pt"), "--arch", "8", check=False)
    assert result.returncode != 0 and "a --raw-actor run" in result.stderr.strip().splitlines()[-1]
