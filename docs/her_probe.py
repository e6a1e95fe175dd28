"""What a ghp_ddpg_her.py run's actor and critic do on its own replay data (issue 46: why a GHP run lags its baseline).

    python docs/her_probe.py --checkpoints runs/GHP/checkpoint.pt runs/BASELINE/checkpoint.pt --archs 64

For each checkpoint.pt (a GHP run or a --baseline-arch run): a HER minibatch drawn from its replay buffer as training
draws it (future_p relabelling, the run's normalisers), then per policy (the baseline's one actor; the GHN's generated
[256,256] and a seeded sample of archs) the share of action entries saturated (|tanh(output)| > 0.99), the mean
|action|, and the critic's mean Q of the policy's actions and of the buffer's actions, next to the mean target
r + gamma Q_target(s', pi(s')) (clipped as in training). Nothing trains; the checkpoint is only read.
"""

import os
import sys
from dataclasses import dataclass, field

import numpy as np
import torch
import tyro

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import archspace  # noqa: E402
import ghp_ddpg_her as her  # noqa: E402
from ghn import GHN, FixedMLP, mlp_forward  # noqa: E402


@dataclass
class Args:
    checkpoints: list[str] = field(default_factory=list)
    """checkpoint.pt files of ghp_ddpg_her.py runs (with their replay buffer)"""
    archs: int = 64
    """random archs probed per GHN (besides [256,256])"""
    batch: int = 4096
    """transitions drawn from each buffer"""
    seed: int = 0
    """seed of the minibatch and of the arch sample"""


@torch.no_grad()
def probe(path, num_archs, batch, seed):
    """Table rows (policy, saturated share, mean |action|, Q(s, pi(s)), Q(s, a_buffer), target) of one checkpoint."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    saved = checkpoint["args"]
    env = her.gym.make(checkpoint["env_id"])
    obs_dim, goal_dim, act_dim = checkpoint["obs_dim"], checkpoint["goal_dim"], checkpoint["act_dim"]
    horizon = env.spec.max_episode_steps
    buffer = her.EpisodeBuffer(saved["buffer_size"], horizon, obs_dim, goal_dim, act_dim)
    buffer.load_state_dict(checkpoint["buffer"])
    inputs = her.PolicyInputs(obs_dim, goal_dim, saved["clip_obs"], saved["clip_norm"], torch.device("cpu"))
    inputs.obs_norm.load_state_dict(checkpoint["obs_norm"])
    inputs.goal_norm.load_state_dict(checkpoint["goal_norm"])
    qf, qf_target = her.QNetwork(obs_dim + goal_dim, act_dim), her.QNetwork(obs_dim + goal_dim, act_dim)
    qf.load_state_dict(checkpoint["qf"])
    qf_target.load_state_dict(checkpoint["qf_target"])
    rng = np.random.default_rng(seed)
    data = buffer.sample(rng, batch, saved["future_p"], env.unwrapped.compute_reward)
    b_inputs, b_next = inputs(data["obs"], data["goals"]), inputs(data["next_obs"], data["goals"])
    max_action = float(env.action_space.high[0])
    b_actions = torch.as_tensor(data["actions"] / max_action)
    rewards, gamma = torch.as_tensor(data["rewards"]), saved["gamma"]
    if checkpoint.get("ghn") is not None:
        ghn = GHN.from_checkpoint(checkpoint["ghn"])
        archs = [(256, 256)] + archspace.sample_archs(np.random.default_rng(seed), num_archs, archspace.all_archs())
        policies = {archspace.arch_name(arch): params for arch, params in zip(archs, ghn(archs))}
    else:
        actor = FixedMLP(checkpoint["baseline_arch"], obs_dim + goal_dim, act_dim)
        actor.load_state_dict(checkpoint["baseline_state"])
        policies = {f"baseline {archspace.arch_name(actor.arch)}": actor.params()}
    rows, q_buffer = [], qf(b_inputs, b_actions).mean().item()
    for name, params in policies.items():
        pi = her.deterministic_action(mlp_forward(params, b_inputs), raw=saved["raw_actor"])
        next_pi = her.deterministic_action(mlp_forward(params, b_next), raw=saved["raw_actor"])
        target = (rewards + gamma * qf_target(b_next, next_pi).view(-1)).clamp(-1.0 / (1.0 - gamma), 0.0)
        saturated = (pi.abs() > 0.99).double().mean().item()
        rows.append((name, saturated, pi.abs().mean().item(), qf(b_inputs, pi).mean().item(), q_buffer, target.mean().item()))
    return checkpoint, rows


if __name__ == "__main__":
    args = tyro.cli(Args)
    for path in args.checkpoints:
        checkpoint, rows = probe(path, args.archs, args.batch, args.seed)
        print(f"\n{path}: {checkpoint['env_id']}, epoch {checkpoint['epoch']}, {checkpoint['env_steps']} env steps\n")
        print("| policy | saturated actions | mean abs action | Q(s, pi(s)) | Q(s, a from the buffer) | target |")
        print("|---|---|---|---|---|---|")
        named = rows[:1] + ([("random archs (mean)", *np.mean([row[1:] for row in rows[1:]], 0))] if len(rows) > 1 else [])
        for name, saturated, mean_abs, q_pi, q_buffer, target in named:
            print(f"| {name} | {saturated:.3f} | {mean_abs:.3f} | {q_pi:.3f} | {q_buffer:.3f} | {target:.3f} |")
        if len(rows) > 1:  # the spread of Q(s, pi(s)) over the random archs, in its own column
            q_pis = [row[3] for row in rows[1:]]
            print(f"| random archs (min..max) | | | {min(q_pis):.3f}..{max(q_pis):.3f} | | |")
