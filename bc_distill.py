"""Behaviour cloning, Table I's "Behavior cloning" column (Sec. IV): distil a trained ghp_sac.py
--baseline-arch policy (the teacher, e.g. [256,256]) into a small MLP (the student, e.g. the GHN's 90%
architecture), by supervised learning on the teacher's own episodes.

    python bc_distill.py --teacher runs/RUN/checkpoint.pt --arch 8,4,4,4
    python evaluate.py run --checkpoint runs/bc/RUN/checkpoint.pt --episodes 20
    python bc_distill.py --help

Data: `--data-steps` env steps of the teacher acting (its stochastic SAC policy by default, which visits
more states than its deterministic one), each observation labelled with the teacher's deterministic
action tanh(mean) x scale + bias, the action evaluation runs. The student, an MLP obs -> arch -> 2 x
act_dim like every policy of ghp_sac.py, is trained with the mean squared error between its own
deterministic action and that label (`bc_loss`): its log_std outputs, which evaluation never uses, get
no loss, and a mean the teacher saturates (tanh ~ +-1) need not be matched beyond the saturation.
Its checkpoint has ghp_sac.py's --baseline-arch format, so evaluate.py reads it.
"""

import os
import random
import time
from dataclasses import asdict, dataclass

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
import tyro
from torch.utils.tensorboard import SummaryWriter

import archspace
from archspace import arch_name
from ghn import FixedMLP, mlp_forward
from ghp_sac import deterministic_action, evaluate_probes, squashed_gaussian


@dataclass
class Args:
    teacher: str = ""
    """checkpoint.pt of a ghp_sac.py --baseline-arch run (the policy to imitate)"""
    arch: str = ""
    """the student's hidden layers, e.g. 8,4,4,4"""
    seed: int = 1
    """seed of python, numpy, torch and the data episodes"""
    data_steps: int = 100_000
    """env steps of teacher episodes to learn from"""
    stochastic_data: bool = True
    """collect the data with the teacher's stochastic policy (--no-stochastic-data: its deterministic one)"""
    epochs: int = 50
    """passes over the data"""
    batch_size: int = 256
    """minibatch size"""
    lr: float = 1e-3
    """Adam learning rate of the student"""
    eval_episodes: int = 10
    """deterministic episodes of the teacher and of the student after training"""
    runs_dir: str = "runs/bc"
    """folder for tensorboard logs and the student's checkpoint: <runs-dir>/<run name>/"""
    exp_name: str = "bc"
    """the name of this experiment (part of the run name)"""
    threads: int = 0
    """torch CPU threads; 0 keeps torch's default"""


def load_teacher(path):
    """The teacher's checkpoint and its actor; one-line errors for anything else."""
    if not os.path.isfile(path):
        raise SystemExit(f"--teacher {path!r}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # an empty, cut, text or foreign file (weights_only refuses objects that would run code)
        raise SystemExit(f"--teacher {path!r}: not a checkpoint this script can read ({type(error).__name__})")
    if not isinstance(checkpoint, dict) or checkpoint.get("algo") != "sac" or checkpoint.get("baseline_arch") is None:
        raise SystemExit(f"--teacher {path!r}: not a checkpoint of a ghp_sac.py --baseline-arch run")
    for flag in [flag for flag in ("unscaled_actions", "log_std_clamp") if checkpoint.get("args", {}).get(flag)]:
        raise SystemExit(f"--teacher {path!r}: a --{flag.replace('_', '-')} run; students here learn the default transforms")
    teacher = FixedMLP(checkpoint["baseline_arch"], checkpoint["obs_dim"], 2 * checkpoint["act_dim"])
    teacher.load_state_dict(checkpoint["baseline_state"])
    return checkpoint, teacher.eval()


@torch.no_grad()
def collect(teacher, env, steps, stochastic, seed, action_scale, action_bias):
    """Observations of the teacher's episodes and its deterministic actions on them (the labels):
    (steps, obs_dim), (steps, act_dim)."""
    observations, labels = [], []
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        output = mlp_forward(teacher.params(), torch.as_tensor(obs, dtype=torch.float32)[None])
        observations.append(obs)
        labels.append(deterministic_action(output, action_scale, action_bias)[0])
        if stochastic:
            action = squashed_gaussian(output, action_scale, action_bias)[0]
        else:
            action = labels[-1][None]
        obs, _, terminated, truncated, _ = env.step(action[0].numpy())
        if terminated or truncated:
            obs, _ = env.reset()
    return torch.as_tensor(np.array(observations), dtype=torch.float32), torch.stack(labels)


def bc_loss(student_outputs, teacher_actions, action_scale, action_bias):
    """Mean squared error between the student's deterministic action (what evaluation runs) and the
    teacher's: the student's log_std outputs and the part of a mean beyond tanh's saturation cost nothing."""
    return F.mse_loss(deterministic_action(student_outputs, action_scale, action_bias), teacher_actions)


if __name__ == "__main__":
    args = tyro.cli(Args)
    checkpoint, teacher = load_teacher(args.teacher)
    try:
        student_arch = archspace.parse_arch(args.arch)
    except ValueError as error:
        raise SystemExit(f"--arch: {error}")
    for name in ("data_steps", "epochs", "batch_size", "eval_episodes"):
        if getattr(args, name) < 1:
            raise SystemExit(f"bad --{name.replace('_', '-')} {getattr(args, name)}: must be at least 1")
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    env_id, obs_dim, act_dim = checkpoint["env_id"], checkpoint["obs_dim"], checkpoint["act_dim"]
    run_dir = os.path.join(
        args.runs_dir, f"{env_id}__{args.exp_name}_{arch_name(student_arch)}__{args.seed}__{int(time.time())}"
    )
    writer = SummaryWriter(run_dir)
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))
    env = gym.make(env_id)
    env.action_space.seed(args.seed)
    action_scale = torch.tensor((env.action_space.high - env.action_space.low) / 2.0, dtype=torch.float32)
    action_bias = torch.tensor((env.action_space.high + env.action_space.low) / 2.0, dtype=torch.float32)
    print(
        f"{env_id}: teacher {list(teacher.arch)} (step {checkpoint['global_step']}) -> student {list(student_arch)}, "
        f"{archspace.num_params(student_arch, obs_dim, act_dim)} parameters (mean head), run dir {run_dir}"
    )

    # data: the teacher's episodes, labelled with its outputs
    start = time.time()
    observations, labels = collect(teacher, env, args.data_steps, args.stochastic_data, args.seed, action_scale, action_bias)
    print(f"collected {len(observations)} teacher steps in {time.time() - start:.0f} s", flush=True)

    # learn: regress the student's deterministic action on the teacher's
    student = FixedMLP(student_arch, obs_dim, 2 * act_dim)
    optimizer = torch.optim.Adam(student.parameters(), lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        order, total = torch.randperm(len(observations)), 0.0
        for batch in order.split(args.batch_size):
            loss = bc_loss(mlp_forward(student.params(), observations[batch]), labels[batch], action_scale, action_bias)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        writer.add_scalar("losses/bc_mse", total / len(observations), epoch)
        if epoch == 1 or epoch % 10 == 0 or epoch == args.epochs:
            print(f"epoch={epoch} mse={total / len(observations):.5f}", flush=True)

    # evaluate: teacher and student on the same fresh episodes (seeds 10_000 + e, like ghp_sac.py's probes)
    returns = {}
    for name, policy in (("teacher", teacher), ("student", student)):
        returns[name] = evaluate_probes(
            policy, [policy.arch], env_id, args.eval_episodes, 10_000, action_scale, action_bias, torch.device("cpu")
        )[arch_name(policy.arch)]
        writer.add_scalar(f"eval/return_{name}", returns[name], args.epochs)
    print(
        f"eval over {args.eval_episodes} episodes: teacher {list(teacher.arch)} {returns['teacher']:.1f}, "
        f"student {list(student_arch)} {returns['student']:.1f}"
    )

    path = os.path.join(run_dir, "checkpoint.pt")
    torch.save(
        {
            "algo": "sac",
            "args": asdict(args),
            "env_id": env_id,
            "obs_dim": obs_dim,
            "act_dim": act_dim,
            "global_step": checkpoint["global_step"],
            "ghn": None,
            "baseline_arch": student_arch,
            "baseline_state": student.state_dict(),
            "teacher": os.path.abspath(args.teacher),
        },
        path,
    )
    print(f"saved {path}")
    writer.close()
