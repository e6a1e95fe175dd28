"""Behaviour cloning for the Fetch tasks, Table I's "Behavior cloning" column (Sec. IV): distil a trained
ghp_ddpg_her.py --baseline-arch policy (the teacher, e.g. [256,256]) into a small MLP (the student, e.g.
the GHN's 90% architecture), by supervised learning on the teacher's own episodes. bc_distill.py does the
same for ghp_sac.py teachers.

    python bc_distill_her.py --teacher runs/RUN/checkpoint.pt --arch 4,8
    python evaluate.py run --checkpoint runs/bc/RUN/checkpoint.pt --episodes 20
    python bc_distill_her.py --help

Data: `--data-steps` env steps of teacher episodes in 8 envs, acting with the teacher's training
exploration by default (Gaussian action noise and random actions, its own flags), which visits more
states than its deterministic policy. Each state is labelled with the teacher's deterministic action.
The student sees the same inputs as the teacher (observation and goal, normalised with the teacher's
frozen normalisers) and is trained with the mean squared error between tanh of its outputs and the
teacher's action. Its checkpoint has ghp_ddpg_her.py's --baseline-arch format, the teacher's
normalisers included, so evaluate.py reads it.
"""

import os
import random
import time
from dataclasses import asdict, dataclass
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
import tyro
from torch.utils.tensorboard import SummaryWriter

import archspace
from archspace import arch_name
from ghn import FixedMLP, mlp_forward
from ghp_ddpg_her import (
    PolicyInputs,
    deterministic_action,
    deterministic_success,
    make_env,
    rollout,
)

NUM_ENVS = 8


@dataclass
class Args:
    teacher: str = ""
    """checkpoint.pt of a ghp_ddpg_her.py --baseline-arch run (the policy to imitate)"""
    arch: str = ""
    """the student's hidden layers, e.g. 4,8"""
    seed: int = 1
    """seed of python, numpy, torch and the data episodes"""
    data_steps: int = 100_000
    """env steps of teacher episodes to learn from (whole episodes in 8 envs: rounded up)"""
    explore_data: bool = True
    """collect the data with the teacher's training exploration (--no-explore-data: its deterministic policy)"""
    epochs: int = 50
    """passes over the data"""
    batch_size: int = 256
    """minibatch size"""
    lr: float = 1e-3
    """Adam learning rate of the student"""
    eval_episodes: int = 16
    """deterministic episodes of the teacher and of the student after training"""
    runs_dir: str = "runs/bc"
    """folder for tensorboard logs and the student's checkpoint: <runs-dir>/<run name>/"""
    exp_name: str = "bc"
    """the name of this experiment (part of the run name)"""
    threads: int = 0
    """torch CPU threads; 0 keeps torch's default"""


def load_teacher(path):
    """The teacher's checkpoint, its actor and its input normalisers; one-line errors for anything else."""
    if not os.path.isfile(path):
        raise SystemExit(f"--teacher {path!r}: no such checkpoint file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # an empty, cut, text or foreign file (weights_only refuses objects that would run code)
        raise SystemExit(f"--teacher {path!r}: not a checkpoint this script can read ({type(error).__name__})")
    if not isinstance(checkpoint, dict) or checkpoint.get("algo") != "ddpg_her" or checkpoint.get("baseline_arch") is None:
        raise SystemExit(f"--teacher {path!r}: not a checkpoint of a ghp_ddpg_her.py --baseline-arch run")
    if checkpoint.get("args", {}).get("raw_actor"):
        raise SystemExit(f"--teacher {path!r}: a --raw-actor run; students here learn tanh actions from a tanh teacher")
    teacher = FixedMLP(checkpoint["baseline_arch"], checkpoint["obs_dim"] + checkpoint["goal_dim"], checkpoint["act_dim"])
    teacher.load_state_dict(checkpoint["baseline_state"])
    saved = checkpoint["args"]
    policy_inputs = PolicyInputs(
        checkpoint["obs_dim"], checkpoint["goal_dim"], saved["clip_obs"], saved["clip_norm"], torch.device("cpu")
    )
    policy_inputs.obs_norm.load_state_dict(checkpoint["obs_norm"])
    policy_inputs.goal_norm.load_state_dict(checkpoint["goal_norm"])
    return checkpoint, teacher.eval(), policy_inputs


if __name__ == "__main__":
    args = tyro.cli(Args)
    checkpoint, teacher, policy_inputs = load_teacher(args.teacher)
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
    rng = np.random.default_rng(args.seed)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    env_id, act_dim = checkpoint["env_id"], checkpoint["act_dim"]
    input_dim = checkpoint["obs_dim"] + checkpoint["goal_dim"]
    horizon = gym.make(env_id).spec.max_episode_steps  # the teacher's env: a checkpoint of ghp_ddpg_her.py made it
    run_dir = os.path.join(
        args.runs_dir, f"{env_id}__{args.exp_name}_{arch_name(student_arch)}__{args.seed}__{int(time.time())}"
    )
    writer = SummaryWriter(run_dir)
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))
    envs = gym.vector.SyncVectorEnv([make_env(env_id, args.seed + i) for i in range(NUM_ENVS)])
    # the teacher's own exploration settings, for rollout() and deterministic_success()
    rollout_args = SimpleNamespace(
        exploration_noise=checkpoint["args"]["exploration_noise"],
        random_eps=checkpoint["args"]["random_eps"],
        meta_batch=NUM_ENVS,
        raw_actor=False,  # (load_teacher refuses --raw-actor teachers)
    )
    print(
        f"{env_id}: teacher {list(teacher.arch)} (epoch {checkpoint['epoch']}) -> student {list(student_arch)}, "
        f"{archspace.num_params(student_arch, input_dim, act_dim)} parameters, run dir {run_dir}"
    )

    # data: the teacher's episodes, each state labelled with the teacher's deterministic action
    start, inputs, targets = time.time(), [], []
    rollouts = -(-args.data_steps // (NUM_ENVS * horizon))
    with torch.no_grad():
        for _ in range(rollouts):
            (obs, _, goals, _), *_ = rollout(
                envs, teacher, [teacher.arch] * NUM_ENVS, policy_inputs, horizon, rng, rollout_args, explore=args.explore_data
            )  # episode starts drawn from rng (--seed)
            episode_inputs = policy_inputs(obs[:, :horizon].reshape(-1, obs.shape[-1]), goals.reshape(-1, goals.shape[-1]))
            inputs.append(episode_inputs)
            targets.append(deterministic_action(mlp_forward(teacher.params(), episode_inputs)))
    inputs, targets = torch.cat(inputs), torch.cat(targets)
    print(f"collected {len(inputs)} teacher steps ({rollouts * NUM_ENVS} episodes) in {time.time() - start:.0f} s", flush=True)

    # learn: regress the student's actions on the teacher's
    student = FixedMLP(student_arch, input_dim, act_dim)
    optimizer = torch.optim.Adam(student.parameters(), lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        order, total = torch.randperm(len(inputs)), 0.0
        for batch in order.split(args.batch_size):
            loss = F.mse_loss(deterministic_action(mlp_forward(student.params(), inputs[batch])), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        writer.add_scalar("losses/bc_mse", total / len(inputs), epoch)
        if epoch == 1 or epoch % 10 == 0 or epoch == args.epochs:
            print(f"epoch={epoch} mse={total / len(inputs):.5f}", flush=True)

    # evaluate: teacher and student on the same fresh deterministic episodes
    success = {}
    for name, policy in (("teacher", teacher), ("student", student)):
        with torch.no_grad():
            success[name] = float(
                deterministic_success(
                    envs, policy, [policy.arch] * args.eval_episodes, policy_inputs, horizon, rng, rollout_args, seed=10_000
                )[0].mean()  # at the final step
            )
        writer.add_scalar(f"eval/success_{name}", success[name], args.epochs)
    print(
        f"eval over {args.eval_episodes} episodes: success rate of teacher {list(teacher.arch)} {success['teacher']:.2f}, "
        f"student {list(student_arch)} {success['student']:.2f}"
    )

    path = os.path.join(run_dir, "checkpoint.pt")
    torch.save(
        {
            "algo": "ddpg_her",
            "args": checkpoint["args"],
            "bc_args": asdict(args),
            "env_id": env_id,
            "obs_dim": checkpoint["obs_dim"],
            "goal_dim": checkpoint["goal_dim"],
            "act_dim": act_dim,
            "epoch": checkpoint["epoch"],
            "env_steps": checkpoint.get("env_steps"),
            "ghn": None,
            "baseline_arch": student_arch,
            "baseline_state": student.state_dict(),
            "obs_norm": checkpoint["obs_norm"],
            "goal_norm": checkpoint["goal_norm"],
            "teacher": os.path.abspath(args.teacher),
        },
        path,
    )
    print(f"saved {path}")
    envs.close()
    writer.close()
