"""Deterministic return of a --baseline-arch checkpoint of ghp_sac.py on fresh episodes (for
docs/results.md; evaluate.py evaluates GHN checkpoints).

    python docs/eval_baseline.py --checkpoints runs/Hopper-v4__baseline__1__*/checkpoint.pt --episodes 20 --seed 1000

Episode e starts from seed + e, as in evaluate.py, and the action is ghp_sac.py's evaluation action
(tanh of the mean, scaled to the action bounds).
"""

import os
import sys
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
import tyro

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import archspace  # noqa: E402
import ghp_sac  # noqa: E402
from ghn import FixedMLP  # noqa: E402


@dataclass
class Args:
    checkpoints: tuple[str, ...]
    """checkpoint.pt files of ghp_sac.py --baseline-arch runs"""
    episodes: int = 20
    """episodes per checkpoint"""
    seed: int = 1000
    """episode e starts from seed + e"""


if __name__ == "__main__":
    args = tyro.cli(Args)
    for path in args.checkpoints:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        if checkpoint.get("algo") != "sac" or checkpoint.get("baseline_arch") is None:
            raise SystemExit(f"{path}: not a ghp_sac.py --baseline-arch checkpoint")
        actor = FixedMLP(checkpoint["baseline_arch"], checkpoint["obs_dim"], 2 * checkpoint["act_dim"])
        actor.load_state_dict(checkpoint["baseline_state"])
        space = gym.make(checkpoint["env_id"]).action_space
        scale = torch.tensor((space.high - space.low) / 2.0, dtype=torch.float32)
        bias = torch.tensor((space.high + space.low) / 2.0, dtype=torch.float32)
        arch = tuple(checkpoint["baseline_arch"])
        returns = [
            ghp_sac.evaluate_probes(
                actor, [arch], checkpoint["env_id"], 1, args.seed + episode, scale, bias, torch.device("cpu")
            )[archspace.arch_name(arch)]
            for episode in range(args.episodes)
        ]
        print(
            f"{path}: {list(checkpoint['baseline_arch'])} at step {checkpoint['global_step']}: "
            f"{np.mean(returns):.1f} ± {np.std(returns):.1f} over {args.episodes} episodes "
            f"(seeds {args.seed}..{args.seed + args.episodes - 1})"
        )
