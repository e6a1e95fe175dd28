import dataclasses
import functools
import glob
import os
import re
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch
from checkpoint_compare import assert_same, assert_same_first_gradients, assert_same_first_steps
from conftest import goal_reached_midway, osmesa_renders, run_script

import archspace
import ghp_ddpg_her
from ghn import GHN, FixedMLP, mlp_forward
from ghp_ddpg_her import EpisodeBuffer, Normalizer

run_her = functools.partial(
    run_script, "ghp_ddpg_her.py", "--no-cuda", "--threads", "1"
)  # every run on the CPU with one torch thread


def sparse_reward(achieved, goal, info):
    """FetchReach's reward: 0 within 5 cm of the goal, else -1."""
    return -(np.linalg.norm(achieved - goal, axis=-1) > 0.05).astype(np.float32)


def marked_buffer(horizon=10, episodes=6):
    """Obs encode (episode, step); achieved goals are distinct points; desired goals are far away."""
    buffer = EpisodeBuffer(episodes * horizon, horizon, obs_dim=2, goal_dim=3, act_dim=1)
    steps = np.arange(horizon + 1)
    for ep in range(episodes):
        obs = np.stack([np.full(horizon + 1, ep), steps], 1)[None]
        achieved = np.stack([np.full(horizon + 1, ep), steps, np.zeros(horizon + 1)], 1)[None].astype(np.float32)
        goals = np.full((1, horizon, 3), 100.0 + ep, np.float32)
        buffer.add(obs, achieved, goals, np.zeros((1, horizon, 1)))
    return buffer


def test_her_relabels_with_later_goals_of_the_same_episode():
    buffer = marked_buffer()
    data = buffer.sample(np.random.default_rng(0), 4000, future_p=0.8, compute_reward=sparse_reward)
    episode, step = data["obs"][:, 0].astype(int), data["obs"][:, 1].astype(int)
    assert np.array_equal(data["next_obs"][:, 1], step + 1) and np.array_equal(data["next_obs"][:, 0], episode)
    relabelled = data["goals"][:, 0] < 100
    assert relabelled.mean() == pytest.approx(0.8, abs=0.03)
    # a relabelled goal is the achieved goal of the same episode at a strictly later step (t + 1 .. T)
    assert np.array_equal(data["goals"][relabelled, 0], episode[relabelled])
    goal_step = data["goals"][relabelled, 1].astype(int)
    assert np.all(goal_step > step[relabelled]) and np.all(goal_step <= buffer.horizon)
    assert np.array_equal(np.sort(np.unique(goal_step - step[relabelled])), np.arange(1, buffer.horizon + 1))
    # the rest keep the episode's desired goal
    assert np.all(data["goals"][~relabelled, 0] == 100 + episode[~relabelled])
    # rewards are recomputed from the achieved goal after the action and the (new) goal
    next_achieved = np.stack([episode, step + 1, np.zeros_like(step)], 1)
    assert np.array_equal(data["rewards"], sparse_reward(next_achieved, data["goals"], None))
    hit = np.zeros(len(step), bool)
    hit[relabelled] = goal_step == step[relabelled] + 1
    assert np.array_equal(data["rewards"] == 0, hit) and hit.any()


def test_her_with_future_p_zero_keeps_goals():
    data = marked_buffer().sample(np.random.default_rng(1), 500, future_p=0.0, compute_reward=sparse_reward)
    assert np.all(data["goals"][:, 0] >= 100) and np.all(data["rewards"] == -1)


def test_normalizer_matches_numpy_and_clips():
    rng = np.random.default_rng(0)
    values = rng.normal([1.0, -3.0], [2.0, 0.5], size=(5000, 2))
    norm = Normalizer(2, clip=5.0)
    norm.update(values[:2000])
    norm.update(values[2000:])
    np.testing.assert_allclose(norm.mean, values.mean(0), rtol=1e-9)
    np.testing.assert_allclose(norm.std, values.std(0), rtol=1e-9)
    normalised = norm.normalize(values)
    np.testing.assert_allclose(normalised.mean(0), 0, atol=1e-9)
    np.testing.assert_allclose(normalised.std(0), 1, atol=1e-2)
    assert np.array_equal(norm.normalize(np.array([[1e6, -1e6]])), np.array([[5.0, -5.0]]))
    constant = Normalizer(1, clip=5.0)
    constant.update(np.ones((10, 1)))
    assert constant.std[0] == pytest.approx(1e-2)  # eps floor, no division by zero


def test_actions_are_split_by_arch_and_bounded_by_max_action():
    torch.manual_seed(0)
    ghn = GHN(13, 4, max_width=64, decoder="lowrank", rank=4).double()  # float64: the two paths agree to ~1e-15
    archs, inputs = [(4, 8), (64, 64)], 100 * torch.randn(10, 13, dtype=torch.float64)
    with torch.no_grad():
        outputs = ghp_ddpg_her.run_split_by_arch(ghn.policies(ghn.arch_ids(archs)), inputs, 2)
        per_arch = [mlp_forward(params, chunk) for params, chunk in zip(ghn(archs), inputs.split(5))]
    torch.testing.assert_close(outputs, torch.cat(per_arch), rtol=0, atol=1e-9 * outputs.abs().max().item())
    actions = ghp_ddpg_her.deterministic_action(outputs, max_action=2.0)
    assert actions.shape == (10, 4) and actions.abs().max() <= 2 and actions.abs().max() > 1.9  # saturated inputs


def test_short_run_logs_and_saves_its_state(tmp_path):
    runs = str(tmp_path / "runs")
    result = run_her(
        *(
            "--epochs 1 --cycles-per-epoch 2 --updates-per-cycle 3 --meta-batch 4 --batch-size 64 --eval-archs 2 --runs-dir"
        ).split(),
        runs,
    )
    assert "epoch=1" in result.stdout and "[256-256]=" in result.stdout
    assert "train_success=0.00 (any step " in result.stdout and ") test_success(random archs)=" in result.stdout
    (run_dir,) = glob.glob(os.path.join(runs, "*"))
    assert glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))
    checkpoint = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    assert checkpoint["algo"] == "ddpg_her" and checkpoint["env_id"] == "FetchReach-v4"
    assert (checkpoint["obs_dim"], checkpoint["goal_dim"], checkpoint["act_dim"]) == (10, 3, 4)
    # the authors' schedule by default: each cycle 8 rollouts of every env (cycles x rollouts x envs x T)
    assert checkpoint["epoch"] == 1 and checkpoint["grad_steps"] == 6 and checkpoint["env_steps"] == 2 * 8 * 4 * 50
    assert checkpoint["obs_norm"]["count"] == 2 * 8 * 4 * 50
    assert checkpoint["buffer"]["num_episodes"] == 2 * 8 * 4 and "replay buffer of 64 episodes" in result.stdout
    ghn = GHN.from_checkpoint(checkpoint["ghn"])
    assert (ghn.in_dim, ghn.out_dim) == (13, 4)
    assert os.path.isfile(os.path.join(run_dir, "ghn_epoch1.pt"))


def test_rollouts_per_cycle_collect_more_episodes_and_steps_per_arch_redraws_the_training_archs(tmp_path):
    flags = (
        "--epochs 1 --cycles-per-epoch 2 --updates-per-cycle 3 --meta-batch 2 --batch-size 32 --eval-archs 1 --ghn-decoder "
        "lowrank"
    ).split()
    checkpoints = {}
    for name, extra in (
        ("classic", ["--rollouts-per-cycle", "1", "--steps-per-arch", "0"]),
        ("rollouts", ["--rollouts-per-cycle", "3", "--steps-per-arch", "0"]),
        ("redraw", ["--rollouts-per-cycle", "1", "--steps-per-arch", "1"]),
    ):
        run_her(*flags, *extra, "--runs-dir", str(tmp_path / name))
        (path,) = glob.glob(os.path.join(tmp_path, name, "*", "checkpoint.pt"))
        checkpoints[name] = torch.load(path, weights_only=False)
    classic, rollouts, redraw = checkpoints["classic"], checkpoints["rollouts"], checkpoints["redraw"]
    assert classic["env_steps"] == 2 * 2 * 50 and rollouts["env_steps"] == 3 * 2 * 2 * 50  # cycles x envs x T, x rollouts
    assert rollouts["buffer"]["num_episodes"] == 3 * classic["buffer"]["num_episodes"] == 3 * 4
    assert rollouts["obs_norm"]["count"] == 3 * classic["obs_norm"]["count"]
    assert rollouts["grad_steps"] == redraw["grad_steps"] == classic["grad_steps"] == 6
    # the same data is collected in the first cycle, then the redrawn archs train differently
    assert np.array_equal(redraw["buffer"]["obs"][:2], classic["buffer"]["obs"][:2])
    assert not torch.equal(redraw["ghn"]["state_dict"]["row_head.weight"], classic["ghn"]["state_dict"]["row_head.weight"])


def test_capture_video_saves_each_probe_episode_without_changing_training(tmp_path):
    if not osmesa_renders():
        pytest.skip("MuJoCo cannot render offscreen here (OSMesa missing: apt-get install libosmesa6)")
    flags = (
        "--epochs 1 --cycles-per-epoch 1 --updates-per-cycle 2 --meta-batch 2 --batch-size 32 --eval-archs 1 --ghn-decoder "
        "lowrank"
    ).split()
    run_her(*flags, "--runs-dir", str(tmp_path / "plain"))
    run_her(*flags, "--capture-video", "--runs-dir", str(tmp_path / "video"), env={"MUJOCO_GL": "osmesa"})
    (run_dir,) = glob.glob(os.path.join(tmp_path, "video", "*"))
    videos = sorted(os.path.basename(path) for path in glob.glob(os.path.join(run_dir, "videos", "*.mp4")))
    assert videos == sorted(f"epoch1_{archspace.arch_name(arch)}.mp4" for arch in ghp_ddpg_her.PROBE_ARCHS)
    plain, video = (
        torch.load(glob.glob(os.path.join(tmp_path, name, "*", "checkpoint.pt"))[0], weights_only=False)
        for name in ("plain", "video")
    )
    assert_same({k: v for k, v in plain.items() if k != "args"}, {k: v for k, v in video.items() if k != "args"})


def test_resume_continues_exactly(tmp_path):
    """Stopped after epoch 1 and resumed (with another --eval-archs, which must not change training),
    the run ends bit-identical to the same run done in one go."""
    flags = (
        "--cycles-per-epoch 2 --updates-per-cycle 3 --meta-batch 2 --batch-size 32 --eval-archs 2 --ghn-decoder lowrank"
    ).split()
    run_her(*flags, "--epochs", "2", "--runs-dir", str(tmp_path / "one_go"))
    run_her(*flags, "--epochs", "1", "--runs-dir", str(tmp_path / "stopped"))
    (run_dir,) = glob.glob(os.path.join(tmp_path, "stopped", "*"))
    result = run_her("--resume", os.path.join(run_dir, "checkpoint.pt"), "--epochs", "2", "--eval-archs", "5")
    assert "after epoch 1, replay buffer of 32 episodes" in result.stdout and "epoch=2" in result.stdout
    (one_go_dir,) = glob.glob(os.path.join(tmp_path, "one_go", "*"))
    one_go = torch.load(os.path.join(one_go_dir, "checkpoint.pt"), weights_only=False)
    resumed = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    assert resumed["epoch"] == 2 and resumed["grad_steps"] == 12
    assert_same({k: v for k, v in one_go.items() if k != "args"}, {k: v for k, v in resumed.items() if k != "args"})


def test_compiled_update_matches_the_eager_one(tmp_path):
    """--compile against the eager update from the same state and minibatch: gradients (Adam's first
    moment is 0.1 x the gradient after one step) within 1e-3 of each tensor's largest entry (float32
    rounding in another order; the reasoning is in test_ghp_sac.py's twin), parameters apart by exactly the two Adam steps."""
    flags = (
        "--epochs 1 --cycles-per-epoch 1 --updates-per-cycle 1 --meta-batch 2 --batch-size 32 --eval-archs 1 --ghn-decoder "
        "lowrank"
    ).split()
    run_her(*flags, "--runs-dir", str(tmp_path / "eager"))
    run_her(*flags, "--compile", "--runs-dir", str(tmp_path / "compiled"))
    eager, compiled = (
        torch.load(glob.glob(os.path.join(tmp_path, name, "*", "checkpoint.pt"))[0], weights_only=False)
        for name in ("eager", "compiled")
    )
    assert eager["grad_steps"] == compiled["grad_steps"] == 1
    assert_same_first_gradients(eager, compiled, ("policy_optimizer", "q_optimizer"))
    ghn = GHN.from_checkpoint(eager["ghn"])
    names = {id(param): name for name, param in ghn.named_parameters()}
    order = [names[id(param)] for group in ghn.param_groups(0.0) for param in group["params"]]
    params = [[run["ghn"]["state_dict"][name] for name in order] for run in (eager, compiled)]
    assert_same_first_steps(eager, compiled, "policy_optimizer", params, lr=1e-3)  # --ghn-lr
    params = [list(run["qf"].values()) for run in (eager, compiled)]
    assert_same_first_steps(eager, compiled, "q_optimizer", params, lr=1e-3)  # --q-lr


def test_baseline_mode_trains_the_fixed_mlp(tmp_path):
    runs = str(tmp_path / "runs")
    result = run_her(
        *"--epochs 1 --cycles-per-epoch 1 --updates-per-cycle 2 --meta-batch 2 --baseline-arch 32,32 --runs-dir".split(),
        runs,
    )
    assert "test_success(baseline)=" in result.stdout
    (run_dir,) = glob.glob(os.path.join(runs, "*"))
    checkpoint = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    assert checkpoint["ghn"] is None and checkpoint["baseline_arch"] == (32, 32)
    # the authors' DDPG actor optimizer (DDPG/ddpg_hyper.py): Adam lr 1e-3, no weight decay
    (group,) = checkpoint["policy_optimizer"]["param_groups"]
    assert group["lr"] == 1e-3 and group["weight_decay"] == 0.0


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--env-id", "Hopper-v4"], "is not goal-conditioned"),
        (["--env-id", "NoSuchEnv-v0"], "env 'NoSuchEnv-v0' cannot be made here"),
        (["--baseline-arch", "64;64"], "bad architecture '64;64'"),
        (["--batch-size", "100"], "--batch-size 100 must be a multiple of --meta-batch 8"),
        (["--batch-size", "0"], "bad --batch-size 0: allowed [1, inf)"),
        (["--seed", "-1"], "bad --seed -1: allowed [0, inf)"),
        (["--future-p", "1.5"], "bad --future-p 1.5"),
        (["--epochs", "0"], "bad --epochs 0"),
        (["--ghn-hidden", "0"], "bad --ghn-hidden 0: allowed [1, inf)"),
        (
            ["--buffer-size", "3000"],
            "--buffer-size 3000 must hold a cycle's episodes: --rollouts-per-cycle 8 x --meta-batch 8",
        ),
        (["--rollouts-per-cycle", "0"], "bad --rollouts-per-cycle 0: allowed [1, inf)"),
        (["--steps-per-arch", "-1"], "bad --steps-per-arch -1"),
    ],
)
def test_bad_input_is_a_one_line_error(flags, message, tmp_path):
    result = run_her(*flags, "--runs-dir", str(tmp_path), check=False)
    assert result.returncode != 0
    assert message in result.stderr.strip().splitlines()[-1] and "Traceback" not in result.stderr


@pytest.mark.parametrize("env_id", ["FetchPush-v4", "FetchSlide-v4", "FetchPickAndPlace-v4"])
def test_other_fetch_tasks_run(tmp_path, env_id):
    runs = str(tmp_path / "runs")
    result = run_her(
        "--env-id",
        env_id,
        *(
            "--epochs 1 --cycles-per-epoch 1 --updates-per-cycle 2 --meta-batch 2 --batch-size 32 --eval-archs 1 "
            "--ghn-decoder lowrank --runs-dir"
        ).split(),
        runs,
    )
    assert f"{env_id} (obs 25 + goal 3, act 4, 50 steps)" in result.stdout and "epoch=1" in result.stdout


def test_resume_refuses_a_snapshot_and_a_finished_run(tmp_path):
    runs = str(tmp_path / "runs")
    run_her(
        *(
            "--epochs 1 --cycles-per-epoch 1 --rollouts-per-cycle 1 --updates-per-cycle 1 --meta-batch 2 --batch-size 32 "
            "--eval-archs 1 --ghn-decoder lowrank --runs-dir"
        ).split(),
        runs,
    )
    (run_dir,) = glob.glob(os.path.join(runs, "*"))
    checkpoint, snapshot = os.path.join(run_dir, "checkpoint.pt"), os.path.join(run_dir, "ghn_epoch1.pt")
    result = run_her("--resume", snapshot, "--epochs", "2", check=False)
    assert result.returncode != 0 and result.stderr.strip().splitlines()[-1] == (
        f"--resume {snapshot!r} is a GHN snapshot (for evaluate.py): resume from checkpoint.pt in its folder"
    )
    result = run_her("--resume", checkpoint, "--epochs", "1", check=False)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "--resume: the checkpoint is after epoch 1, so --epochs 1 leaves nothing to do: give a larger --epochs"
    )


def test_raw_actor_acts_with_the_outputs_as_they_are():
    outputs = torch.tensor([[3.0, -0.5, 0.0, -7.0]])
    assert torch.equal(ghp_ddpg_her.deterministic_action(outputs, 2.0, raw=True), torch.tensor([[6.0, -1.0, 0.0, -14.0]]))
    assert torch.equal(ghp_ddpg_her.deterministic_action(outputs, 2.0), torch.tanh(outputs) * 2.0)


def test_rollouts_report_success_at_the_final_step_and_at_any_step():
    env_id = goal_reached_midway()  # 5 steps; the goal counts as reached at step 2 only
    envs = gym.vector.SyncVectorEnv([lambda: gym.make(env_id)] * 2)
    policy, inputs = FixedMLP((4,), 2, 1), ghp_ddpg_her.PolicyInputs(1, 1, 200.0, 5.0, torch.device("cpu"))
    args, rng = SimpleNamespace(raw_actor=False, exploration_noise=0.2, random_eps=0.3, meta_batch=2), np.random.default_rng(0)
    episode, final, any_step = ghp_ddpg_her.rollout(envs, policy, [(4,), (4,)], inputs, 5, rng, args, explore=True)
    assert (
        len(episode) == 4
        and episode[0].shape == (2, 6, 1)
        and final.tolist() == [0.0, 0.0]
        and any_step.tolist() == [1.0, 1.0]
    )
    success = ghp_ddpg_her.deterministic_success(envs, policy, [(4,)] * 3, inputs, 5, rng, args, seed=0)
    assert success.tolist() == [[0.0] * 3, [1.0] * 3]  # (final step, any step) x the 3 archs (the last batch padded)


def test_ddpg_her_learns_fetch_reach(tmp_path):
    """DDPG + HER end to end on FetchReach-v4 with the classic schedule (2 envs, one rollout and 40 updates per cycle,
    10 cycles an epoch), a [64,64] actor: 2,000 env steps. A fresh policy succeeds in ~0-10% of test episodes (goals
    that start next to the gripper); measured here: test success 0.80 after epoch 1 and 1.00 after epoch 2 (10
    deterministic episodes each). A broken relabelling, reward, normaliser, critic target or actor loss stays near 0."""
    flags = "--env-id FetchReach-v4 --baseline-arch 64,64 --meta-batch 2 --rollouts-per-cycle 1 --cycles-per-epoch 10"
    result = run_her(*flags.split(), "--epochs", "2", "--eval-archs", "10", "--runs-dir", str(tmp_path))
    lines = [line for line in result.stdout.splitlines() if line.startswith("epoch=")]
    test_success = [float(line.split("test_success(baseline)=")[1].split()[0]) for line in lines]
    assert len(test_success) == 2 and test_success[-1] >= 0.7, result.stdout


@pytest.mark.parametrize(
    "flag, value, interval",
    [("q_lr", -1.0, "(0, inf)"), ("exploration_noise", -1.0, "[0, inf)"), ("clip_obs", 0.0, "(0, inf)")]
    + [("clip_norm", -1.0, "(0, inf)"), ("gamma", 2.0, "[0, 1]"), ("random_eps", float("nan"), "[0, 1]")],
)
def test_a_numeric_flag_outside_its_range_is_a_one_line_error(flag, value, interval):
    """Before the range table, a negative --q-lr was a traceback from torch, the others ran to exit 0."""
    with pytest.raises(SystemExit, match=re.escape(f"bad --{flag.replace('_', '-')} {value}: allowed {interval}")):
        ghp_ddpg_her.check_args(dataclasses.replace(ghp_ddpg_her.Args(), **{flag: value}))
