"""DDPG + HER with a graph hyper policy (GHP) for Fetch manipulation (Sec. III-C, Sec. IV).

    python ghp_ddpg_her.py --env-id FetchReach-v4                          # GHP: one GHN, 4680 policies
    python ghp_ddpg_her.py --env-id FetchReach-v4 --baseline-arch 256,256  # the paper's baseline
    python ghp_ddpg_her.py --resume runs/RUN/checkpoint.pt --epochs 20     # continue a run exactly

HER's schedule as the authors run it: epochs of cycles; a cycle collects --rollouts-per-cycle rollouts, one episode
of every env each, env i driven by arch i of a meta-batch drawn for that rollout; then 40 gradient steps (a new
meta-batch every --steps-per-arch) and a soft target update. The policy and the critic see the desired goal too.
"""

import functools
import logging
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, replace
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
from ghn import GHN, CompilableAdam, FixedMLP, mlp_forward

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
    """rollouts per cycle, each an episode of every env with a new meta-batch (8: the authors' main_ddpg.py; 1: classic HER)"""
    steps_per_arch: int = 4
    """gradient steps per training meta-batch, counted within a cycle (the authors': 4); 0: the last rollout's, all cycle"""
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
    raw_actor: bool = False
    """the authors' actor: the raw output, not tanh, as action (clipped only after the noise) and in the L2 penalty (D1)"""
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
    cuda: bool = True
    """use CUDA when it is available (--no-cuda forces the CPU)"""
    threads: int = 0
    """torch CPU threads; 0 keeps torch's default"""
    runs_dir: str = "runs"
    """folder for tensorboard logs and checkpoints: <runs-dir>/<run name>/ (a resumed run stays in its checkpoint's folder)"""
    resume: str = ""
    """a checkpoint.pt to continue exactly; flags not given are its own; run length, test and device flags may change"""
    async_envs: bool = False
    """step the envs in subprocesses (gymnasium AsyncVectorEnv)"""
    eval_archs: int = 16
    """random architectures tested after each epoch (besides the probe set), one episode each; the baseline: test episodes"""
    capture_video: bool = False
    """after each epoch, save an episode of each probe arch (or the baseline) as <run dir>/videos/epoch<k>_<arch>.mp4"""
    save_every: int = 1
    """epochs between checkpoints (one is always written at the end)"""
    save_buffer: bool = True
    """keep the replay buffer in checkpoint.pt, so that --resume continues exactly (--no-save-buffer: it refills on resume)"""
    compile: bool = False
    """compile each gradient step into one graph with torch.compile (CUDA graphs on a GPU); the first step compiles (~1 min)"""


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
        self.clip, self.eps, self.sum, self.sumsq, self.count = clip, eps, np.zeros(size), np.zeros(size), 0

    def update(self, values):
        values = values.reshape(-1, self.sum.shape[0])
        self.sum, self.sumsq = self.sum + values.sum(0), self.sumsq + np.square(values).sum(0)
        self.count += len(values)

    mean = property(lambda self: self.sum / max(self.count, 1))
    std = property(lambda self: np.sqrt(np.maximum(self.eps**2, self.sumsq / max(self.count, 1) - self.mean**2)))

    def normalize(self, values):
        return np.clip((values - self.mean) / self.std, -self.clip, self.clip)

    def state_dict(self):
        return {"sum": torch.tensor(self.sum), "sumsq": torch.tensor(self.sumsq), "count": self.count}

    def load_state_dict(self, state):
        self.sum, self.sumsq = (torch.as_tensor(state[key], dtype=torch.float64).numpy().copy() for key in ("sum", "sumsq"))
        self.count = state["count"]


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
        self.horizon, self.max_episodes, self.pos, self.num_episodes = horizon, max(1, size_in_transitions // horizon), 0, 0
        shapes = {"obs": (horizon + 1, obs_dim), "achieved": (horizon + 1, goal_dim), "goals": (horizon, goal_dim)}
        shapes["actions"] = (horizon, act_dim)
        self.data = {name: np.zeros((self.max_episodes, *shape), np.float32) for name, shape in shapes.items()}

    def add(self, *episodes):
        """obs, achieved, goals, actions of n episodes, (n, T + 1 or T, dim) each; returns the slots they went to."""
        slots = (self.pos + np.arange(len(episodes[0]))) % self.max_episodes
        for data, values in zip(self.data.values(), episodes):
            data[slots] = values
        self.pos = (self.pos + len(slots)) % self.max_episodes
        self.num_episodes = min(self.num_episodes + len(slots), self.max_episodes)
        return slots

    def sample(self, rng, batch_size, future_p, compute_reward, episodes=None):
        """HER: transitions (o, a, o', g, r) where a fraction future_p has its goal replaced by the goal
        achieved at a later step of the same episode; r is recomputed with the env's compute_reward."""
        if episodes is None:
            episodes = rng.integers(self.num_episodes, size=batch_size)
        steps = rng.integers(self.horizon, size=batch_size)
        goals = self.data["goals"][episodes, steps].copy()
        relabel = rng.random(batch_size) < future_p
        future = steps + 1 + (rng.random(batch_size) * (self.horizon - steps)).astype(int)  # in t + 1 .. T
        goals[relabel] = self.data["achieved"][episodes[relabel], future[relabel]]
        rewards = compute_reward(self.data["achieved"][episodes, steps + 1], goals, None).astype(np.float32)
        obs, actions = self.data["obs"][episodes, steps], self.data["actions"][episodes, steps]
        batch = dict(obs=obs, actions=actions, next_obs=self.data["obs"][episodes, steps + 1], goals=goals, rewards=rewards)
        return batch | dict(episodes=episodes, steps=steps, relabelled=relabel, future=future)

    def state_dict(self):
        state = {name: torch.from_numpy(data[: self.num_episodes].copy()) for name, data in self.data.items()}
        return state | {"pos": self.pos, "num_episodes": self.num_episodes}

    def load_state_dict(self, state):
        for name, data in self.data.items():
            data[: state["num_episodes"]] = state[name]
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
    """Eq. 4's split of the minibatch by architecture: the rows of `inputs` are cut into meta_batch equal chunks,
    and chunk i goes through the policy of arch i (`policies`: (meta_batch, n, dim) -> (meta_batch, n, act_dim))."""
    return policies(inputs.view(meta_batch, -1, inputs.shape[1])).flatten(0, 1)


def deterministic_action(outputs, max_action=1.0, raw=False):
    """The action: tanh of the generated outputs (raw: the outputs) x max_action (1: the critic's units; else the env's)."""
    return (outputs if raw else torch.tanh(outputs)) * max_action


def eq4_actor_loss(qf, policies, inputs, meta_batch, action_l2, raw=False):
    """Eq. 4 with DDPG: minus Q of the actions that arch i's policy takes on chunk i of the minibatch, plus HER's L2
    penalty on those actions (in the critic's units)."""
    pi = deterministic_action(run_split_by_arch(policies, inputs, meta_batch), raw=raw)
    return -qf(inputs, pi).mean() + action_l2 * pi.pow(2).mean()


def rollout(envs, policy_net, archs, policy_inputs, horizon, rng, args, explore, seed=None):
    """One episode in every env, env i acting with the policy generated for archs[i] for the whole episode
    (Sec. III-C). With explore: Gaussian action noise, and a uniformly random action with probability random_eps.
    Returns (the episode arrays: obs, achieved goals, desired goals, actions), the success at the final step, at any step."""
    n, max_action, spaces = len(archs), float(envs.single_action_space.high[0]), envs.single_observation_space
    episode = {key: np.zeros((n, horizon + 1, spaces[key].shape[0]), np.float32) for key in ("observation", "achieved_goal")}
    goals = np.zeros((n, horizon, spaces["desired_goal"].shape[0]), np.float32)
    actions_ep = np.zeros((n, horizon, envs.single_action_space.shape[0]), np.float32)
    observation, _ = envs.reset(seed=seed if seed is not None else int(rng.integers(2**31)))
    reached = np.zeros(n)  # the goal reached at some step
    with torch.no_grad():
        acting_policies = policy_net.policies(policy_net.arch_ids(archs))
    for t in range(horizon + 1):
        for key in episode:
            episode[key][:, t] = observation[key]
        if t == horizon:
            break
        goals[:, t] = observation["desired_goal"]
        with torch.no_grad():
            inputs = policy_inputs(observation["observation"], observation["desired_goal"])
            outputs = run_split_by_arch(acting_policies, inputs, n)
            actions = deterministic_action(outputs, max_action, args.raw_actor).cpu().numpy()
        if explore:
            noise = args.exploration_noise * max_action * rng.standard_normal(actions.shape)
            actions = np.clip(actions + noise, -max_action, max_action)
            random_actions = rng.uniform(-max_action, max_action, actions.shape)
            actions = np.where(rng.random((n, 1)) < args.random_eps, random_actions, actions)
        actions_ep[:, t] = actions
        observation, _, _, _, infos = envs.step(actions)
        reached = np.maximum(reached, infos["is_success"])
    return (episode["observation"], episode["achieved_goal"], goals, actions_ep), infos["is_success"].astype(float), reached


def deterministic_success(envs, policy_net, archs, policy_inputs, horizon, rng, args, seed):
    """Success (at the final step, at any step) of one deterministic episode per arch, the archs run meta_batch at a
    time (the last batch padded, so that every env runs an episode)."""
    success = []
    for start in range(0, len(archs), args.meta_batch):
        batch = archs[start : start + args.meta_batch]
        padded = batch + batch[-1:] * (args.meta_batch - len(batch))
        _, final, any_step = rollout(envs, policy_net, padded, policy_inputs, horizon, rng, args, False, seed + start)
        success.append(np.stack([final, any_step])[:, : len(batch)])
    return np.concatenate(success, 1)  # (final step, any step) x archs


@torch.no_grad()
def record_videos(policy_net, archs, args, policy_inputs, seed, prefix):
    """One deterministic episode (reset with `seed`) of each arch's policy as <prefix>_<arch>.mp4 (no random numbers drawn)."""
    env = gym.make(args.env_id, render_mode="rgb_array")
    max_action = float(env.action_space.high[0])
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    for arch, params in zip(archs, policy_net(archs)):
        observation, _ = env.reset(seed=seed)
        frames, done = [env.render()], False
        while not done:
            outputs = mlp_forward(params, policy_inputs(observation["observation"][None], observation["desired_goal"][None]))
            action = deterministic_action(outputs, max_action, args.raw_actor)[0].cpu().numpy()
            observation, _, terminated, truncated, _ = env.step(action)
            frames.append(env.render())
            done = terminated or truncated
        fps = env.metadata.get("render_fps", 25)
        imageio.mimwrite(f"{prefix}_{archspace.arch_name(arch)}.mp4", frames, fps=fps, macro_block_size=1)
    env.close()


# ---- run plumbing: flag checks, exact resume, checkpoints (not needed to follow the algorithm) ----

MAY_CHANGE = set("resume epochs eval_archs capture_video save_every save_buffer cuda threads async_envs compile".split())


RANGES = {  # every numeric flag's allowed values: "[" includes the bound, "(" leaves it out (NaN: none)
    "[1, inf)": "epochs cycles_per_epoch updates_per_cycle rollouts_per_cycle eval_archs save_every meta_batch batch_size "
    "buffer_size ghn_hidden",
    "[0, inf)": "steps_per_arch seed threads exploration_noise action_l2 ghn_weight_decay baseline_weight_decay",
    "(0, inf)": "q_lr ghn_lr baseline_lr clip_obs clip_norm",
    "[0, 1]": "gamma future_p random_eps",
    "(0, 1]": "tau",
}


def check_args(args):
    """One-line errors for flags this script cannot run with; returns (baseline arch, obs_dim, goal_dim, act_dim, horizon)."""
    for interval, names in RANGES.items():
        (low, high), closed = map(float, interval[1:-1].split(",")), (interval[0] == "[", interval[-1] == "]")
        for name, value in [(name, getattr(args, name)) for name in names.split()]:
            if not ((low <= value if closed[0] else low < value) and (value <= high if closed[1] else value < high)):
                raise SystemExit(f"bad --{name.replace('_', '-')} {value}: allowed {interval}")
    if args.batch_size % args.meta_batch:
        raise SystemExit(f"--batch-size {args.batch_size} must be a multiple of --meta-batch {args.meta_batch}")
    try:
        baseline_arch = archspace.parse_arch(args.baseline_arch) if args.baseline_arch else None
        env = gym.make(args.env_id, render_mode="rgb_array" if args.capture_video else None)
    except ValueError as error:
        raise SystemExit(f"--baseline-arch: {error}")
    except gym.error.Error as error:  # an unknown id, or a registered env whose package is missing
        raise SystemExit(f"env {args.env_id!r} cannot be made here: {error}")
    spaces, horizon = env.observation_space, env.spec.max_episode_steps
    keys = {"observation", "achieved_goal", "desired_goal"}
    if not (isinstance(spaces, gym.spaces.Dict) and keys <= set(spaces.spaces) and hasattr(env.unwrapped, "compute_reward")):
        needs = "a dict observation with observation/achieved_goal/desired_goal and compute_reward (e.g. FetchReach-v4)"
        raise SystemExit(f"env {args.env_id!r} is not goal-conditioned: ghp_ddpg_her.py needs {needs}; locomotion: ghp_sac.py")
    if not isinstance(env.action_space, gym.spaces.Box) or not horizon:
        raise SystemExit(f"env {args.env_id!r}: ghp_ddpg_her.py needs a Box action space and fixed-length episodes")
    if args.buffer_size < args.rollouts_per_cycle * args.meta_batch * horizon:
        cycle = f"--rollouts-per-cycle {args.rollouts_per_cycle} x --meta-batch {args.meta_batch} x {horizon} steps"
        raise SystemExit(f"--buffer-size {args.buffer_size} must hold a cycle's episodes: {cycle}")
    try:  # --capture-video: fail now, not after the first epoch
        if args.capture_video:
            env.reset(seed=0), env.render()
    except Exception as error:  # no OpenGL context: mujoco and PyOpenGL raise several kinds
        gl = f"--capture-video: cannot render with MUJOCO_GL={os.environ.get('MUJOCO_GL', 'glfw (needs a display)')}"
        raise SystemExit(f"{gl} ({type(error).__name__}): headless, install OSMesa and set MUJOCO_GL=osmesa, or use egl")
    return baseline_arch, spaces["observation"].shape[0], spaces["desired_goal"].shape[0], env.action_space.shape[0], horizon


def resume(path):
    """The checkpoint and its flags, given flags parsed over them; one-line errors for other files and changed flags."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        saved = Args(**checkpoint["args"])
    except Exception as error:  # no file, a cut or foreign one, one of another version of the script
        reason = ([line for line in str(error).splitlines() if "GLOBAL" in line] or str(error).splitlines() or [""])[0]
        what = f"not a checkpoint.pt of this ghp_ddpg_her.py ({type(error).__name__}: {reason[:200]})"
        raise SystemExit(f"--resume {path!r}: {what}")
    if "rng" not in checkpoint:  # a ghn_*.pt: the GHN alone, without the run's state
        raise SystemExit(f"--resume {path!r} is a GHN snapshot (for evaluate.py): resume from checkpoint.pt in its folder")
    args = tyro.cli(Args, default=replace(saved, resume=path))
    for name in [name for name, value in asdict(saved).items() if name not in MAY_CHANGE and getattr(args, name) != value]:
        given = f"--{name.replace('_', '-')} {getattr(args, name)!r} contradicts the checkpoint's {getattr(saved, name)!r}"
        raise SystemExit(f"--resume: {given} (only run length, logging and device flags may change)")
    if args.epochs <= checkpoint["epoch"]:
        epochs = f"the checkpoint is after epoch {checkpoint['epoch']}, so --epochs {args.epochs}"
        raise SystemExit(f"--resume: {epochs} leaves nothing to do: give a larger --epochs")
    return args, checkpoint


def save_atomically(state, path):
    """torch.save to <path>.tmp, then a rename (a kill never leaves a partial file); a full disk is a one-line error."""
    try:
        torch.save(state, path + ".tmp")
        os.replace(path + ".tmp", path)
    except (OSError, RuntimeError) as error:  # torch reports a full disk as a RuntimeError of its zip writer
        if os.path.exists(path + ".tmp"):
            os.remove(path + ".tmp")
        free = f"{shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free / 2**20:.0f} MB free"
        raise SystemExit(f"cannot write {path} ({free}; {type(error).__name__}: {error}): the last checkpoint is unchanged")


if __name__ == "__main__":
    args = tyro.cli(Args)
    args, checkpoint = resume(args.resume) if args.resume else (args, None)
    baseline_arch, obs_dim, goal_dim, act_dim, horizon = check_args(args)
    input_dim = obs_dim + goal_dim  # Sec. IV: the desired goal is appended to the observation
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    run_dir = os.path.dirname(os.path.abspath(args.resume)) if checkpoint else os.path.join(args.runs_dir, run_name)
    for stale in [name for name in os.listdir(run_dir) if name.endswith(".pt.tmp")] if checkpoint else []:
        os.remove(os.path.join(run_dir, stale))  # what a kill during a save left
    try:
        writer = SummaryWriter(run_dir)
    except OSError as error:  # a file where a folder should be, a full disk
        raise SystemExit(f"cannot write the run folder {run_dir}: {type(error).__name__}: {error}")
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))
    random.seed(args.seed)  # seeding
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)  # exploration, HER sampling and architecture sampling
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # denormal Adam moments of rarely used GHN rows slow CPU updates
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")
    if args.cuda and device.type == "cpu":
        print("--cuda: no CUDA device is available, running on the CPU (--no-cuda skips this note)")
    # env setup: every rollout starts with an explicit reset and lasts exactly `horizon` steps
    vector_env = gym.vector.AsyncVectorEnv if args.async_envs else gym.vector.SyncVectorEnv
    envs = vector_env([make_env(args.env_id, args.seed + i) for i in range(args.meta_batch)])
    compute_reward = gym.make(args.env_id).unwrapped.compute_reward
    max_action = float(envs.single_action_space.high[0])
    # the policy network: one GHN for all 4680 architectures of Eq. 2 (Fig. 2), or the baseline's one MLP with the same
    # interface, each with its authors' optimizer settings; each epoch tests the probe archs and eval_archs random ones
    if baseline_arch is None:
        try:
            ghn_options = dict(decoder=args.ghn_decoder, rank=args.ghn_rank, code_slope=args.ghn_code_slope)
            policy_net = GHN(input_dim, act_dim, args.ghn_hidden, **ghn_options).to(device)
        except ValueError as error:
            raise SystemExit(f"{args.env_id}: {error}")
        space, probe_archs = archspace.all_archs(), PROBE_ARCHS
        policy_lr, policy_decay = args.ghn_lr, args.ghn_weight_decay
    else:
        policy_net = FixedMLP(baseline_arch, input_dim, act_dim).to(device)
        space, probe_archs = [baseline_arch], []
        policy_lr, policy_decay = args.baseline_lr, args.baseline_weight_decay
    qf = QNetwork(input_dim, act_dim).to(device)
    qf_target = QNetwork(input_dim, act_dim).to(device)
    qf_target.load_state_dict(qf.state_dict())
    # fused Adam; with --compile the same update written as tensor ops, traced into the compiled step
    adam = CompilableAdam if args.compile else functools.partial(optim.Adam, fused=True)  # (fused: torch's own step only)
    q_optimizer = adam(qf.parameters(), lr=args.q_lr)
    policy_optimizer = adam(policy_net.param_groups(policy_decay), lr=policy_lr)
    policy_inputs = PolicyInputs(obs_dim, goal_dim, args.clip_obs, args.clip_norm, device)
    buffer = EpisodeBuffer(args.buffer_size, horizon, obs_dim, goal_dim, act_dim)
    start_epoch, grad_steps, env_steps = 0, 0, 0
    # checkpoint.pt holds these (and what the save at the loop's end lists)
    checkpointed = dict(qf=qf, qf_target=qf_target, q_optimizer=q_optimizer, policy_optimizer=policy_optimizer)
    checkpointed |= dict(obs_norm=policy_inputs.obs_norm, goal_norm=policy_inputs.goal_norm)
    if checkpoint:  # continue exactly after the checkpoint's epoch
        if not baseline_arch and checkpoint["ghn"]["config"] != policy_net.config:  # a GHN of an older ghn.py
            raise SystemExit(f"--resume: its GHN {checkpoint['ghn']['config']} is not this ghn.py's: resume with its commit")
        policy_net.load_state_dict(checkpoint["baseline_state"] if baseline_arch else checkpoint["ghn"]["state_dict"])
        for name, module in checkpointed.items():
            module.load_state_dict(checkpoint[name])
        start_epoch, grad_steps, env_steps = checkpoint["epoch"], checkpoint["grad_steps"], checkpoint["env_steps"]
        rng.bit_generator.state, torch_rng, cuda_rng = checkpoint["rng"]
        torch.set_rng_state(torch_rng)
        if cuda_rng and device.type == "cuda":
            torch.cuda.set_rng_state_all(cuda_rng)
        if checkpoint["buffer"]:  # (else, with --no-save-buffer, it fills again)
            buffer.load_state_dict(checkpoint["buffer"])
        print(f"resumed {args.resume} after epoch {start_epoch}, replay buffer of {buffer.num_episodes} episodes")
        del checkpoint  # its GHN and optimizer copies are not needed any more
    print(f"{args.env_id} (obs {obs_dim} + goal {goal_dim}, act {act_dim}, {horizon} steps) on {device}, run dir {run_dir}")
    size = sum(p.numel() for p in policy_net.parameters())
    ghn_text = f"GHN ({args.ghn_decoder} decoder, {size:,} parameters) over {len(space)} architectures, meta-batch"
    print(f"policy: baseline MLP {list(baseline_arch)}" if baseline_arch else f"policy: {ghn_text} {args.meta_batch}")

    def update(b_inputs, b_next_inputs, b_actions, b_rewards, arch_ids):
        """One gradient step (critic, then actor of Eq. 4): a function of tensors, one graph with --compile."""
        policies = policy_net.policies(arch_ids)  # one batched GHN call per gradient step
        with torch.no_grad():
            # Target policy = the current GHN's policies for the same archs, as the authors do (a target copy of the
            # 34M-parameter GHN is the other choice); the baseline uses its current actor, so only the policy differs
            next_actions = deterministic_action(
                run_split_by_arch(policies, b_next_inputs, args.meta_batch), raw=args.raw_actor
            )
            target_q = b_rewards + args.gamma * qf_target(b_next_inputs, next_actions).view(-1)
            target_q = target_q.clamp(-1.0 / (1.0 - args.gamma), 0.0)  # returns of -1/0 rewards
        q_values = qf(b_inputs, b_actions).view(-1)
        qf_loss = F.mse_loss(q_values, target_q)
        q_optimizer.zero_grad()
        qf_loss.backward()
        q_optimizer.step()
        # Eq. 4: maximise Q of each arch's actions on its chunk, plus an L2 penalty on actions
        actor_loss = eq4_actor_loss(qf, policies, b_inputs, args.meta_batch, args.action_l2, args.raw_actor)
        policy_optimizer.zero_grad()
        actor_loss.backward()
        policy_optimizer.step()
        q_optimizer.zero_grad()  # every step starts without gradients (a compiled step then compiles once)
        policy_optimizer.zero_grad()
        return qf_loss.detach(), actor_loss.detach()

    if args.compile:
        torch._dynamo.config.trace_autograd_ops = True  # backward passes inside the one graph
        skipped = logging.Handler()  # inductor logs there why it runs a graph without CUDA graphs, if it does
        skipped.emit = lambda record: print(f"--compile: no CUDA graphs, {record.getMessage()}", flush=True)
        logging.getLogger("torch._inductor.cudagraph_utils.__cudagraphs").addHandler(skipped)
        compiled_update = torch.compile(update, fullgraph=True, mode="reduce-overhead" if device.type == "cuda" else "default")

        def update(*batch):  # a CUDA graph's replay overwrites its last outputs: mark each call a new step
            torch.compiler.cudagraph_mark_step_begin()
            return compiled_update(*batch)

        print("--compile: the first gradient step compiles (about a minute)", flush=True)
    start_time, start_env_steps = time.time(), env_steps
    for epoch in range(start_epoch + 1, args.epochs + 1):
        train_success = []  # (final step, any step) per rollout
        for cycle in range(args.cycles_per_epoch):
            for _ in range(args.rollouts_per_cycle):
                # collect: a new meta-batch at the start of each rollout, env i driven by archs[i] (Sec. III-C)
                archs = archspace.sample_archs(rng, args.meta_batch, space, args.arch_sampling)
                episodes, success, success_any = rollout(envs, policy_net, archs, policy_inputs, horizon, rng, args, True)
                slots = buffer.add(*episodes)
                env_steps += args.meta_batch * horizon
                train_success.append((success.mean(), success_any.mean()))
                # normalisers: updated with HER-relabelled transitions of the new episodes
                new = buffer.sample(rng, args.meta_batch * horizon, args.future_p, compute_reward, np.repeat(slots, horizon))
                policy_inputs.update(new["obs"], new["goals"])
            # learn: the steps train the last rollout's archs, or a new meta-batch every steps_per_arch steps; the HER
            # minibatch is drawn from all stored episodes, and chunk i trains archs[i] (Eq. 4) whichever arch collected it
            for step in range(args.updates_per_cycle):
                if args.steps_per_arch and step > 0 and step % args.steps_per_arch == 0:
                    archs = archspace.sample_archs(rng, args.meta_batch, space, args.arch_sampling)
                data = buffer.sample(rng, args.batch_size, args.future_p, compute_reward)
                b_inputs = policy_inputs(data["obs"], data["goals"])
                b_next_inputs = policy_inputs(data["next_obs"], data["goals"])
                b_actions = torch.as_tensor(data["actions"] / max_action, device=device)
                b_rewards = torch.as_tensor(data["rewards"], device=device)
                qf_loss, actor_loss = update(b_inputs, b_next_inputs, b_actions, b_rewards, policy_net.arch_ids(archs))
                grad_steps += 1
            with torch.no_grad():  # soft target update, once per cycle
                for param, target_param in zip(qf.parameters(), qf_target.parameters()):
                    target_param.lerp_(param, args.tau)
        # test: deterministic episodes of the probe archs and of random archs (their own generator: training is unchanged)
        test_seed, n = args.seed + 100_000 * epoch, len(probe_archs)
        test_archs = probe_archs + archspace.sample_archs(np.random.default_rng([args.seed, epoch]), args.eval_archs, space)
        final, any_step = deterministic_success(envs, policy_net, test_archs, policy_inputs, horizon, rng, args, test_seed)
        probe_success = dict(zip(map(archspace.arch_name, probe_archs), final[:n]))
        # success rates at the final step, and at any step (the authors' measure, docs/method.md D2)
        (train, train_any), test, test_any = np.mean(train_success, 0), final[n:].mean(), any_step[n:].mean()
        scalars = {"charts/train_success_rate": train, "charts/test_success_rate": test}
        scalars |= {"charts/train_success_any_step": train_any, "charts/test_success_any_step": test_any}
        scalars |= {f"eval/success_{name}": value for name, value in probe_success.items()}
        sps = int((env_steps - start_env_steps) / (time.time() - start_time))
        scalars |= {"losses/qf_loss": qf_loss.item(), "losses/actor_loss": actor_loss.item(), "charts/SPS": sps}
        for name, value in scalars.items():
            writer.add_scalar(name, value, env_steps)
        eta = (time.time() - start_time) / (epoch - start_epoch) * (args.epochs - epoch)
        line = f"epoch={epoch}/{args.epochs} env_steps={env_steps} SPS={sps}"
        line += f" train_success={train:.2f} (any step {train_any:.2f})"
        line += f" test_success({'random archs' if probe_archs else 'baseline'})={test:.2f} (any step {test_any:.2f}) "
        line += " ".join(f"[{name}]={value:.2f}" for name, value in probe_success.items())
        line += f" qf_loss={qf_loss.item():.4f} actor_loss={actor_loss.item():.3f}"
        print(f"{line} ETA {eta // 3600:.0f}h{eta % 3600 // 60:02.0f}m", flush=True)
        if args.capture_video:
            prefix = os.path.join(run_dir, "videos", f"epoch{epoch}")
            record_videos(policy_net, probe_archs or [baseline_arch], args, policy_inputs, test_seed, prefix)
        if epoch % args.save_every == 0 or epoch == args.epochs:
            # the README's checkpoint table in order: what evaluate.py and export.py read (a snapshot), then the run's state
            ghp, path = baseline_arch is None, os.path.join(run_dir, "checkpoint.pt")
            cuda_rng = torch.cuda.get_rng_state_all() if device.type == "cuda" else None
            snapshot = dict(algo="ddpg_her", args=asdict(args), env_id=args.env_id, obs_dim=obs_dim, goal_dim=goal_dim,
                            act_dim=act_dim, ghn=policy_net.to_checkpoint() if ghp else None, baseline_arch=baseline_arch,
                            obs_norm=policy_inputs.obs_norm.state_dict(), goal_norm=policy_inputs.goal_norm.state_dict(),
                            epoch=epoch, env_steps=env_steps)  # fmt: skip
            if ghp:  # the GHN alone first (for evaluate.py): no kill between the two writes can lose a snapshot
                save_atomically(snapshot, os.path.join(run_dir, f"ghn_epoch{epoch}.pt"))
            state = dict(snapshot, baseline_state=None if ghp else policy_net.state_dict(),
                         **{name: module.state_dict() for name, module in checkpointed.items()}, grad_steps=grad_steps,
                         rng=[rng.bit_generator.state, torch.get_rng_state(), cuda_rng],
                         buffer=buffer.state_dict() if args.save_buffer else None)  # fmt: skip
            save_atomically(state, path)
            saved = f"replay buffer of {buffer.num_episodes} episodes" if args.save_buffer else "no replay buffer"
            print(f"saved {path} ({os.path.getsize(path) / 2**20:.0f} MB, {saved})", flush=True)

    envs.close()
    writer.close()
