"""DDPG + HER with a graph hyper policy (GHP) for Fetch manipulation (Sec. III-C, Sec. IV).

    python ghp_ddpg_her.py --env-id FetchReach-v4                        # GHP: one GHN, 4680 policies
    python ghp_ddpg_her.py --env-id FetchReach-v4 --baseline-arch 256,256 # the paper's baseline
    python ghp_ddpg_her.py --help

HER's schedule (Andrychowicz et al. 2017) as the authors run it: epochs of cycles; a cycle collects
--rollouts-per-cycle (8) rollouts, each one episode from every one of the meta_batch envs, env i driven
by architecture i of a meta-batch sampled at the start of that rollout, then runs 40 gradient steps,
drawing a new meta-batch every --steps-per-arch (4) steps, and a soft target update. The desired goal is
appended to the observation given to the policy and the critic. Structure after CleanRL's
ddpg_continuous_action.py.
"""

import functools
import os
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, fields
from typing import Literal

import gymnasium as gym
import gymnasium_robotics
import imageio.v2 as imageio
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
import tyro
from torch.utils.tensorboard import SummaryWriter

import archspace
from ghn import GHN, mlp_forward

gym.register_envs(gymnasium_robotics)


@dataclass
class Args:
    # Algorithm specific arguments
    env_id: str = "FetchReach-v4"
    """a goal-conditioned gymnasium-robotics env: FetchReach-v4, FetchPush-v4, FetchSlide-v4, FetchPickAndPlace-v4"""
    epochs: int = 10
    """number of epochs"""
    cycles_per_epoch: int = 50
    """cycles per epoch; a cycle = rollouts_per_cycle episodes from every env, then the gradient steps"""
    updates_per_cycle: int = 40
    """gradient steps per cycle"""
    rollouts_per_cycle: int = 8
    """rollouts per cycle, each one episode from every env with a newly sampled meta-batch
    (8: the authors' final main_ddpg.py; 1: the classic HER schedule)"""
    steps_per_arch: int = 4
    """draw a new training meta-batch every this many gradient steps within a cycle (the authors' steps_per_arc,
    4 in all their Fetch configs); 0 trains the last rollout's archs for the whole cycle (the classic schedule)"""
    meta_batch: int = 8
    """architectures per meta-batch = number of parallel envs (Sec. III-C)"""
    buffer_size: int = int(1e6)
    """replay buffer size in transitions (stored as whole episodes)"""
    gamma: float = 0.98
    """the discount factor gamma"""
    tau: float = 0.05
    """target smoothing coefficient, applied once per cycle"""
    batch_size: int = 256
    """minibatch size, split into meta_batch equal chunks, one per architecture (Eq. 4)"""
    q_lr: float = 1e-3
    """learning rate of the Q network"""
    future_p: float = 0.8
    """fraction of sampled transitions relabelled with a goal achieved later in the episode ("future", k = 4)"""
    exploration_noise: float = 0.2
    """std of the Gaussian action noise, as a fraction of the action range"""
    random_eps: float = 0.3
    """probability of a uniformly random action during rollouts"""
    action_l2: float = 1.0
    """weight of the L2 penalty on the policy's actions in the actor loss"""
    clip_obs: float = 200.0
    """observations and goals are clipped to +-clip_obs before normalisation"""
    clip_norm: float = 5.0
    """normalised observations and goals are clipped to +-clip_norm"""

    # Graph hyper policy arguments
    arch_sampling: Literal["uniform", "depth"] = "uniform"
    """how architectures are sampled: uniform (the paper) or depth (uniform depth first, an ablation)"""
    baseline_arch: str = ""
    """if set (e.g. 256,256), train this one fixed MLP actor instead of the GHN, nothing else changed"""
    ghn_decoder: Literal["full", "lowrank"] = "full"
    """GHN weight decoder: full (the paper's 128 -> 512x512 map) or lowrank (rank-r row x column factors)"""
    ghn_hidden: int = 16
    """GHN node embedding size (the authors use 16)"""
    ghn_rank: int = 16
    """rank of the lowrank decoder's row and column factors (ignored by the full decoder)"""
    ghn_code_slope: float = 0.1
    """negative slope of the leaky ReLU that ends the GHN's weight codes (0: a plain ReLU, as the authors'; docs/method.md)"""
    ghn_lr: float = 1e-3
    """Adam learning rate of the GHN (the authors' hyper/core.py)"""
    ghn_weight_decay: float = 1e-5
    """Adam weight decay of the GHN, applied to the weights as the generated policies see them (the authors' 1e-5)"""
    baseline_lr: float = 1e-3
    """Adam learning rate of the --baseline-arch actor (the authors' DDPG actor: 1e-3)"""
    baseline_weight_decay: float = 0.0
    """Adam weight decay of the --baseline-arch actor (the authors' DDPG actor has none)"""

    # Run: naming, device, logging, evaluation, checkpoints, resume, compile
    exp_name: str = os.path.basename(__file__)[: -len(".py")]
    """the name of this experiment (part of the run name)"""
    seed: int = 1
    """seed of the experiment (python, numpy, torch, envs, architecture sampling)"""
    torch_deterministic: bool = True
    """if toggled, `torch.backends.cudnn.deterministic=True`"""
    cuda: bool = True
    """use CUDA when it is available (--no-cuda forces the CPU)"""
    threads: int = 0
    """torch CPU threads; 0 keeps torch's default"""
    runs_dir: str = "runs"
    """folder for tensorboard logs and checkpoints: <runs-dir>/<run name>/ (a resumed run stays in its checkpoint's folder)"""
    resume: str = ""
    """path to a checkpoint.pt to continue exactly after its epoch (flags, RNG states, buffer);
    flags not given are the checkpoint's; only run length, evaluation and device flags may differ"""
    async_envs: bool = False
    """step the envs in subprocesses (gymnasium AsyncVectorEnv)"""
    eval_archs: int = 16
    """random architectures tested after each epoch (besides the probe set), one episode each"""
    capture_video: bool = False
    """after each epoch, save one deterministic episode of every probe architecture (of the baseline's) as
    <run dir>/videos/epoch<k>_<arch>.mp4 (headless: MUJOCO_GL=osmesa or egl)"""
    save_every: int = 1
    """epochs between checkpoints (one is always written at the end)"""
    save_buffer: bool = True
    """keep the replay buffer in checkpoint.pt, so that --resume continues exactly
    (--no-save-buffer for huge buffers: the buffer then refills on resume)"""
    compile: bool = False
    """compile each gradient step (critic, GHN call, actor) into one graph with torch.compile, as CUDA graphs
    on a GPU; the first step compiles (about a minute)"""


PROBE_ARCHS = [(4, 8), (16, 16, 8), (64, 64), (256, 256)]


def make_env(env_id, seed):
    def thunk():
        env = gym.make(env_id)
        env.action_space.seed(seed)
        return env

    return thunk


class Normalizer:
    """Running mean / std of a vector, updated from collected episodes; outputs clipped to +-clip."""

    def __init__(self, size, clip, eps=1e-2):
        self.clip, self.eps = clip, eps
        self.sum, self.sumsq, self.count = np.zeros(size), np.zeros(size), 0

    def update(self, values):
        values = values.reshape(-1, self.sum.shape[0])
        self.sum += values.sum(0)
        self.sumsq += np.square(values).sum(0)
        self.count += values.shape[0]

    @property
    def mean(self):
        return self.sum / max(self.count, 1)

    @property
    def std(self):
        variance = self.sumsq / max(self.count, 1) - np.square(self.mean)
        return np.sqrt(np.maximum(np.square(self.eps), variance))

    def normalize(self, values):
        return np.clip((values - self.mean) / self.std, -self.clip, self.clip)

    def state_dict(self):
        return {"sum": self.sum, "sumsq": self.sumsq, "count": self.count}

    def load_state_dict(self, state):
        self.sum, self.sumsq, self.count = state["sum"].copy(), state["sumsq"].copy(), state["count"]


class PolicyInputs:
    """What the policy and the critic see (Sec. IV): the observation and the desired goal, each clipped
    to +-clip_obs and normalised by its running mean and std (clipped to +-clip_norm), concatenated."""

    def __init__(self, obs_dim, goal_dim, clip_obs, clip_norm, device):
        self.obs_norm, self.goal_norm = Normalizer(obs_dim, clip_norm), Normalizer(goal_dim, clip_norm)
        self.clip_obs, self.device = clip_obs, device

    def update(self, obs, goals):
        self.obs_norm.update(np.clip(obs, -self.clip_obs, self.clip_obs))
        self.goal_norm.update(np.clip(goals, -self.clip_obs, self.clip_obs))

    def __call__(self, obs, goals):
        obs = self.obs_norm.normalize(np.clip(obs, -self.clip_obs, self.clip_obs))
        goals = self.goal_norm.normalize(np.clip(goals, -self.clip_obs, self.clip_obs))
        return torch.as_tensor(np.concatenate([obs, goals], -1), dtype=torch.float32, device=self.device)


class EpisodeBuffer:
    """Replay buffer of whole episodes, sampled with hindsight relabelling ("future" strategy)."""

    def __init__(self, size_in_transitions, horizon, obs_dim, goal_dim, act_dim):
        self.horizon = horizon
        self.max_episodes = max(1, size_in_transitions // horizon)
        self.obs = np.zeros((self.max_episodes, horizon + 1, obs_dim), np.float32)
        self.achieved = np.zeros((self.max_episodes, horizon + 1, goal_dim), np.float32)
        self.goals = np.zeros((self.max_episodes, horizon, goal_dim), np.float32)
        self.actions = np.zeros((self.max_episodes, horizon, act_dim), np.float32)
        self.pos, self.num_episodes = 0, 0

    def add(self, obs, achieved, goals, actions):
        """Arrays of (n_episodes, T + 1 or T, dim); returns the slots they were written to."""
        slots = (self.pos + np.arange(len(obs))) % self.max_episodes
        self.obs[slots], self.achieved[slots], self.goals[slots], self.actions[slots] = obs, achieved, goals, actions
        self.pos = (self.pos + len(obs)) % self.max_episodes
        self.num_episodes = min(self.num_episodes + len(obs), self.max_episodes)
        return slots

    def sample(self, rng, batch_size, future_p, compute_reward, episodes=None):
        """HER: transitions (o, a, o', g, r) where a fraction future_p has its goal replaced by the goal
        achieved at a later step of the same episode; r is recomputed with the env's compute_reward."""
        if episodes is None:
            episodes = rng.integers(self.num_episodes, size=batch_size)
        steps = rng.integers(self.horizon, size=batch_size)
        goals = self.goals[episodes, steps].copy()
        relabel = rng.random(batch_size) < future_p
        future = steps + 1 + (rng.random(batch_size) * (self.horizon - steps)).astype(int)  # in t + 1 .. T
        goals[relabel] = self.achieved[episodes[relabel], future[relabel]]
        next_achieved = self.achieved[episodes, steps + 1]
        rewards = compute_reward(next_achieved, goals, None).astype(np.float32)
        return {
            "obs": self.obs[episodes, steps],
            "actions": self.actions[episodes, steps],
            "next_obs": self.obs[episodes, steps + 1],
            "goals": goals,
            "rewards": rewards,
            "episodes": episodes,
            "steps": steps,
            "relabelled": relabel,
            "future": future,
        }

    ARRAYS = ("obs", "achieved", "goals", "actions")

    def state_dict(self):
        """The stored episodes and the write position."""
        return {
            "pos": self.pos,
            "num_episodes": self.num_episodes,
            **{name: getattr(self, name)[: self.num_episodes].copy() for name in self.ARRAYS},
        }

    def load_state_dict(self, state):
        if state["num_episodes"] > self.max_episodes:
            raise SystemExit(
                f"the checkpoint's replay buffer holds {state['num_episodes']} episodes, more than --buffer-size allows "
                f"({self.max_episodes})"
            )
        for name in self.ARRAYS:
            getattr(self, name)[: state["num_episodes"]] = state[name]
        self.pos, self.num_episodes = state["pos"], state["num_episodes"]


class QNetwork(nn.Module):
    def __init__(self, input_dim, act_dim):
        super().__init__()
        self.fc1 = nn.Linear(input_dim + act_dim, 256)
        self.fc2 = nn.Linear(256, 256)
        self.fc3 = nn.Linear(256, 256)
        self.fc4 = nn.Linear(256, 1)

    def forward(self, x, a):
        x = torch.cat([x, a], 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = F.relu(self.fc3(x))
        return self.fc4(x)


def run_split_by_arch(policies, inputs, meta_batch):
    """Eq. 4's split of the minibatch by architecture: the rows of `inputs` are cut into meta_batch
    equal chunks, and chunk i goes through the policy of arch i (`policies` maps (meta_batch, n, dim)
    to (meta_batch, n, act_dim)); returns the outputs in the rows' order."""
    return policies(inputs.view(meta_batch, -1, inputs.shape[1])).flatten(0, 1)


def deterministic_action(outputs, max_action=1.0):
    """The policy's action: tanh of the generated network's outputs, times the action bound (1 for the
    critic's units in [-1, 1]; the env's bound in rollouts, evaluate.py and the exported C code)."""
    return torch.tanh(outputs) * max_action


def sample_meta_batch(rng, n, space, mode):
    """n architectures from `space` (Sec. III-C), one per env or per chunk of a minibatch. The
    baseline's space is its one architecture: that draws no random numbers."""
    if len(space) == 1:
        return [space[0]] * n
    return archspace.sample_archs(rng, n, space, mode=mode)


class BaselineActor(nn.Module):
    """An ordinary MLP (obs, goal) -> arch -> act_dim with the GHN's interface, so that the training
    loop treats both alike: baseline(archs) gives [(W, b), ...] per arch like ghn(archs) (the same MLP
    for each), arch_ids() and policies() run every chunk of a minibatch through this one MLP, and
    param_groups() feeds the optimizer."""

    def __init__(self, arch, input_dim, act_dim):
        super().__init__()
        self.arch = tuple(arch)
        sizes = [input_dim, *arch, act_dim]
        self.layers = nn.ModuleList(nn.Linear(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1))

    def params(self):
        return [(layer.weight, layer.bias) for layer in self.layers]

    def forward(self, archs):
        if any(tuple(arch) != self.arch for arch in archs):
            others = [list(arch) for arch in archs if tuple(arch) != self.arch]
            raise ValueError(f"this baseline MLP is {list(self.arch)}: it has no weights for {others}")
        return [self.params() for _ in archs]

    def arch_ids(self, archs):
        return torch.zeros(len(archs), dtype=torch.long, device=self.layers[0].weight.device)

    def policies(self, arch_ids):
        params = self.params()
        return lambda inputs: mlp_forward(params, inputs.flatten(0, 1)).view(*inputs.shape[:2], -1)

    def param_groups(self, weight_decay):
        return [{"params": list(self.parameters()), "weight_decay": weight_decay}]


def arch_name(arch):
    return "-".join(str(width) for width in arch)


def rollout(envs, policy_net, archs, policy_inputs, horizon, rng, args, explore, seed=None):
    """One episode in every env, env i acting with the policy generated for archs[i], which stays the
    same for the whole episode (Sec. III-C). With explore: Gaussian action noise, plus a uniformly
    random action with probability random_eps. Returns the episode arrays and the final success flags."""
    n, max_action = len(archs), float(envs.single_action_space.high[0])
    spaces = envs.single_observation_space
    obs_ep = np.zeros((n, horizon + 1, spaces["observation"].shape[0]), np.float32)
    achieved_ep = np.zeros((n, horizon + 1, spaces["achieved_goal"].shape[0]), np.float32)
    goals_ep = np.zeros((n, horizon, spaces["desired_goal"].shape[0]), np.float32)
    actions_ep = np.zeros((n, horizon, envs.single_action_space.shape[0]), np.float32)
    observation, _ = envs.reset(seed=seed if seed is not None else int(rng.integers(2**31)))
    with torch.no_grad():
        acting_policies = policy_net.policies(policy_net.arch_ids(archs))
    for t in range(horizon):
        obs_ep[:, t], achieved_ep[:, t] = observation["observation"], observation["achieved_goal"]
        goals_ep[:, t] = observation["desired_goal"]
        with torch.no_grad():
            outputs = run_split_by_arch(
                acting_policies, policy_inputs(observation["observation"], observation["desired_goal"]), n
            )
        actions = deterministic_action(outputs, max_action).cpu().numpy()
        if explore:
            actions = np.clip(
                actions + args.exploration_noise * max_action * rng.standard_normal(actions.shape), -max_action, max_action
            )
            random_actions = rng.uniform(-max_action, max_action, actions.shape)
            actions = np.where(rng.random((n, 1)) < args.random_eps, random_actions, actions)
        actions_ep[:, t] = actions
        observation, _, _, _, infos = envs.step(actions)
    obs_ep[:, horizon], achieved_ep[:, horizon] = observation["observation"], observation["achieved_goal"]
    return obs_ep, achieved_ep, goals_ep, actions_ep, infos["is_success"].astype(np.float64)


def deterministic_success(envs, policy_net, archs, policy_inputs, horizon, rng, args, seed):
    """Success of one deterministic episode per arch, the archs run meta_batch at a time (the last
    batch padded, so that every env runs an episode)."""
    success = []
    for start in range(0, len(archs), args.meta_batch):
        batch = archs[start : start + args.meta_batch]
        padded = batch + batch[-1:] * (args.meta_batch - len(batch))
        success.extend(
            rollout(envs, policy_net, padded, policy_inputs, horizon, rng, args, explore=False, seed=seed + start)[4][
                : len(batch)
            ]
        )
    return np.array(success)


@torch.no_grad()
def record_videos(policy_net, archs, env_id, policy_inputs, seed, prefix):
    """One deterministic episode (reset with `seed`) of the policy generated for each arch, saved as
    <prefix>_<arch>.mp4; draws no random numbers and changes no normaliser."""
    env = gym.make(env_id, render_mode="rgb_array")
    max_action = float(env.action_space.high[0])
    for arch, params in zip(archs, policy_net(archs)):
        observation, _ = env.reset(seed=seed)
        frames, done = [env.render()], False
        while not done:
            outputs = mlp_forward(params, policy_inputs(observation["observation"][None], observation["desired_goal"][None]))
            observation, _, terminated, truncated, _ = env.step(deterministic_action(outputs, max_action)[0].cpu().numpy())
            frames.append(env.render())
            done = terminated or truncated
        imageio.mimwrite(f"{prefix}_{arch_name(arch)}.mp4", frames, fps=env.metadata.get("render_fps", 25), macro_block_size=1)
    env.close()


# ---- run plumbing (flag checks, resume, compile, logging): not needed to follow the algorithm ----

# Flags that --resume may change: run length, evaluation, and where and how the run executes. Every
# other flag defines the run: it is taken from the checkpoint, and giving another value is an error.
RESUME_MAY_CHANGE = (
    "resume epochs eval_archs capture_video save_every save_buffer cuda threads async_envs torch_deterministic compile"
).split()
# A checkpoint older than a flag resumes with that flag's default, unless the default has changed since:
# then with the value that reproduces what the run did (before --steps-per-arch and --rollouts-per-cycle,
# every cycle was classic; before --ghn-code-slope, the GHN's codes ended in a plain ReLU).
FORMER_DEFAULTS = {"steps_per_arch": 0, "rollouts_per_cycle": 1, "ghn_code_slope": 0.0}


def check_env(env_id):
    """One-line errors for env ids this script cannot train on; returns (obs_dim, goal_dim, act_dim, T)."""
    try:
        env = gym.make(env_id)
    except gym.error.DependencyNotInstalled as error:  # a registered env whose package is missing
        raise SystemExit(f"env {env_id!r} cannot be made here, a package it needs is missing: {error}")
    except gym.error.Error as error:
        raise SystemExit(f"unknown env id {env_id!r}: {error}")
    obs_space, act_space, horizon = env.observation_space, env.action_space, env.spec.max_episode_steps
    has_reward_fn = hasattr(env.unwrapped, "compute_reward")
    env.close()
    if not (
        isinstance(obs_space, gym.spaces.Dict)
        and {"observation", "achieved_goal", "desired_goal"} <= set(obs_space.spaces)
        and has_reward_fn
    ):
        raise SystemExit(
            f"env {env_id!r} is not goal-conditioned: ghp_ddpg_her.py needs a dict observation with "
            "observation/achieved_goal/desired_goal and compute_reward (e.g. FetchReach-v4); "
            "for MuJoCo locomotion use ghp_sac.py"
        )
    if not isinstance(act_space, gym.spaces.Box):
        raise SystemExit(f"env {env_id!r} has a {type(act_space).__name__} action space: ghp_ddpg_her.py needs a Box one")
    if not horizon:
        raise SystemExit(f"env {env_id!r} has no max_episode_steps: HER needs fixed-length episodes")
    return obs_space["observation"].shape[0], obs_space["desired_goal"].shape[0], act_space.shape[0], horizon


def check_args(args):
    """One-line errors for flags this script cannot run with; returns (baseline arch or None, obs_dim,
    goal_dim, act_dim, horizon)."""
    if args.meta_batch < 1 or args.batch_size % args.meta_batch != 0:
        raise SystemExit(
            f"--batch-size {args.batch_size} must be a positive multiple of --meta-batch {args.meta_batch}: "
            "the minibatch is split into meta_batch equal chunks, one per architecture"
        )
    for name in ("epochs", "cycles_per_epoch", "updates_per_cycle", "rollouts_per_cycle", "eval_archs", "save_every"):
        if getattr(args, name) < 1:
            raise SystemExit(f"bad --{name.replace('_', '-')} {getattr(args, name)}: must be at least 1")
    if args.steps_per_arch < 0:
        raise SystemExit(f"bad --steps-per-arch {args.steps_per_arch}: must be at least 0 (0: one meta-batch per cycle)")
    if not 0.0 <= args.future_p <= 1.0:
        raise SystemExit(f"bad --future-p {args.future_p}: allowed 0..1")
    try:
        baseline_arch = archspace.parse_arch(args.baseline_arch) if args.baseline_arch else None
    except ValueError as error:
        raise SystemExit(f"--baseline-arch: {error}")
    obs_dim, goal_dim, act_dim, horizon = check_env(args.env_id)
    cycle = args.rollouts_per_cycle * args.meta_batch * horizon
    if args.buffer_size < cycle:
        raise SystemExit(
            f"--buffer-size {args.buffer_size} must hold at least one cycle's episodes: {cycle} transitions "
            f"(--rollouts-per-cycle {args.rollouts_per_cycle} x --meta-batch {args.meta_batch} x {horizon} steps)"
        )
    return baseline_arch, obs_dim, goal_dim, act_dim, horizon


def check_rendering(env_id):
    """One-line error unless MuJoCo can render offscreen here (--capture-video)."""
    env = gym.make(env_id, render_mode="rgb_array")
    try:
        env.reset(seed=0)
        env.render()
    except Exception as error:  # no OpenGL context: mujoco and PyOpenGL raise several kinds
        gl = os.environ.get("MUJOCO_GL", "")
        raise SystemExit(
            f"--capture-video: cannot render with MUJOCO_GL={gl or '(unset: glfw, needs a display)'} "
            f"({type(error).__name__}): on a headless machine install OSMesa (Debian/Ubuntu: apt-get install "
            "libosmesa6) and run with MUJOCO_GL=osmesa, or EGL (a GPU driver's libEGL) with MUJOCO_GL=egl"
        )
    finally:
        env.close()


def seed_and_device(args):
    """Seeds python, numpy and torch; returns the torch device and the numpy generator of exploration,
    HER sampling and architecture sampling."""
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # denormal Adam moments of rarely used GHN rows slow CPU updates
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")
    if args.cuda and device.type == "cpu":
        print("--cuda: no CUDA device is available, running on the CPU (--no-cuda skips this note)")
    return device, np.random.default_rng(args.seed)


class CompilableAdam:
    """torch.optim.Adam's update (L2 weight decay, bias correction) as plain tensor ops, for --compile:
    torch.compile traces it inside the compiled step, where torch.optim's step() breaks the graph on
    purpose. Its state_dict() has the format of torch.optim.Adam(fused=True), so checkpoints work
    either way."""

    TORCH_GROUP_KEYS = {
        "amsgrad": False,
        "maximize": False,
        "foreach": None,
        "capturable": False,
        "differentiable": False,
        "fused": True,
        "decoupled_weight_decay": False,
    }

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        params = list(params)
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups = [
            {
                "params": list(group["params"]),
                "lr": lr,
                "betas": betas,
                "eps": eps,
                "weight_decay": group.get("weight_decay", weight_decay),
            }
            for group in groups
        ]
        self.moments = [[(torch.zeros_like(p), torch.zeros_like(p)) for p in group["params"]] for group in self.param_groups]
        self.steps = torch.zeros((), device=self.param_groups[0]["params"][0].device)

    def zero_grad(self):
        for group in self.param_groups:
            for param in group["params"]:
                param.grad = None

    @torch.no_grad()
    def step(self):
        self.steps += 1
        for group, moments in zip(self.param_groups, self.moments):
            (beta1, beta2), decay = group["betas"], group["weight_decay"]
            steps = self.steps.double()  # in float64 as torch.optim.Adam: float32 makes 0.999 into 0.99900001
            step_size = group["lr"] / (1 - beta1**steps)
            correction2 = (1 - beta2**steps).sqrt()
            for param, (exp_avg, exp_avg_sq) in zip(group["params"], moments):
                grad = param.grad if decay == 0 else param.grad + decay * param
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                param.sub_(step_size * exp_avg / (exp_avg_sq.sqrt() / correction2 + group["eps"]))

    def state_dict(self):
        state, index, groups = {}, 0, []
        for group, moments in zip(self.param_groups, self.moments):
            ids = list(range(index, index + len(moments)))
            for i, (exp_avg, exp_avg_sq) in zip(ids, moments):
                state[i] = {"step": self.steps.clone(), "exp_avg": exp_avg.clone(), "exp_avg_sq": exp_avg_sq.clone()}
            groups.append(
                {key: value for key, value in group.items() if key != "params"} | self.TORCH_GROUP_KEYS | {"params": ids}
            )
            index += len(moments)
        return {"state": state if self.steps > 0 else {}, "param_groups": groups}

    def load_state_dict(self, saved):
        index = 0
        for moments in self.moments:
            for exp_avg, exp_avg_sq in moments:
                if index in saved["state"]:
                    entry = saved["state"][index]
                    exp_avg.copy_(entry["exp_avg"])
                    exp_avg_sq.copy_(entry["exp_avg_sq"])
                    self.steps.fill_(float(entry["step"]))
                index += 1


def flags_on_command_line(argv):
    """Args field names given in argv (--env-id X, --env-id=X, --async-envs, --no-async-envs)."""
    names = set()
    for arg in argv:
        if arg.startswith("--"):
            name = arg[2:].split("=", 1)[0].replace("-", "_")
            names.add(name[3:] if name.startswith("no_") else name)
    return names


def load_resume_checkpoint(args):
    """The checkpoint --resume names. Every flag not given on the command line is taken from it; a
    flag given with another value is a one-line error, unless it is in RESUME_MAY_CHANGE."""
    if not os.path.isfile(args.resume):
        raise SystemExit(f"--resume {args.resume!r}: no such checkpoint file")
    try:
        checkpoint = torch.load(args.resume, map_location="cpu", weights_only=False)
        saved = checkpoint["args"]
    except Exception as error:  # a truncated or foreign file
        raise SystemExit(f"--resume {args.resume!r}: not a ghp_ddpg_her.py checkpoint ({type(error).__name__}: {error})")
    if checkpoint.get("algo") != "ddpg_her":
        raise SystemExit(f"--resume {args.resume!r}: written by {checkpoint.get('algo')!r}, not ghp_ddpg_her.py")
    if "policy_optimizer" not in checkpoint and checkpoint.get("ghn") is not None:  # every checkpoint.pt has optimizer states
        raise SystemExit(
            f"--resume {args.resume!r}: a GHN snapshot (for evaluate.py), not a checkpoint to continue; "
            f"resume from {os.path.join(os.path.dirname(args.resume), 'checkpoint.pt')}"
        )
    if "rng" not in checkpoint:
        raise SystemExit(
            f"--resume {args.resume!r}: written by an older ghp_ddpg_her.py without RNG states; it cannot be continued exactly"
        )
    given = flags_on_command_line(sys.argv[1:])
    for name in [field.name for field in fields(Args) if field.name != "resume"]:
        if name not in saved:  # a flag newer than the checkpoint: as given, else what the run did
            if name not in given and name in FORMER_DEFAULTS:
                setattr(args, name, FORMER_DEFAULTS[name])
        elif name not in given:
            setattr(args, name, saved[name])
        elif name not in RESUME_MAY_CHANGE and getattr(args, name) != saved[name]:
            raise SystemExit(
                f"--resume: --{name.replace('_', '-')} {getattr(args, name)!r} contradicts the checkpoint's {saved[name]!r} "
                f"(only {', '.join('--' + flag.replace('_', '-') for flag in RESUME_MAY_CHANGE[1:])} may change)"
            )
    if args.epochs <= checkpoint["epoch"]:
        raise SystemExit(
            f"--resume: the checkpoint is after epoch {checkpoint['epoch']}, so --epochs {args.epochs} "
            "leaves nothing to do: give a larger --epochs"
        )
    return checkpoint


def stored_bytes(obj):
    """Bytes of the tensors and arrays in a nested checkpoint dict: about the size torch.save writes."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    if isinstance(obj, dict):
        return sum(stored_bytes(value) for value in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(stored_bytes(value) for value in obj)
    return 0


def save_atomically(state, path):
    """torch.save to <path>.tmp, then rename it to `path`: a kill or a failed write never leaves a
    partial file at `path` (the previous one stays). A write that fails (a full disk) removes the
    partial .tmp and ends the run with a one-line error naming the path and the space it needs."""
    try:
        torch.save(state, path + ".tmp")
    except (OSError, RuntimeError) as error:  # torch reports a full disk as a RuntimeError of its zip writer
        if os.path.exists(path + ".tmp"):
            os.remove(path + ".tmp")
        free = shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free
        raise SystemExit(
            f"cannot write {path}: it needs about {stored_bytes(state) / 2**20:.0f} MB and its disk has "
            f"{free / 2**20:.0f} MB free ({type(error).__name__}: {str(error).splitlines()[0]}); "
            "the last complete checkpoint is unchanged"
        )
    os.replace(path + ".tmp", path)


def save_checkpoint(run_dir, args, policy_net, critics, optimizers, policy_inputs, progress, envs, rng, buffer):
    """Writes <run_dir>/checkpoint.pt, everything --resume needs to continue exactly after an epoch:
    networks, optimizers, normalisers, `progress` (epoch, grad_steps, env_steps), every random
    generator and the replay buffer. A GHP run also writes ghn_epoch<epoch>.pt, the GHN and the
    normalisers, for evaluate.py. Returns a line for the log."""
    ghp = isinstance(policy_net, GHN)
    spaces = envs.single_observation_space
    state = {
        "algo": "ddpg_her",
        "args": asdict(args),
        "env_id": args.env_id,
        "obs_dim": spaces["observation"].shape[0],
        "goal_dim": spaces["desired_goal"].shape[0],
        "act_dim": envs.single_action_space.shape[0],
        **progress,
        "ghn": policy_net.to_checkpoint() if ghp else None,
        "baseline_arch": None if ghp else policy_net.arch,
        "baseline_state": None if ghp else policy_net.state_dict(),
        **{name: module.state_dict() for name, module in (*critics.items(), *optimizers.items())},
        "obs_norm": policy_inputs.obs_norm.state_dict(),
        "goal_norm": policy_inputs.goal_norm.state_dict(),
        "rng": {
            "numpy": rng.bit_generator.state,
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if policy_inputs.device.type == "cuda" else None,
            "python": random.getstate(),
            "numpy_global": np.random.get_state(),
        },
        "buffer": buffer.state_dict() if args.save_buffer else None,
    }
    path = os.path.join(run_dir, "checkpoint.pt")
    save_atomically(state, path)
    if ghp:
        keys = "algo args env_id obs_dim goal_dim act_dim epoch env_steps ghn obs_norm goal_norm".split()
        save_atomically({k: state[k] for k in keys}, os.path.join(run_dir, f"ghn_epoch{progress['epoch']}.pt"))
    size_mb = os.path.getsize(path) / 2**20
    return f"saved {path} ({size_mb:.0f} MB, " + (
        f"replay buffer of {buffer.num_episodes} episodes)" if args.save_buffer else "no replay buffer)"
    )


def restore_checkpoint(path, checkpoint, policy_net, critics, optimizers, policy_inputs, rng, buffer):
    """Puts a checkpoint of save_checkpoint() back into a freshly built run; returns its epoch,
    grad_steps and env_steps."""
    policy_net.load_state_dict(
        checkpoint["ghn"]["state_dict"] if isinstance(policy_net, GHN) else checkpoint["baseline_state"]
    )
    for name, module in (*critics.items(), *optimizers.items()):
        module.load_state_dict(checkpoint[name])
    policy_inputs.obs_norm.load_state_dict(checkpoint["obs_norm"])
    policy_inputs.goal_norm.load_state_dict(checkpoint["goal_norm"])
    states = checkpoint["rng"]
    rng.bit_generator.state = states["numpy"]
    torch.set_rng_state(states["torch"])
    if policy_inputs.device.type == "cuda" and states["cuda"] is not None:
        torch.cuda.set_rng_state_all(states["cuda"])
    random.setstate(states["python"])
    np.random.set_state(states["numpy_global"])
    if checkpoint["buffer"] is not None:
        buffer.load_state_dict(checkpoint["buffer"])
    print(f"resumed {path} after epoch {checkpoint['epoch']}, replay buffer of {buffer.num_episodes} episodes")
    if checkpoint["buffer"] is None:
        print("--resume: no replay buffer was saved (--no-save-buffer), so it refills and the run does not continue exactly")
    return checkpoint["epoch"], checkpoint["grad_steps"], checkpoint["env_steps"]


def log_epoch(writer, epoch, env_steps, sps, train_success, success, probe_archs, losses):
    """Tensorboard scalars and the terminal line of an epoch: training success, test success of the
    probe archs (by name) and of the rest (random archs, or the baseline), and the last losses."""
    probe_success = dict(zip(map(arch_name, probe_archs), success[: len(probe_archs)]))
    test_success = success[len(probe_archs) :].mean()
    qf_loss, actor_loss = losses
    writer.add_scalar("charts/train_success_rate", np.mean(train_success), env_steps)
    writer.add_scalar("charts/test_success_rate", test_success, env_steps)
    for name, value in probe_success.items():
        writer.add_scalar(f"eval/success_{name}", value, env_steps)
    writer.add_scalar("losses/qf_loss", qf_loss.item(), env_steps)
    writer.add_scalar("losses/actor_loss", actor_loss.item(), env_steps)
    writer.add_scalar("charts/SPS", sps, env_steps)
    print(
        f"epoch={epoch} env_steps={env_steps} SPS={sps} train_success={np.mean(train_success):.2f} "
        f"test_success({'random archs' if probe_archs else 'baseline'})={test_success:.2f} "
        + " ".join(f"[{name}]={value:.2f}" for name, value in probe_success.items())
        + f" qf_loss={qf_loss.item():.4f} actor_loss={actor_loss.item():.3f}",
        flush=True,
    )


if __name__ == "__main__":
    args = tyro.cli(Args)
    checkpoint = load_resume_checkpoint(args) if args.resume else None
    baseline_arch, obs_dim, goal_dim, act_dim, horizon = check_args(args)
    input_dim = obs_dim + goal_dim  # Sec. IV: the desired goal is appended to the observation
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    run_dir = os.path.dirname(os.path.abspath(args.resume)) if checkpoint else os.path.join(args.runs_dir, run_name)
    writer = SummaryWriter(run_dir)
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))
    device, rng = seed_and_device(args)
    if args.capture_video:  # fail now, not after the first epoch
        check_rendering(args.env_id)
        os.makedirs(os.path.join(run_dir, "videos"), exist_ok=True)

    # env setup: every rollout starts with an explicit reset and lasts exactly `horizon` steps
    vector_env = gym.vector.AsyncVectorEnv if args.async_envs else gym.vector.SyncVectorEnv
    envs = vector_env([make_env(args.env_id, args.seed + i) for i in range(args.meta_batch)])
    compute_reward = gym.make(args.env_id).unwrapped.compute_reward
    max_action = float(envs.single_action_space.high[0])

    # the policy network: one GHN for all 4680 architectures of Eq. 2 (Fig. 2), or the baseline's one MLP
    # with the same interface; the GHN and the baseline each get their authors' optimizer settings.
    # Each epoch tests the probe archs and eval_archs random ones (GHP), or the baseline in every env.
    if baseline_arch is None:
        try:
            policy_net = GHN(
                input_dim,
                act_dim,
                hidden=args.ghn_hidden,
                decoder=args.ghn_decoder,
                rank=args.ghn_rank,
                code_slope=args.ghn_code_slope,
            ).to(device)
        except ValueError as error:
            raise SystemExit(f"{args.env_id}: {error}")
        space, probe_archs, test_count = archspace.all_archs(), PROBE_ARCHS, args.eval_archs
        policy_lr, policy_decay = args.ghn_lr, args.ghn_weight_decay
    else:
        policy_net = BaselineActor(baseline_arch, input_dim, act_dim).to(device)
        space, probe_archs, test_count = [baseline_arch], [], args.meta_batch
        policy_lr, policy_decay = args.baseline_lr, args.baseline_weight_decay
    qf = QNetwork(input_dim, act_dim).to(device)
    qf_target = QNetwork(input_dim, act_dim).to(device)
    qf_target.load_state_dict(qf.state_dict())
    # fused Adam; with --compile the same update written as tensor ops, traced into the compiled step
    adam = CompilableAdam if args.compile else functools.partial(optim.Adam, fused=True)
    q_optimizer = adam(qf.parameters(), lr=args.q_lr)
    policy_optimizer = adam(policy_net.param_groups(policy_decay), lr=policy_lr)
    policy_inputs = PolicyInputs(obs_dim, goal_dim, args.clip_obs, args.clip_norm, device)

    buffer = EpisodeBuffer(args.buffer_size, horizon, obs_dim, goal_dim, act_dim)
    start_epoch, grad_steps, env_steps = 0, 0, 0
    critics = {"qf": qf, "qf_target": qf_target}
    optimizers = {"policy_optimizer": policy_optimizer, "q_optimizer": q_optimizer}
    if checkpoint:  # continue exactly after the checkpoint's epoch
        start_epoch, grad_steps, env_steps = restore_checkpoint(
            args.resume, checkpoint, policy_net, critics, optimizers, policy_inputs, rng, buffer
        )
        del checkpoint  # its GHN and optimizer copies are not needed any more
    print(f"{args.env_id} (obs {obs_dim} + goal {goal_dim}, act {act_dim}, {horizon} steps) on {device}, run dir {run_dir}")
    ghn_size = sum(p.numel() for p in policy_net.parameters())
    print(
        f"policy: baseline MLP {list(baseline_arch)}"
        if baseline_arch
        else f"policy: GHN ({args.ghn_decoder} decoder, {ghn_size:,} parameters) over {len(space)} architectures, "
        f"meta-batch {args.meta_batch}"
    )

    def update(b_inputs, b_next_inputs, b_actions, b_rewards, arch_ids):
        """One gradient step: critic, then actor (Eq. 4). A function of tensors, so that --compile
        makes it one graph; returns the logged losses."""
        policies = policy_net.policies(arch_ids)  # one batched GHN call per gradient step

        with torch.no_grad():
            # Target policy = the current GHN's policies for the same archs, as the authors do
            # (a target copy of the 34M-parameter GHN is the other choice). The baseline uses
            # its current actor the same way, so that only the policy network differs.
            next_actions = deterministic_action(run_split_by_arch(policies, b_next_inputs, args.meta_batch))
            target_q = b_rewards + args.gamma * qf_target(b_next_inputs, next_actions).view(-1)
            target_q = target_q.clamp(-1.0 / (1.0 - args.gamma), 0.0)  # returns of -1/0 rewards
        q_values = qf(b_inputs, b_actions).view(-1)
        qf_loss = F.mse_loss(q_values, target_q)
        q_optimizer.zero_grad()
        qf_loss.backward()
        q_optimizer.step()

        # Eq. 4: maximise Q of each arch's actions on its chunk, plus an L2 penalty on actions
        pi = deterministic_action(run_split_by_arch(policies, b_inputs, args.meta_batch))
        actor_loss = -qf(b_inputs, pi).mean() + args.action_l2 * pi.pow(2).mean()
        policy_optimizer.zero_grad()
        actor_loss.backward()
        policy_optimizer.step()
        q_optimizer.zero_grad()  # every step starts without gradients (a compiled step then compiles once)
        policy_optimizer.zero_grad()
        return qf_loss.detach(), actor_loss.detach()

    if args.compile:
        torch._dynamo.config.trace_autograd_ops = True  # backward passes inside the one graph
        update = torch.compile(update, fullgraph=True, mode="reduce-overhead" if device.type == "cuda" else "default")
        print("--compile: the first gradient step compiles (about a minute)", flush=True)

    start_time, start_env_steps = time.time(), env_steps
    for epoch in range(start_epoch + 1, args.epochs + 1):
        train_success = []
        for cycle in range(args.cycles_per_epoch):
            for _ in range(args.rollouts_per_cycle):
                # collect: a new meta-batch at the start of each rollout, env i driven by archs[i] (Sec. III-C)
                archs = sample_meta_batch(rng, args.meta_batch, space, args.arch_sampling)
                obs_ep, achieved_ep, goals_ep, actions_ep, success = rollout(
                    envs, policy_net, archs, policy_inputs, horizon, rng, args, explore=True
                )
                slots = buffer.add(obs_ep, achieved_ep, goals_ep, actions_ep)
                env_steps += args.meta_batch * horizon
                train_success.append(success.mean())
                # normalisers: updated with HER-relabelled transitions of the new episodes
                new = buffer.sample(
                    rng, args.meta_batch * horizon, args.future_p, compute_reward, episodes=np.repeat(slots, horizon)
                )
                policy_inputs.update(new["obs"], new["goals"])

            # learn: the gradient steps train the last rollout's archs, or with --steps-per-arch a new
            # meta-batch every steps_per_arch steps; the HER minibatch is drawn from all stored episodes,
            # and chunk i trains archs[i] (Eq. 4) whichever arch collected it
            for step in range(args.updates_per_cycle):
                if args.steps_per_arch and step > 0 and step % args.steps_per_arch == 0:
                    archs = sample_meta_batch(rng, args.meta_batch, space, args.arch_sampling)
                data = buffer.sample(rng, args.batch_size, args.future_p, compute_reward)
                b_inputs = policy_inputs(data["obs"], data["goals"])
                b_next_inputs = policy_inputs(data["next_obs"], data["goals"])
                b_actions = torch.as_tensor(data["actions"] / max_action, device=device)
                b_rewards = torch.as_tensor(data["rewards"], device=device)
                losses = update(b_inputs, b_next_inputs, b_actions, b_rewards, policy_net.arch_ids(archs))
                grad_steps += 1

            with torch.no_grad():  # soft target update, once per cycle
                for param, target_param in zip(qf.parameters(), qf_target.parameters()):
                    target_param.lerp_(param, args.tau)

        # test: deterministic episodes of the probe archs and of random archs, drawn by a generator of
        # their own so that --eval-archs does not change training
        test_archs = probe_archs + sample_meta_batch(np.random.default_rng([args.seed, epoch]), test_count, space, "uniform")
        success = deterministic_success(
            envs, policy_net, test_archs, policy_inputs, horizon, rng, args, seed=args.seed + 100_000 * epoch
        )
        sps = int((env_steps - start_env_steps) / (time.time() - start_time))
        log_epoch(writer, epoch, env_steps, sps, train_success, success, probe_archs, losses)
        if args.capture_video:
            record_videos(
                policy_net,
                probe_archs or [baseline_arch],
                args.env_id,
                policy_inputs,
                args.seed + 100_000 * epoch,
                os.path.join(run_dir, "videos", f"epoch{epoch}"),
            )
        if epoch % args.save_every == 0 or epoch == args.epochs:
            progress = dict(epoch=epoch, grad_steps=grad_steps, env_steps=env_steps)
            saved = save_checkpoint(run_dir, args, policy_net, critics, optimizers, policy_inputs, progress, envs, rng, buffer)
            print(saved, flush=True)

    envs.close()
    writer.close()
