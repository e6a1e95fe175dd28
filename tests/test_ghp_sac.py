import dataclasses
import functools
import glob
import math
import os
import pickle
import re

import mujoco
import numpy as np
import pytest
import torch
from checkpoint_compare import assert_same, assert_same_first_gradients, assert_same_first_steps
from conftest import RunsCode, osmesa_renders, run_script

import archspace
import ghp_ddpg_her
import ghp_sac
from ghn import GHN

run_sac = functools.partial(
    run_script, "ghp_sac.py", "--no-cuda", "--threads", "1"
)  # every run on the CPU with one torch thread


def only_run_dir(runs_dir):
    (run_dir,) = glob.glob(os.path.join(runs_dir, "*"))
    return run_dir


def test_split_gives_each_arch_its_own_equal_chunk():
    meta_batch, batch_size, obs_dim = 4, 256, 3

    # policy i ignores its input and outputs the constant i, so each output row says which policy ran it
    def policies(inputs):
        assert inputs.shape == (meta_batch, batch_size // meta_batch, obs_dim)
        return torch.arange(meta_batch, dtype=torch.float32)[:, None, None].expand(*inputs.shape[:2], 2)

    outputs = ghp_sac.run_split_by_arch(policies, torch.randn(batch_size, obs_dim), meta_batch)
    assert outputs.shape == (batch_size, 2)
    owner = outputs[:, 0].long()
    assert torch.equal(owner, torch.arange(meta_batch).repeat_interleave(batch_size // meta_batch))


@pytest.mark.parametrize("decoder", ["full", "lowrank"])
def test_split_matches_per_arch_forward(decoder):
    torch.manual_seed(0)
    ghn = GHN(5, 4, max_width=32, decoder=decoder, rank=4).double()
    archs = [(8,), (32, 4), (16, 16, 16)]
    obs = torch.randn(12, 5, dtype=torch.float64)
    outputs = ghp_sac.run_split_by_arch(ghn.policies(ghn.arch_ids(archs)), obs, len(archs))
    from ghn import mlp_forward

    for i, p in enumerate(ghn(archs)):  # float64: the two paths agree far below 1e-9 (see test_ghn.py)
        torch.testing.assert_close(outputs[4 * i : 4 * i + 4], mlp_forward(p, obs[4 * i : 4 * i + 4]), rtol=0, atol=1e-9)


def test_squashed_gaussian_respects_bounds_and_log_prob():
    torch.manual_seed(0)
    scale, bias = torch.tensor([2.0]), torch.tensor([1.0])
    outputs = torch.cat([torch.randn(1000, 1) * 3, torch.full((1000, 1), 50.0)], 1)  # log_std soft-clamped to 2
    action, log_prob = ghp_sac.squashed_gaussian(outputs, scale, bias)
    assert action.min() >= -1 and action.max() <= 3
    state = torch.get_rng_state()
    deterministic = ghp_sac.deterministic_action(outputs, scale, bias)
    assert torch.equal(torch.get_rng_state(), state)  # evaluation leaves the training run's random stream alone
    torch.testing.assert_close(deterministic, torch.tanh(outputs[:, :1]) * 2 + 1)
    assert log_prob.shape == (1000, 1) and torch.isfinite(log_prob).all()


def test_squashed_gaussian_log_prob_is_that_of_the_tanh_affine_distribution():
    """The sampled action's log-prob against torch.distributions' Normal pushed through tanh and the action scaling,
    at hand-picked means and log-stds (float64, 3 action dims of scales 0.4, 1 and 2). The script adds 1e-6 inside
    the log of each dim's Jacobian scale (1 - tanh^2) (CleanRL's guard): log(s (1 - y^2) + 1e-6) - log(s (1 - y^2))
    <= 1e-6 / (s (1 - y^2)) per dim, the only difference allowed; the samples are kept to |x| < 3 (1 - y^2 > 0.009)."""
    torch.manual_seed(1)
    scale, bias = torch.tensor([0.4, 1.0, 2.0], dtype=torch.float64), torch.tensor([0.0, 0.5, -1.0], dtype=torch.float64)
    means = torch.tensor([[0.0, 0.0, 0.0], [1.0, -0.5, 0.3], [-1.5, 2.0, 0.0], [0.2, 0.1, -0.4]], dtype=torch.float64)
    raw_log_std = torch.tensor([[0.0, 0.0, 0.0], [-1.0, 0.2, 0.0], [0.2, -2.0, 0.2], [-0.3, 0.2, 0.1]], dtype=torch.float64)
    outputs = torch.cat([means, raw_log_std], 1).repeat(20, 1)
    action, log_prob = ghp_sac.squashed_gaussian(outputs, scale, bias)
    mean, std = ghp_sac.mean_and_std(outputs)
    # the soft range by hand: log_std = -5 + 3.5 (tanh(raw) + 1); raw 0 gives -1.5
    torch.testing.assert_close(std[0], torch.full((3,), math.exp(-1.5), dtype=torch.float64), rtol=1e-15, atol=0)
    pre_tanh = torch.atanh((action - bias) / scale)
    assert pre_tanh.abs().max() < 3
    transforms = [torch.distributions.TanhTransform(), torch.distributions.AffineTransform(bias, scale)]
    reference = torch.distributions.TransformedDistribution(torch.distributions.Normal(mean, std), transforms)
    expected = reference.log_prob(action).sum(1, keepdim=True)
    guard = (1e-6 / (scale * (1 - torch.tanh(pre_tanh) ** 2))).sum(1, keepdim=True)
    assert ((log_prob - expected).abs() <= guard + 1e-9).all()
    assert (log_prob - expected).abs().max() > 0  # (the guard is really there: the two differ by it)


def test_replay_buffer_wraps_around_and_samples_only_filled_rows():
    buffer = ghp_sac.ReplayBuffer(10, obs_dim=1, act_dim=1, device=torch.device("cpu"))
    for start in (0, 4):  # transitions 0..7: rows 0..7, not full yet
        ids = np.arange(start, start + 4, dtype=np.float32)[:, None]
        buffer.add(ids, ids, ids + 100, ids[:, 0], np.zeros(4))  # obs, actions, next_obs, rewards, dones
    assert len(buffer) == 8 and not buffer.full
    obs, actions, next_obs, rewards, dones = buffer.sample(1000)
    assert set(obs[:, 0].tolist()) == set(range(8))  # never an unwritten row
    assert torch.equal(next_obs, obs + 100) and torch.equal(actions, obs) and torch.equal(rewards, obs[:, 0])
    ids = np.arange(8, 12, dtype=np.float32)[:, None]  # transitions 8..11: 10 and 11 overwrite rows 0 and 1
    buffer.add(ids, ids, ids + 100, ids[:, 0], np.ones(4))
    assert len(buffer) == 10 and buffer.full and buffer.pos == 2
    assert buffer.data["obs"][:, 0].tolist() == [10, 11, 2, 3, 4, 5, 6, 7, 8, 9]
    assert buffer.data["dones"].tolist() == [1, 1, 0, 0, 0, 0, 0, 0, 1, 1]
    state = buffer.state_dict()  # what checkpoint.pt holds: the filled rows, copied out of the full-size storage
    assert state["obs"].untyped_storage().nbytes() == 10 * 4 and (state["pos"], state["full"]) == (2, True)


def test_short_run_logs_and_saves_its_state(tmp_path):
    runs = str(tmp_path / "runs")
    result = run_sac(
        *(
            "--env-id Hopper-v4 --meta-batch 4 --total-timesteps 1000 --learning-starts 960 --log-every 200 --eval-every "
            "1000 --save-every 0 --runs-dir"
        ).split(),
        runs,
    )
    assert "updates/s=" in result.stdout and "eval [4]=" in result.stdout
    run_dir = only_run_dir(runs)
    assert glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))
    checkpoint = torch.load(os.path.join(run_dir, "checkpoint.pt"), weights_only=False)
    assert checkpoint["algo"] == "sac" and checkpoint["env_id"] == "Hopper-v4"
    assert (checkpoint["obs_dim"], checkpoint["act_dim"]) == (11, 3)
    assert checkpoint["global_step"] == 1000 and checkpoint["grad_steps"] == 40
    assert len(checkpoint["buffer"]["obs"]) == 1000 and "replay buffer of 1000 transitions" in result.stdout
    ghn = GHN.from_checkpoint(checkpoint["ghn"])  # rebuilds without the training script
    assert ghn.config["decoder"] == "full" and ghn.config["out_dim"] == 6
    assert os.path.isfile(os.path.join(run_dir, "ghn_1000.pt"))


def comparable(state):
    """A checkpoint with MuJoCo's data reduced to the simulation state: the rest of an MjData is
    scratch space and timers, which differ between processes without changing any step."""
    fields = ("qpos", "qvel", "act", "qacc_warmstart", "time")
    simulation = lambda value: [np.copy(getattr(value, f)) for f in fields] if isinstance(value, mujoco.MjData) else value  # noqa: E731
    envs = pickle.loads(state["env_states"])  # (the one pickled part of a checkpoint: only --resume unpickles it)
    return dict(state, env_states=[[{k: simulation(v) for k, v in layer.items()} for layer in env] for env in envs])


def test_capture_video_saves_each_probe_episode(tmp_path):
    if not osmesa_renders():
        pytest.skip("MuJoCo cannot render offscreen here (OSMesa missing: apt-get install libosmesa6)")
    runs = str(tmp_path / "runs")
    run_sac(
        *(
            "--env-id Hopper-v4 --meta-batch 2 --total-timesteps 200 --learning-starts 100 --eval-every 200 --ghn-decoder "
            "lowrank --capture-video --runs-dir"
        ).split(),
        runs,
        env={"MUJOCO_GL": "osmesa"},
    )
    videos = sorted(os.path.basename(path) for path in glob.glob(os.path.join(only_run_dir(runs), "videos", "*.mp4")))
    assert videos == sorted(f"200_{archspace.arch_name(arch)}.mp4" for arch in ghp_sac.PROBE_ARCHS)


def test_capture_video_without_a_renderer_is_a_one_line_error(tmp_path):
    result = run_sac(
        *"--env-id Hopper-v4 --capture-video --runs-dir".split(),
        str(tmp_path),
        check=False,
        env={"MUJOCO_GL": "glfw", "DISPLAY": None, "WAYLAND_DISPLAY": None},
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "--capture-video: cannot render with MUJOCO_GL=glfw" in result.stderr.strip().splitlines()[-1]


def test_resume_continues_exactly(tmp_path):
    """A run stopped during the random warm-up and again mid-training (envs mid-episode), then
    resumed, ends bit-identical to the same run done in one go: weights, optimizers, alpha, buffer,
    envs and every random generator."""
    flags = (
        "--env-id Hopper-v4 --meta-batch 2 --learning-starts 200 --ghn-decoder lowrank --autotune --steps-per-arch 7 "
        "--eval-every 0 --log-every 200"
    ).split()
    run_sac(*flags, "--total-timesteps", "600", "--runs-dir", str(tmp_path / "one_go"))
    run_sac(*flags, "--total-timesteps", "100", "--runs-dir", str(tmp_path / "stopped"))
    checkpoint = os.path.join(only_run_dir(str(tmp_path / "stopped")), "checkpoint.pt")
    for total in ("400", "600"):  # only run length and logging flags: the rest comes from the checkpoint
        result = run_sac("--resume", checkpoint, "--total-timesteps", total, "--log-every", "100")
    assert "at step 400 (200 updates), replay buffer of 400 transitions" in result.stdout
    one_go = torch.load(os.path.join(only_run_dir(str(tmp_path / "one_go")), "checkpoint.pt"), weights_only=False)
    resumed = torch.load(checkpoint, weights_only=False)
    assert resumed["global_step"] == 600 and resumed["grad_steps"] == 400
    assert_same(
        comparable({k: v for k, v in one_go.items() if k != "args"}),
        comparable({k: v for k, v in resumed.items() if k != "args"}),
    )
    # the flags not given on resume are the checkpoint's; the one given (--log-every) is the new one
    assert resumed["args"] == dict(one_go["args"], log_every=100, resume=checkpoint, runs_dir=str(tmp_path / "stopped"))


def test_compiled_update_matches_the_eager_one(tmp_path):
    """--compile (the whole update as one torch.compile graph, CompilableAdam) against the eager
    update (torch.optim's fused Adam) from the same state and minibatch. The gradients (Adam's first
    moment after one step is 0.1 x the gradient) may differ only by float32 rounding in another
    summation order or fusion: gamma_512 = 3.1e-5 of the summed magnitudes, which cancellation can
    make a larger share of a tensor's largest entry. Measured here 6e-6 of it (DDPG: 3e-5); 1e-3
    leaves room for other CPUs' vector widths, while a wrong or missing loss term differs at O(1).
    The parameters then differ exactly by the two Adam steps those gradients give (assert_same_first_steps)."""
    flags = (
        "--env-id Pendulum-v1 --meta-batch 1 --batch-size 32 --learning-starts 8 --total-timesteps 9 --buffer-size 100 "
        "--ghn-decoder lowrank --autotune --eval-every 0 --log-every 9"
    ).split()
    run_sac(*flags, "--runs-dir", str(tmp_path / "eager"))
    result = run_sac(*flags, "--compile", "--runs-dir", str(tmp_path / "compiled"))
    assert "--compile: the first 1 updates took" in result.stdout
    eager, compiled = (
        torch.load(os.path.join(only_run_dir(str(tmp_path / name)), "checkpoint.pt"), weights_only=False)
        for name in ("eager", "compiled")
    )
    assert eager["grad_steps"] == compiled["grad_steps"] == 1
    assert_same_first_gradients(eager, compiled, ("policy_optimizer", "q_optimizer", "alpha_optimizer"))
    ghn = GHN.from_checkpoint(eager["ghn"])
    names = {id(param): name for name, param in ghn.named_parameters()}
    order = [names[id(param)] for group in ghn.param_groups(0.0) for param in group["params"]]
    params = [[run["ghn"]["state_dict"][name] for name in order] for run in (eager, compiled)]
    assert_same_first_steps(eager, compiled, "policy_optimizer", params, lr=1e-3)  # --ghn-lr
    params = [[*run["qf1"].values(), *run["qf2"].values()] for run in (eager, compiled)]
    assert_same_first_steps(eager, compiled, "q_optimizer", params, lr=3e-4)  # --q-lr


def short_pendulum_run(runs):
    """A 20-step lowrank GHP run on Pendulum (10 random steps, then 10 updates); returns its run folder."""
    flags = "--env-id Pendulum-v1 --meta-batch 2 --total-timesteps 20 --learning-starts 10 --buffer-size 100 --eval-every 0"
    run_sac(*flags.split(), "--ghn-decoder", "lowrank", "--runs-dir", runs)
    return only_run_dir(runs)


@pytest.mark.parametrize(
    "script, flags, snapshots",
    [
        ("ghp_sac.py", "--env-id Pendulum-v1 --total-timesteps 40 --save-every 20 --eval-every 0", ["ghn_20.pt", "ghn_40.pt"]),
        (
            "ghp_ddpg_her.py",
            "--epochs 2 --cycles-per-epoch 1 --updates-per-cycle 1 --eval-archs 1",
            ["ghn_epoch1.pt", "ghn_epoch2.pt"],
        ),
    ],
)
def test_a_kill_between_snapshot_and_checkpoint_loses_no_snapshot(tmp_path, script, flags, snapshots):
    """A kill -9 before the 4th rename, the second save's second write. Before (checkpoint.pt renamed first), the
    checkpoint of the second save was in place, its snapshot never written, and --resume had nothing left to do; now
    the snapshot comes first, --resume repeats the second save's stretch and writes it again, and no .tmp is left (a
    resumed run removes every *.pt.tmp at its start, not only those of saves that come again)."""
    runs = str(tmp_path / "runs")
    common = "--meta-batch 2 --batch-size 32 --learning-starts 10 --buffer-size 200 --ghn-decoder lowrank --no-cuda"
    if script == "ghp_ddpg_her.py":
        common = common.replace("--learning-starts 10 --buffer-size 200", "--rollouts-per-cycle 1")
    args = [*flags.split(), *common.split(), "--runs-dir", runs]
    killed = run_script("tests/kill_at_rename.py", script, *args, check=False, env={"KILL_AT": "4"})
    run_dir = only_run_dir(runs)
    assert killed.returncode == 9 and "killed before renaming checkpoint.pt" in killed.stdout
    assert os.path.exists(os.path.join(run_dir, "checkpoint.pt.tmp"))  # what the kill left
    open(os.path.join(run_dir, "ghn_99999.pt.tmp"), "wb").close()  # an earlier kill's, of a save that never comes again
    run_script(script, "--resume", os.path.join(run_dir, "checkpoint.pt"))
    files = os.listdir(run_dir)
    assert set(snapshots) <= set(files) and not [name for name in files if name.endswith(".tmp")]


def test_resume_refuses_a_flag_that_contradicts_the_checkpoint(tmp_path):
    checkpoint = os.path.join(short_pendulum_run(str(tmp_path / "runs")), "checkpoint.pt")
    result = run_sac("--resume", checkpoint, "--ghn-lr", "0.0005", "--total-timesteps", "40", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "--ghn-lr 0.0005 contradicts the checkpoint's 0.001" in result.stderr.strip().splitlines()[-1]
    # repeating the checkpoint's own value is fine, and so is a new run length
    result = run_sac("--resume", checkpoint, "--ghn-decoder", "lowrank", "--total-timesteps", "40")
    assert "resumed" in result.stdout and torch.load(checkpoint, weights_only=False)["global_step"] == 40


def test_same_seed_reproduces_a_cpu_run(tmp_path):
    states = []
    for run in ("a", "b"):
        runs = str(tmp_path / run)
        run_sac(
            *(
                "--env-id Pendulum-v1 --meta-batch 2 --total-timesteps 500 --learning-starts 400 --eval-every 0 "
                "--ghn-decoder lowrank --runs-dir"
            ).split(),
            runs,
        )
        states.append(torch.load(os.path.join(only_run_dir(runs), "checkpoint.pt"), weights_only=False))
    for key, value in states[0]["ghn"]["state_dict"].items():
        assert torch.equal(value, states[1]["ghn"]["state_dict"][key]), key
    for key, value in states[0]["qf1"].items():
        assert torch.equal(value, states[1]["qf1"][key]), key


def test_baseline_mode_trains_the_fixed_mlp(tmp_path):
    runs = str(tmp_path / "runs")
    run_sac(
        *(
            "--env-id Pendulum-v1 --meta-batch 2 --total-timesteps 500 --learning-starts 400 --eval-every 500 --baseline-arch"
        ).split(),
        "[16, 8]",
        "--runs-dir",
        runs,
    )
    checkpoint = torch.load(os.path.join(only_run_dir(runs), "checkpoint.pt"), weights_only=False)
    assert checkpoint["ghn"] is None and checkpoint["baseline_arch"] == (16, 8)
    shapes = [tuple(v.shape) for k, v in checkpoint["baseline_state"].items() if k.endswith("weight")]
    assert shapes == [(16, 3), (8, 16), (2, 8)]  # Pendulum: 3 observations -> 2 x 1 outputs
    # the authors' SAC baseline optimizer (SAC/sac.py, configs/hopper.json): Adam lr 3e-4, no weight decay
    (group,) = checkpoint["policy_optimizer"]["param_groups"]
    assert group["lr"] == 3e-4 and group["weight_decay"] == 0.0


def test_async_envs_with_depth_sampling_train_one_step_per_transition(tmp_path):
    runs = str(tmp_path / "runs")
    result = run_sac(
        *(
            "--env-id Pendulum-v1 --meta-batch 2 --total-timesteps 600 --learning-starts 400 --log-every 600 --eval-every 0 "
            "--ghn-decoder lowrank --async-envs --arch-sampling depth --runs-dir"
        ).split(),
        runs,
    )
    assert "updates/s=" in result.stdout
    checkpoint = torch.load(os.path.join(only_run_dir(runs), "checkpoint.pt"), weights_only=False)
    assert checkpoint["grad_steps"] == 200  # (600 - 400) env steps after the buffer holds more than 400


def test_autotune_moves_alpha_down_when_the_entropy_is_above_its_target(tmp_path):
    """A fresh GHN's Pendulum policy has log-std -5 + 3.5 (tanh(~0) + 1) = -1.5 (std 0.22) before the tanh and the
    scale 2, so -log_pi = entropy ~ -(-0.92 + 1.5 - 0.5) + log 2 ~ 0.6 nats, above the target -act_dim = -1: the
    alpha loss -alpha (log_pi + target) then has a positive gradient in log_alpha, and every Adam step lowers it by
    ~lr (3e-4): 100 updates, at least half of that (a sign error raises it instead)."""
    runs = str(tmp_path / "runs")
    run_sac(
        *(
            "--env-id Pendulum-v1 --meta-batch 2 --total-timesteps 500 --learning-starts 400 --eval-every 0 --ghn-decoder "
            "lowrank --autotune --runs-dir"
        ).split(),
        runs,
    )
    checkpoint = torch.load(os.path.join(only_run_dir(runs), "checkpoint.pt"), weights_only=False)
    assert checkpoint["grad_steps"] == 100
    assert checkpoint["log_alpha"].item() < np.log(0.2) - 0.5 * 100 * 3e-4
    assert checkpoint["alpha"] == pytest.approx(np.exp(checkpoint["log_alpha"].item()))  # the alpha the losses use follows it


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--env-id", "NoSuchEnv-v0"], "env 'NoSuchEnv-v0' cannot be made here"),
        (["--env-id", "CartPole-v1"], "a Discrete action space"),
        (["--env-id", "FetchReach-v4"], "Fetch envs: ghp_ddpg_her.py"),
        (["--baseline-arch", "256,abc"], "bad architecture '256,abc'"),
        (["--batch-size", "250"], "--batch-size 250 must be a multiple of --meta-batch 8"),
        (["--batch-size", "0"], "bad --batch-size 0: allowed [1, inf)"),
        (["--total-timesteps", "-1"], "bad --total-timesteps -1: allowed [1, inf)"),
        (["--total-timesteps", "0"], "bad --total-timesteps 0: allowed [1, inf)"),  # before: exit 0, nothing written
        (["--eval-episodes", "0"], "bad --eval-episodes 0: allowed [1, inf)"),  # before: every evaluation NaN
        (["--ghn-hidden", "0"], "bad --ghn-hidden 0: allowed [1, inf)"),
        (["--autotune", "--alpha", "-1"], "bad --alpha -1.0: allowed [0, inf)"),
        (["--seed", "-1"], "bad --seed -1: allowed [0, inf)"),
        (["--alpha", "-1"], "bad --alpha -1.0: allowed [0, inf)"),
        (["--steps-per-arch", "0"], "bad --steps-per-arch 0: allowed [1, inf)"),
        (["--autotune", "--alpha", "0"], "--autotune's --alpha > 0"),
        (["--ghn-decoder", "lowrank", "--ghn-rank", "0"], "bad GHN rank 0: allowed 1..max_width=512"),
        (
            ["--buffer-size", "1000", "--learning-starts", "1000"],
            "--buffer-size 1000 must be above --learning-starts 1000",
        ),
        (["--resume", "/nonexistent/checkpoint.pt"], "not a checkpoint.pt of this ghp_sac.py (FileNotFoundError"),
    ],
)
def test_bad_input_is_a_one_line_error(flags, message, tmp_path):
    result = run_sac(*flags, "--runs-dir", str(tmp_path), check=False)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert message in last_line and "Traceback" not in result.stderr


@pytest.mark.parametrize("script", ["ghp_sac.py", "ghp_ddpg_her.py"])
def test_choice_flags_list_their_choices_and_refuse_others(script, tmp_path):
    help_text = run_script(script, "--help").stdout
    assert "{uniform,depth}" in help_text and "{full,lowrank}" in help_text
    for flag, value in (("--arch-sampling", "random"), ("--ghn-decoder", "tiny")):
        result = run_script(script, flag, value, "--runs-dir", str(tmp_path), check=False)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert f"invalid choice '{value}' for argument '{flag}'" in " ".join(result.stderr.split()), result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_cuda_without_a_gpu_says_it_runs_on_the_cpu(tmp_path):
    result = run_script(
        *(
            "ghp_sac.py --cuda --threads 1 --env-id Pendulum-v1 --meta-batch 2 --total-timesteps 4 --learning-starts 2 "
            "--buffer-size 10 --ghn-decoder lowrank --eval-every 0 --runs-dir"
        ).split(),
        str(tmp_path),
    )
    assert "--cuda: no CUDA device is available, running on the CPU" in result.stdout and "on cpu" in result.stdout


def test_help_documents_every_flag():
    result = run_sac("--help")
    for flag in (
        *(
            "--meta-batch --steps-per-arch --baseline-arch --arch-sampling --resume --eval-every --save-every --ghn-decoder "
            "--async-envs --autotune --ghn-lr --baseline-lr --baseline-weight-decay --save-buffer --compile"
        ).split(),
    ):
        assert flag in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["eager", "compile"])
def test_ghp_sac_learns_pendulum(tmp_path, mode):
    """GHP-SAC on Pendulum-v1 (10000 env steps, meta-batch 4, lowrank decoder, ~4 min on one core),
    eager and --compile: the generated policies clearly improve over the untrained GHN's (about -1300
    to -1800 per episode); a [64, 64] SAC baseline reaches about -120 to -400 in this budget."""
    runs = str(tmp_path / "runs")
    run_sac(
        *(
            "--env-id Pendulum-v1 --meta-batch 4 --total-timesteps 10000 --learning-starts 1000 --eval-every 0 --ghn-decoder "
            "lowrank --runs-dir"
        ).split(),
        runs,
        *(["--compile"] if mode == "compile" else []),
    )
    checkpoint = torch.load(os.path.join(only_run_dir(runs), "checkpoint.pt"), weights_only=False)
    ghn = GHN.from_checkpoint(checkpoint["ghn"])
    scale, bias = torch.tensor([2.0]), torch.tensor([0.0])
    probes = [(16, 16), (64, 64), (256, 256)]
    archs = probes + archspace.sample_archs(np.random.default_rng(0), 5, archspace.all_archs())
    with torch.no_grad():
        trained = ghp_sac.evaluate_probes(ghn, archs, "Pendulum-v1", 3, 123, scale, bias, torch.device("cpu"))
        untrained = ghp_sac.evaluate_probes(
            GHN(3, 2, decoder="lowrank"), archs, "Pendulum-v1", 3, 123, scale, bias, torch.device("cpu")
        )
    print("trained", trained, "untrained", untrained)
    assert sum(trained[archspace.arch_name(a)] > -600 for a in probes) >= 2, trained
    assert np.mean(list(trained.values())) > np.mean(list(untrained.values())) + 400


def test_an_env_whose_package_is_missing_is_not_called_unknown(tmp_path):
    """LunarLanderContinuous-v3 is registered but needs Box2D; it was reported as an unknown env id."""
    pytest.importorskip("gymnasium")
    try:
        import Box2D  # noqa: F401

        pytest.skip("Box2D is installed here, so the env can be made")
    except ImportError:
        pass
    result = run_sac("--env-id", "LunarLanderContinuous-v3", "--runs-dir", str(tmp_path), check=False)
    last_line = result.stderr.strip().splitlines()[-1]
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert last_line.startswith("env 'LunarLanderContinuous-v3' cannot be made here") and "box2d" in last_line.lower()


def test_resume_refuses_a_snapshot_a_finished_run_and_another_runs_dir(tmp_path):
    run_dir = short_pendulum_run(str(tmp_path / "runs"))
    checkpoint, snapshot = os.path.join(run_dir, "checkpoint.pt"), os.path.join(run_dir, "ghn_20.pt")
    result = run_sac("--resume", snapshot, "--total-timesteps", "40", check=False)
    assert result.returncode != 0 and result.stderr.strip().splitlines()[-1] == (
        f"--resume {snapshot!r} is a GHN snapshot (for evaluate.py): resume from checkpoint.pt in its folder"
    )
    # a checkpoint of another version of the script (a flag it has no more) is refused in one line, not resumed wrongly
    old = torch.load(checkpoint, weights_only=False)
    torch.save(dict(old, args=dict(old["args"], torch_deterministic=True)), str(tmp_path / "old.pt"))
    result = run_sac("--resume", str(tmp_path / "old.pt"), "--total-timesteps", "40", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "not a checkpoint.pt of this ghp_sac.py (TypeError" in result.stderr.strip().splitlines()[-1]
    marker = tmp_path / "code-ran"  # a checkpoint whose unpickling runs a command: refused unread (weights_only=True)
    torch.save(dict(old, rng=RunsCode(marker)), str(tmp_path / "evil.pt"))
    result = run_sac("--resume", str(tmp_path / "evil.pt"), "--total-timesteps", "40", check=False)
    assert result.returncode != 0 and "(UnpicklingError" in result.stderr.strip().splitlines()[-1] and not marker.exists()
    events = glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))
    for total in ("20", "12"):  # at or below the checkpoint's step: nothing to do is an error, and nothing is written
        result = run_sac("--resume", checkpoint, "--total-timesteps", total, check=False)
        assert result.returncode != 0 and "leaves nothing to do" in result.stderr.strip().splitlines()[-1]
    assert glob.glob(os.path.join(run_dir, "events.out.tfevents.*")) == events
    # a resumed run stays in its checkpoint's folder: another --runs-dir is refused, not silently ignored
    result = run_sac("--resume", checkpoint, "--total-timesteps", "40", "--runs-dir", str(tmp_path / "elsewhere"), check=False)
    assert result.returncode != 0 and "--runs-dir" in result.stderr.strip().splitlines()[-1]
    assert "contradicts the checkpoint's" in result.stderr.strip().splitlines()[-1]


def test_log_std_is_soft_clamped_to_cleanrls_range_or_hard_clamped_to_the_authors():
    outputs = torch.tensor([[0.3, -10.0], [0.3, -3.0], [0.3, 0.5], [0.3, 3.0]])  # (mean, log-std) rows
    mean, std = ghp_sac.mean_and_std(outputs, log_std_clamp=True)
    assert torch.equal(mean, outputs[:, :1]) and torch.equal(std, torch.tensor([[-6.0], [-3.0], [0.0], [0.0]]).exp())
    soft = [-5 + 3.5 * (math.tanh(x) + 1) for x in (-10.0, -3.0, 0.5, 3.0)]  # -5 + 3.5 (tanh + 1), in (-5, 2)
    # float32: the four roundings of -5 + 3.5 (tanh + 1) on values up to 7 err by <= 4 x 7 eps in the log-std, which exp
    # turns into that relative error (plus its own ulp); the float64 reference is exact by comparison
    bound = (4 * 7 + 1) * torch.finfo(torch.float32).eps
    reference = torch.tensor(soft, dtype=torch.float64)[:, None].exp()
    torch.testing.assert_close(ghp_sac.mean_and_std(outputs)[1].double(), reference, rtol=bound, atol=0)


def episode_ends(run_dir):
    """{env step: [lengths of the episodes that ended at it]} from a run's tensorboard log."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events, ends = EventAccumulator(run_dir, size_guidance={"scalars": 0}), {}
    for event in events.Reload().Scalars("charts/episodic_length"):
        ends.setdefault(event.step, []).append(int(event.value))
    return ends


def test_reset_all_envs_restarts_every_env_when_one_episode_ends(tmp_path):
    """The authors' episodes (docs/method.md S1): once any env's episode ends all envs restart, so the episodes that end
    at one step all began at the previous end (random actions here, no updates: 250 env steps of 4 envs)."""
    flags = "--env-id Hopper-v4 --meta-batch 4 --total-timesteps 1000 --learning-starts 2000 --ghn-decoder lowrank"
    for extra, synchronised in (("--reset-all-envs", True), ("", False)):
        runs = str(tmp_path / f"runs{extra}")
        run_sac(*flags.split(), *extra.split(), "--eval-every", "0", "--save-every", "0", "--runs-dir", runs)
        ends, previous, matches = episode_ends(only_run_dir(runs)), 0, []
        for step in sorted(ends):  # env step k is global step 4k
            matches.append(ends[step] == [(step - previous) // 4] * len(ends[step]))
            previous = step
        assert len(ends) >= 5 and all(matches) == synchronised


def test_unscaled_actions_are_the_tanh_of_the_policy_without_the_bounds(tmp_path):
    """Pendulum's bounds are +-2: the first policy actions (step 100, after the random ones, before any update) of two
    runs that differ only in --unscaled-actions differ by exactly the factor 2, and the unscaled ones stay in [-1, 1]."""
    flags = "--env-id Pendulum-v1 --meta-batch 2 --batch-size 16 --total-timesteps 240 --learning-starts 200 --eval-every 0"
    actions = {}
    for extra in ("", "--unscaled-actions"):
        runs = str(tmp_path / f"runs{extra}")
        run_sac(*flags.split(), *extra.split(), "--ghn-decoder", "lowrank", "--runs-dir", runs)
        checkpoint = torch.load(os.path.join(only_run_dir(runs), "checkpoint.pt"), weights_only=False)
        actions[extra] = checkpoint["buffer"]["actions"]
    assert actions[""][:200].abs().max() > 1  # the random phase spans the bounds, the same in both runs
    assert torch.equal(actions[""][:200], actions["--unscaled-actions"][:200])
    first_policy_actions = actions["--unscaled-actions"][200:202]
    assert first_policy_actions.abs().max() > 0 and actions["--unscaled-actions"][200:].abs().max() <= 1
    assert torch.equal(actions[""][200:202], 2 * first_policy_actions)


def test_resume_refuses_a_ghn_of_an_older_ghn_py(tmp_path):
    """A checkpoint whose GHN was built by an older ghn.py (here: before code_norm, which its config then lacks) would
    load into today's GHN and run other maths: --resume refuses it in one line, naming the commit to use."""
    checkpoint = os.path.join(short_pendulum_run(str(tmp_path / "runs")), "checkpoint.pt")
    state = torch.load(checkpoint, weights_only=False)
    del state["ghn"]["config"]["code_norm"]
    torch.save(state, checkpoint)
    result = run_sac("--resume", checkpoint, "--total-timesteps", "40", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "is not this ghn.py's: resume with its commit" in result.stderr.strip().splitlines()[-1]


NUMERIC_CASES = [("alpha", float("nan"), "[0, inf)"), ("q_lr", -1.0, "(0, inf)"), ("ghn_lr", -1.0, "(0, inf)")]
NUMERIC_CASES += [("gamma", 1.5, "[0, 1]"), ("gamma", -1.0, "[0, 1]"), ("tau", 0.0, "(0, 1]"), ("tau", 2.0, "(0, 1]")]
NUMERIC_CASES += [("ghn_weight_decay", -1.0, "[0, inf)"), ("baseline_lr", 0.0, "(0, inf)"), ("buffer_size", 0, "[1, inf)")]


@pytest.mark.parametrize("flag, value, interval", NUMERIC_CASES)
def test_a_numeric_flag_outside_its_range_is_a_one_line_error(flag, value, interval):
    """Checked first (in-process: no env is made before). Before the range table, NaN alpha and negative learning rates
    were tracebacks from torch, and gamma 1.5 / -1, tau 0 / 2 and a negative decay ran to exit 0."""
    with pytest.raises(SystemExit, match=re.escape(f"bad --{flag.replace('_', '-')} {value}: allowed {interval}")):
        ghp_sac.check_args(dataclasses.replace(ghp_sac.Args(), **{flag: value}))


@pytest.mark.parametrize("script", [ghp_sac, ghp_ddpg_her])
def test_every_numeric_flag_has_a_range(script):
    """The table covers every int and float flag but the two the GHN checks itself (rank, code slope)."""
    numeric = {field.name for field in dataclasses.fields(script.Args) if field.type in (int, float)}
    ranged = [name for names in script.RANGES.values() for name in names.split()]
    assert len(ranged) == len(set(ranged)) and numeric - set(ranged) == {"ghn_rank", "ghn_code_slope"}
    assert set(ranged) <= numeric


@pytest.mark.parametrize("script", ["ghp_sac.py", "ghp_ddpg_her.py"])
def test_a_runs_dir_that_is_a_file_is_a_one_line_error(script, tmp_path):
    (tmp_path / "file").write_text("")
    for runs_dir in (tmp_path / "file", tmp_path / "file" / "below"):
        result = run_script(script, "--no-cuda", "--runs-dir", str(runs_dir), check=False)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert "cannot write the run folder" in result.stderr.strip().splitlines()[-1]
