"""SAC with a graph hyper policy (GHP) for MuJoCo locomotion (Sec. III-C, Eq. 4).

    python ghp_sac.py --env-id Hopper-v4                        # GHP: one GHN, 4680 policies
    python ghp_sac.py --env-id Hopper-v4 --baseline-arch 256,256 # the paper's baseline
    python ghp_sac.py --help

Env i of the vector env is driven by architecture i of the current meta-batch; all transitions go
to one replay buffer; every gradient step generates the meta-batch's policies with one GHN call and
splits the minibatch by architecture. Structure after CleanRL's sac_continuous_action.py.
"""

import collections
import copy
import functools
import os
import pickle
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, fields
from typing import Literal

import gymnasium as gym
import imageio.v2 as imageio
import mujoco
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
import tyro
from torch.utils.tensorboard import SummaryWriter

import archspace
from ghn import GHN, mlp_forward


@dataclass
class Args:
    # Algorithm specific arguments
    env_id: str = "Hopper-v4"
    """the id of a gymnasium MuJoCo env with a Box observation and action space"""
    total_timesteps: int = 1_000_000
    """total env steps, summed over the meta_batch parallel envs"""
    meta_batch: int = 8
    """architectures per meta-batch = number of parallel envs (Sec. III-C)"""
    buffer_size: int = int(1e6)
    """the replay memory buffer size, shared by all envs"""
    gamma: float = 0.99
    """the discount factor gamma"""
    tau: float = 0.005
    """target smoothing coefficient"""
    batch_size: int = 256
    """minibatch size, split into meta_batch equal chunks, one per architecture (Eq. 4)"""
    learning_starts: int = 10_000
    """env steps of uniformly random actions before learning; updates start once the buffer holds more than this"""
    q_lr: float = 3e-4
    """learning rate of the Q networks"""
    alpha: float = 0.2
    """entropy regularization coefficient (the initial value with --autotune)"""
    autotune: bool = False
    """automatic tuning of the entropy coefficient"""

    # Graph hyper policy arguments
    steps_per_arch: int = 50
    """gradient steps between two meta-batches of architectures (also resampled per env at episode end)"""
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
    baseline_lr: float = 3e-4
    """Adam learning rate of the --baseline-arch actor (the authors' SAC baseline and CleanRL: 3e-4)"""
    baseline_weight_decay: float = 0.0
    """Adam weight decay of the --baseline-arch actor (the authors' SAC baseline has none)"""

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
    """path to a checkpoint.pt to continue exactly where it stopped (flags, RNG states, buffer, envs);
    flags not given are the checkpoint's; only run length, logging and device flags may differ"""
    async_envs: bool = False
    """step the envs in subprocesses (gymnasium AsyncVectorEnv)"""
    log_every: int = 1000
    """env steps between terminal progress lines and tensorboard loss scalars (updates/s is measured over that window)"""
    eval_every: int = 50_000
    """env steps between deterministic evaluations of the probe architectures; 0 disables"""
    eval_episodes: int = 1
    """episodes per probe architecture at each evaluation"""
    capture_video: bool = False
    """at each evaluation, save the first episode of every probe architecture as <run dir>/videos/<step>_<arch>.mp4
    (headless: MUJOCO_GL=osmesa or egl)"""
    save_every: int = 100_000
    """env steps between checkpoints (one is always written at the end); 0 saves only at the end"""
    save_buffer: bool = True
    """keep the replay buffer in checkpoint.pt, so that --resume continues exactly
    (--no-save-buffer for huge buffers: the buffer then refills on resume)"""
    compile: bool = False
    """compile each gradient step (critic, GHN call, actor, alpha, targets) into one graph with torch.compile,
    as CUDA graphs on a GPU; the first steps compile (about a minute)"""


PROBE_ARCHS = [(4,), (8, 4, 4, 4), (16, 16), (64, 64), (256, 256), (512, 512, 512, 512)]
LOG_STD_MAX = 2
LOG_STD_MIN = -5


def make_env(env_id, seed):
    def thunk():
        env = gym.make(env_id)
        env = gym.wrappers.RecordEpisodeStatistics(env)
        env.action_space.seed(seed)
        return ExactEnvState(env)

    return thunk


class ReplayBuffer:
    """Ring buffer of transitions from all envs (Sec. III-C: one common buffer), kept as tensors on
    the training device: a minibatch is drawn there by torch (no copy from the host per update)."""

    ARRAYS = ("obs", "next_obs", "actions", "rewards", "dones")

    def __init__(self, size, obs_dim, act_dim, device):
        self.size, self.pos, self.full, self.device = size, 0, False, device
        self.obs = torch.empty(size, obs_dim, device=device)  # rows past len(self) are never read
        self.next_obs = torch.empty(size, obs_dim, device=device)
        self.actions = torch.empty(size, act_dim, device=device)
        self.rewards = torch.empty(size, device=device)
        self.dones = torch.empty(size, device=device)

    def __len__(self):
        return self.size if self.full else self.pos

    def add(self, obs, next_obs, actions, rewards, terminations):
        rows = torch.arange(self.pos, self.pos + len(obs)) % self.size
        for name, values in zip(self.ARRAYS, (obs, next_obs, actions, rewards, terminations)):
            getattr(self, name)[rows] = torch.as_tensor(np.asarray(values, np.float32), device=self.device)
        self.full = self.full or self.pos + len(obs) >= self.size
        self.pos = (self.pos + len(obs)) % self.size

    def sample(self, batch_size):
        """A uniform minibatch, its indices drawn by torch's generator on the buffer's device."""
        idx = torch.randint(len(self), (batch_size,), device=self.device)
        return self.obs[idx], self.actions[idx], self.next_obs[idx], self.rewards[idx], self.dones[idx]

    def state_dict(self):
        """The filled part of the buffer and its write position."""
        return {
            "pos": self.pos,
            "full": self.full,
            **{name: getattr(self, name)[: len(self)].cpu().numpy() for name in self.ARRAYS},
        }

    def load_state_dict(self, state):
        if len(state["obs"]) > self.size:
            raise SystemExit(
                f"the checkpoint's replay buffer holds {len(state['obs'])} transitions, more than --buffer-size {self.size}"
            )
        for name in self.ARRAYS:
            getattr(self, name)[: len(state[name])] = torch.as_tensor(state[name], device=self.device)
        self.pos, self.full = state["pos"], state["full"]


class SoftQNetwork(nn.Module):
    def __init__(self, obs_dim, act_dim):
        super().__init__()
        self.fc1 = nn.Linear(obs_dim + act_dim, 256)
        self.fc2 = nn.Linear(256, 256)
        self.fc3 = nn.Linear(256, 1)

    def forward(self, x, a):
        x = torch.cat([x, a], 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def run_split_by_arch(policies, obs, meta_batch):
    """Eq. 4's split of the minibatch by architecture: the rows of `obs` are cut into meta_batch equal
    chunks, and chunk i goes through the policy of arch i. `policies` maps (meta_batch, n, obs_dim)
    to (meta_batch, n, 2 x act_dim)."""
    return policies(obs.view(meta_batch, -1, obs.shape[1])).flatten(0, 1)


def mean_and_std(outputs):
    """Generated outputs -> the Gaussian's mean and standard deviation (before the tanh)."""
    mean, log_std = outputs.chunk(2, dim=1)  # Eq. 3: the output node has 2a units
    log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)  # soft clamp
    return mean, log_std.exp()


def squashed_gaussian(outputs, action_scale, action_bias):
    """Generated outputs (mean, log_std) -> tanh-squashed action sample and its log-prob."""
    normal = torch.distributions.Normal(*mean_and_std(outputs))
    x_t = normal.rsample()
    y_t = torch.tanh(x_t)
    action = y_t * action_scale + action_bias
    log_prob = normal.log_prob(x_t) - torch.log(action_scale * (1 - y_t.pow(2)) + 1e-6)
    return action, log_prob.sum(1, keepdim=True)


def deterministic_action(outputs, action_scale, action_bias):
    """The evaluation action tanh(mean), scaled to the action bounds; draws no random numbers, so
    evaluating never changes the training run's random stream."""
    return torch.tanh(outputs.chunk(2, dim=1)[0]) * action_scale + action_bias


def sample_meta_batch(rng, n, space, mode):
    """n architectures from `space` (Sec. III-C), one per env or per chunk of a minibatch. The
    baseline's space is its one architecture: that draws no random numbers."""
    if len(space) == 1:
        return [space[0]] * n
    return archspace.sample_archs(rng, n, space, mode=mode)


class BaselineActor(nn.Module):
    """An ordinary MLP obs -> arch -> 2 x act_dim with the GHN's interface, so that the training loop
    treats both alike: baseline(archs) gives [(W, b), ...] per arch like ghn(archs) (the same MLP for
    each), arch_ids() and policies() run every chunk of a minibatch through this one MLP, and
    param_groups() feeds the optimizer."""

    def __init__(self, arch, obs_dim, act_dim):
        super().__init__()
        self.arch = tuple(arch)
        sizes = [obs_dim, *arch, 2 * act_dim]
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


@torch.no_grad()
def evaluate_probes(policy_net, archs, env_id, episodes, seed, action_scale, action_bias, device, video_prefix=None):
    """Deterministic return (tanh of the mean, as in training) of the policy generated for each arch:
    {arch name: mean return over `episodes` episodes}. With video_prefix, the first episode of each
    arch is also saved as <video_prefix>_<arch>.mp4."""
    env = gym.make(env_id, render_mode="rgb_array" if video_prefix else None)
    returns = {}
    for arch, params in zip(archs, policy_net(archs)):
        episode_returns = []
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed + episode)
            frames = [env.render()] if video_prefix and episode == 0 else None
            done, total = False, 0.0
            while not done:
                outputs = mlp_forward(params, torch.as_tensor(obs, dtype=torch.float32, device=device)[None])
                action = deterministic_action(outputs, action_scale, action_bias)
                obs, reward, terminated, truncated, _ = env.step(action[0].cpu().numpy())
                total += float(reward)
                done = terminated or truncated
                if frames is not None:
                    frames.append(env.render())
            if frames is not None:
                imageio.mimwrite(
                    f"{video_prefix}_{arch_name(arch)}.mp4", frames, fps=env.metadata.get("render_fps", 30), macro_block_size=1
                )
            episode_returns.append(total)
        returns[arch_name(arch)] = float(np.mean(episode_returns))
    env.close()
    return returns


# ---- run plumbing (flag checks, resume, compile, logging): not needed to follow the algorithm ----

# Flags that --resume may change: run length, logging, and where and how the run executes. Every
# other flag defines the run: it is taken from the checkpoint, and giving another value is an error.
RESUME_MAY_CHANGE = (
    "resume total_timesteps log_every eval_every eval_episodes capture_video "
    "save_every save_buffer cuda threads async_envs torch_deterministic compile"
).split()
# A checkpoint older than a flag resumes with that flag's default, unless the default has changed since:
# then with the value that reproduces what the run did (before --ghn-code-slope, the codes ended in a plain ReLU).
FORMER_DEFAULTS = {"ghn_code_slope": 0.0}


def check_env(env_id):
    """One-line errors for env ids this script cannot train on; returns (obs_dim, act_dim)."""
    try:
        env = gym.make(env_id)
    except gym.error.DependencyNotInstalled as error:  # a registered env whose package is missing
        raise SystemExit(f"env {env_id!r} cannot be made here, a package it needs is missing: {error}")
    except gym.error.Error as error:
        hint = " (goal-conditioned Fetch envs: use ghp_ddpg_her.py)" if env_id.startswith("Fetch") else ""
        raise SystemExit(f"unknown env id {env_id!r}: {error}{hint}")
    obs_space, act_space = env.observation_space, env.action_space
    env.close()
    if not isinstance(act_space, gym.spaces.Box):
        raise SystemExit(
            f"env {env_id!r} has a {type(act_space).__name__} action space: ghp_sac.py needs a Box (continuous) one"
        )
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise SystemExit(
            f"env {env_id!r} has observation space {obs_space}: ghp_sac.py needs a flat Box one "
            "(goal-conditioned Fetch envs: use ghp_ddpg_her.py)"
        )
    return obs_space.shape[0], act_space.shape[0]


def check_args(args):
    """One-line errors for flags this script cannot run with; returns (baseline arch or None, obs_dim, act_dim)."""
    if args.meta_batch < 1 or args.batch_size % args.meta_batch != 0:
        raise SystemExit(
            f"--batch-size {args.batch_size} must be a positive multiple of --meta-batch {args.meta_batch}: "
            "the minibatch is split into meta_batch equal chunks, one per architecture"
        )
    if args.buffer_size <= args.learning_starts:
        raise SystemExit(
            f"--buffer-size {args.buffer_size} must be larger than --learning-starts {args.learning_starts}: "
            "updates start once the buffer holds more than learning_starts transitions"
        )
    try:
        baseline_arch = archspace.parse_arch(args.baseline_arch) if args.baseline_arch else None
    except ValueError as error:
        raise SystemExit(f"--baseline-arch: {error}")
    return (baseline_arch, *check_env(args.env_id))


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
    """Seeds python, numpy and torch; returns the torch device and the numpy generator that samples architectures."""
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    # Adam moments of GHN decoder rows that a meta-batch rarely uses decay towards zero and turn
    # denormal; on CPU that made updates ~2x slower within 8k steps. Flush them to zero.
    torch.set_flush_denormal(True)
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")
    if args.cuda and device.type == "cpu":
        print("--cuda: no CUDA device is available, running on the CPU (--no-cuda skips this note)")
    return device, np.random.default_rng(args.seed)


class ExactEnvState(gym.Wrapper):
    """Adds `resume_state`: everything an env's next steps depend on, to save and restore mid-episode
    for an exact --resume (also through AsyncVectorEnv's get_attr/set_attr). Per wrapper layer its
    plain attributes (step counters, episode statistics, random generators); for MuJoCo envs the
    whole MjData, derived quantities included (some rewards read them before stepping)."""

    PLAIN = (bool, int, float, str, type(None), np.ndarray, np.generic, np.random.Generator, collections.deque)

    @property
    def resume_state(self):
        layers, env = [], self.env
        while env is not None:
            layer = {key: copy.deepcopy(value) for key, value in vars(env).items() if isinstance(value, self.PLAIN)}
            if isinstance(getattr(env, "data", None), mujoco.MjData):
                layer["mujoco_data"] = pickle.dumps(env.data)
            layers.append(layer)
            env = getattr(env, "env", None)
        return layers

    @resume_state.setter
    def resume_state(self, layers):
        env = self.env
        for layer in layers:
            for key, value in layer.items():
                if key == "mujoco_data":
                    mujoco.mj_copyData(env.data, env.model, pickle.loads(value))
                else:
                    setattr(env, key, copy.deepcopy(value))
            env = getattr(env, "env", None)


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
    """Args field names given in argv (--env-id X, --env-id=X, --autotune, --no-autotune)."""
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
        raise SystemExit(f"--resume {args.resume!r}: not a ghp_sac.py checkpoint ({type(error).__name__}: {error})")
    if checkpoint.get("algo") != "sac":
        raise SystemExit(f"--resume {args.resume!r}: written by {checkpoint.get('algo')!r}, not ghp_sac.py")
    if "policy_optimizer" not in checkpoint and checkpoint.get("ghn") is not None:  # every checkpoint.pt has optimizer states
        raise SystemExit(
            f"--resume {args.resume!r}: a GHN snapshot (for evaluate.py), not a checkpoint to continue; "
            f"resume from {os.path.join(os.path.dirname(args.resume), 'checkpoint.pt')}"
        )
    if "rng" not in checkpoint:
        raise SystemExit(
            f"--resume {args.resume!r}: written by an older ghp_sac.py without RNG states; it cannot be continued exactly"
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
    if args.total_timesteps <= checkpoint["global_step"]:
        raise SystemExit(
            f"--resume: the checkpoint is at step {checkpoint['global_step']}, so --total-timesteps "
            f"{args.total_timesteps} leaves nothing to do: give a larger --total-timesteps"
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


def save_checkpoint(run_dir, args, policy_net, critics, optimizers, log_alpha, alpha, progress, envs, rng, rb):
    """Writes <run_dir>/checkpoint.pt, everything --resume needs to continue exactly: networks,
    optimizers, alpha, `progress` (global_step, grad_steps, the archs driving the envs, their obs),
    the envs mid-episode, every random generator and the replay buffer. A GHP run also writes
    ghn_<step>.pt, the GHN alone, for evaluate.py. Returns a line for the log."""
    ghp = isinstance(policy_net, GHN)
    device = log_alpha.device
    state = {
        "algo": "sac",
        "args": asdict(args),
        "env_id": args.env_id,
        "obs_dim": envs.single_observation_space.shape[0],
        "act_dim": envs.single_action_space.shape[0],
        "ghn": policy_net.to_checkpoint() if ghp else None,
        "baseline_arch": None if ghp else policy_net.arch,
        "baseline_state": None if ghp else policy_net.state_dict(),
        **{name: net.state_dict() for name, net in critics.items()},
        **{name: optimizer.state_dict() for name, optimizer in optimizers.items()},
        "log_alpha": log_alpha.detach().cpu(),
        "alpha": alpha.item(),
        **progress,
        "env_states": envs.get_attr("resume_state"),
        "rng": {
            "numpy": rng.bit_generator.state,
            "action_space": envs.action_space.np_random.bit_generator.state,
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
            "python": random.getstate(),
            "numpy_global": np.random.get_state(),
        },
        "buffer": rb.state_dict() if args.save_buffer else None,
    }
    path = os.path.join(run_dir, "checkpoint.pt")
    save_atomically(state, path)
    if ghp:
        save_atomically(
            {k: state[k] for k in ("algo", "args", "env_id", "obs_dim", "act_dim", "global_step", "ghn")},
            os.path.join(run_dir, f"ghn_{progress['global_step']}.pt"),
        )
    size_mb = os.path.getsize(path) / 2**20
    return f"saved {path} ({size_mb:.0f} MB, " + (
        f"replay buffer of {len(rb)} transitions)" if args.save_buffer else "no replay buffer)"
    )


def restore_checkpoint(path, checkpoint, policy_net, critics, optimizers, log_alpha, alpha, envs, rng, rb):
    """Puts a checkpoint of save_checkpoint() back into a freshly built run; returns its global_step,
    grad_steps, the archs driving the envs and their obs."""
    policy_net.load_state_dict(
        checkpoint["ghn"]["state_dict"] if isinstance(policy_net, GHN) else checkpoint["baseline_state"]
    )
    for name, module in (*critics.items(), *optimizers.items()):
        module.load_state_dict(checkpoint[name])
    with torch.no_grad():
        log_alpha.copy_(checkpoint["log_alpha"])
    alpha.fill_(float(checkpoint["alpha"]))
    envs.set_attr("resume_state", checkpoint["env_states"])  # mid-episode, as they were
    states = checkpoint["rng"]
    rng.bit_generator.state = states["numpy"]
    envs.action_space.np_random.bit_generator.state = states["action_space"]
    torch.set_rng_state(states["torch"])
    if log_alpha.device.type == "cuda" and states["cuda"] is not None:
        torch.cuda.set_rng_state_all(states["cuda"])
    random.setstate(states["python"])
    np.random.set_state(states["numpy_global"])
    if checkpoint["buffer"] is not None:
        rb.load_state_dict(checkpoint["buffer"])
    print(
        f"resumed {path} at step {checkpoint['global_step']} ({checkpoint['grad_steps']} gradient steps), "
        f"replay buffer of {len(rb)} transitions"
    )
    if checkpoint["buffer"] is None:
        print(
            "--resume: no replay buffer was saved (--no-save-buffer): it refills first, and the run does not continue exactly"
        )
    return checkpoint["global_step"], checkpoint["grad_steps"], checkpoint["archs"], checkpoint["obs"]


def next_multiple(step, every):
    """The first multiple of `every` after `step` (never, for every <= 0): log, eval and save steps
    stay where they were on --resume."""
    return (step // every + 1) * every if every > 0 else float("inf")


class Logger:
    """Terminal lines and tensorboard scalars: episode returns as they finish, and every log_every env
    steps SPS, updates/s (over that window; the first, compiling call of --compile is reported, not
    counted) and the last update's losses."""

    def __init__(self, writer, args, global_step):
        self.writer, self.log_every = writer, args.log_every
        self.start_time, self.start_step = time.time(), global_step
        self.next_log = next_multiple(global_step, args.log_every)
        self.update_time, self.update_count, self.returns = 0.0, 0, []
        self.compiling = args.compile

    def episodes(self, infos, finished, global_step):
        for i in finished:
            episode_return, episode_length = infos["final_info"]["episode"]["r"][i], infos["final_info"]["episode"]["l"][i]
            self.writer.add_scalar("charts/episodic_return", episode_return, global_step)
            self.writer.add_scalar(f"charts/episodic_return_env{i}", episode_return, global_step)
            self.writer.add_scalar("charts/episodic_length", episode_length, global_step)
            self.writer.add_scalar(f"charts/episodic_length_env{i}", episode_length, global_step)
            self.returns.append(float(episode_return))

    def updates(self, count, seconds):
        if self.compiling:
            self.compiling = False
            print(f"--compile: the first {count} updates took {seconds:.0f} s, compiling included", flush=True)
        else:
            self.update_time += seconds
            self.update_count += count

    def progress(self, global_step, losses, alpha):
        if global_step < self.next_log:
            return
        self.next_log = next_multiple(global_step, self.log_every)
        sps = int((global_step - self.start_step) / (time.time() - self.start_time))
        self.writer.add_scalar("charts/SPS", sps, global_step)
        line = f"step={global_step} SPS={sps}"
        if self.update_count:
            qf1_a_values, qf1_loss, qf2_loss, actor_loss = losses
            updates_per_s = self.update_count / self.update_time
            self.writer.add_scalar("charts/updates_per_s", updates_per_s, global_step)
            self.writer.add_scalar("losses/qf1_values", qf1_a_values.mean().item(), global_step)
            self.writer.add_scalar("losses/qf1_loss", qf1_loss.item(), global_step)
            self.writer.add_scalar("losses/qf2_loss", qf2_loss.item(), global_step)
            self.writer.add_scalar("losses/actor_loss", actor_loss.item(), global_step)
            self.writer.add_scalar("losses/alpha", alpha.item(), global_step)
            qf_loss = (qf1_loss + qf2_loss).item() / 2
            line += f" updates/s={updates_per_s:.1f} qf_loss={qf_loss:.3f} actor_loss={actor_loss.item():.3f}"
            self.update_time, self.update_count = 0.0, 0
        if self.returns:
            line += f" return(last {len(self.returns)} episodes)={np.mean(self.returns):.1f}"
            self.returns = []
        print(line, flush=True)

    def evaluation(self, returns, global_step):
        for name, value in returns.items():
            self.writer.add_scalar(f"eval/return_{name}", value, global_step)
        print("eval " + " ".join(f"[{name}]={value:.1f}" for name, value in returns.items()), flush=True)


if __name__ == "__main__":
    args = tyro.cli(Args)
    checkpoint = load_resume_checkpoint(args) if args.resume else None
    baseline_arch, obs_dim, act_dim = check_args(args)
    run_name = f"{args.env_id}__{args.exp_name}__{args.seed}__{int(time.time())}"
    run_dir = os.path.dirname(os.path.abspath(args.resume)) if checkpoint else os.path.join(args.runs_dir, run_name)
    writer = SummaryWriter(run_dir)
    writer.add_text("hyperparameters", "|param|value|\n|-|-|\n" + "\n".join(f"|{k}|{v}|" for k, v in vars(args).items()))
    device, rng = seed_and_device(args)
    if args.capture_video:  # fail now, not at the first evaluation
        check_rendering(args.env_id)
        os.makedirs(os.path.join(run_dir, "videos"), exist_ok=True)

    # env setup: gymnasium 1.x SAME_STEP autoreset returns the reset obs at once and keeps the true
    # last observation of a finished episode in infos["final_obs"]
    vector_env = gym.vector.AsyncVectorEnv if args.async_envs else gym.vector.SyncVectorEnv
    envs = vector_env(
        [make_env(args.env_id, args.seed + i) for i in range(args.meta_batch)],
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )
    envs.action_space.seed(args.seed)
    low, high = envs.single_action_space.low, envs.single_action_space.high
    action_scale = torch.tensor((high - low) / 2.0, dtype=torch.float32, device=device)
    action_bias = torch.tensor((high + low) / 2.0, dtype=torch.float32, device=device)

    # the policy network: one GHN for all 4680 architectures of Eq. 2 (Fig. 2), or the baseline's one MLP
    # with the same interface; the GHN and the baseline each get their authors' optimizer settings
    if baseline_arch is None:
        try:
            policy_net = GHN(
                obs_dim,
                2 * act_dim,
                hidden=args.ghn_hidden,
                decoder=args.ghn_decoder,
                rank=args.ghn_rank,
                code_slope=args.ghn_code_slope,
            ).to(device)
        except ValueError as error:
            raise SystemExit(f"{args.env_id}: {error}")
        space, probe_archs = archspace.all_archs(), PROBE_ARCHS
        policy_lr, policy_decay = args.ghn_lr, args.ghn_weight_decay
    else:
        policy_net = BaselineActor(baseline_arch, obs_dim, act_dim).to(device)
        space, probe_archs = [baseline_arch], [baseline_arch]
        policy_lr, policy_decay = args.baseline_lr, args.baseline_weight_decay
    qf1 = SoftQNetwork(obs_dim, act_dim).to(device)
    qf2 = SoftQNetwork(obs_dim, act_dim).to(device)
    qf1_target = SoftQNetwork(obs_dim, act_dim).to(device)
    qf2_target = SoftQNetwork(obs_dim, act_dim).to(device)
    qf1_target.load_state_dict(qf1.state_dict())
    qf2_target.load_state_dict(qf2.state_dict())
    # fused Adam: one kernel over the GHN's ~34M decoder parameters instead of a loop of small ops;
    # with --compile the same update written as tensor ops, traced into the compiled step
    adam = CompilableAdam if args.compile else functools.partial(optim.Adam, fused=True)
    q_optimizer = adam(list(qf1.parameters()) + list(qf2.parameters()), lr=args.q_lr)
    policy_optimizer = adam(policy_net.param_groups(policy_decay), lr=policy_lr)
    # automatic entropy tuning
    target_entropy = -float(act_dim)
    log_alpha = torch.tensor([float(np.log(args.alpha))], requires_grad=True, device=device)
    alpha_optimizer = adam([log_alpha], lr=args.q_lr)
    alpha = torch.tensor(args.alpha, device=device)  # a tensor, updated in place, so that a compiled step can change it

    rb = ReplayBuffer(args.buffer_size, obs_dim, act_dim, device)
    archs = sample_meta_batch(rng, args.meta_batch, space, args.arch_sampling)  # env i is driven by archs[i] (Sec. III-C)
    obs, _ = envs.reset(seed=args.seed)
    global_step, grad_steps = 0, 0
    critics = {"qf1": qf1, "qf2": qf2, "qf1_target": qf1_target, "qf2_target": qf2_target}
    optimizers = {"policy_optimizer": policy_optimizer, "q_optimizer": q_optimizer, "alpha_optimizer": alpha_optimizer}
    if checkpoint:  # continue exactly where it stopped
        global_step, grad_steps, archs, obs = restore_checkpoint(
            args.resume, checkpoint, policy_net, critics, optimizers, log_alpha, alpha, envs, rng, rb
        )
        del checkpoint  # its GHN and optimizer copies are not needed any more
    print(f"{args.env_id} (obs {obs_dim}, act {act_dim}) on {device}, run dir {run_dir}")
    ghn_size = sum(p.numel() for p in policy_net.parameters())
    print(
        f"policy: baseline MLP {list(baseline_arch)}"
        if baseline_arch
        else f"policy: GHN ({args.ghn_decoder} decoder, {ghn_size:,} parameters) over {len(space)} architectures, "
        f"meta-batch {args.meta_batch}"
    )

    def update(b_obs, b_actions, b_next_obs, b_rewards, b_dones, arch_ids):
        """One gradient step: critic, actor (Eq. 4), alpha, target networks. A function of tensors,
        so that --compile makes it one graph; returns the logged values."""
        policies = policy_net.policies(arch_ids)  # one batched GHN call per gradient step

        with torch.no_grad():
            next_actions, next_log_pi = squashed_gaussian(
                run_split_by_arch(policies, b_next_obs, args.meta_batch), action_scale, action_bias
            )
            qf1_next_target = qf1_target(b_next_obs, next_actions)
            qf2_next_target = qf2_target(b_next_obs, next_actions)
            min_qf_next_target = torch.min(qf1_next_target, qf2_next_target) - alpha * next_log_pi
            next_q_value = b_rewards + (1 - b_dones) * args.gamma * min_qf_next_target.view(-1)

        qf1_a_values = qf1(b_obs, b_actions).view(-1)
        qf2_a_values = qf2(b_obs, b_actions).view(-1)
        qf1_loss = F.mse_loss(qf1_a_values, next_q_value)
        qf2_loss = F.mse_loss(qf2_a_values, next_q_value)
        qf_loss = qf1_loss + qf2_loss
        q_optimizer.zero_grad()
        qf_loss.backward()
        q_optimizer.step()

        # Eq. 4: maximise Q (plus entropy) of actions from the policy generated for each arch,
        # the minibatch split by architecture (run_split_by_arch)
        pi, log_pi = squashed_gaussian(run_split_by_arch(policies, b_obs, args.meta_batch), action_scale, action_bias)
        min_qf_pi = torch.min(qf1(b_obs, pi), qf2(b_obs, pi))
        actor_loss = (alpha * log_pi - min_qf_pi).mean()
        policy_optimizer.zero_grad()
        actor_loss.backward()
        policy_optimizer.step()

        if args.autotune:
            alpha_loss = (-log_alpha.exp() * (log_pi.detach() + target_entropy)).mean()
            # autograd.grad, not a third .backward(), which fails in one compiled graph in torch 2.13
            (log_alpha.grad,) = torch.autograd.grad(alpha_loss, [log_alpha])
            alpha_optimizer.step()
            alpha.copy_(log_alpha.detach().exp()[0])

        with torch.no_grad():  # update the target networks
            for param, target_param in zip(qf1.parameters(), qf1_target.parameters()):
                target_param.lerp_(param, args.tau)
            for param, target_param in zip(qf2.parameters(), qf2_target.parameters()):
                target_param.lerp_(param, args.tau)
        q_optimizer.zero_grad()  # every step starts without gradients (a compiled step then compiles once)
        policy_optimizer.zero_grad()
        return qf1_a_values.detach(), qf1_loss.detach(), qf2_loss.detach(), actor_loss.detach()

    if args.compile:
        torch._dynamo.config.trace_autograd_ops = True  # backward passes inside the one graph
        torch._inductor.config.fallback_random = True  # the policy's noise from torch's generator, as in eager mode
        update = torch.compile(update, fullgraph=True, mode="reduce-overhead" if device.type == "cuda" else "default")

    logger, losses = Logger(writer, args, global_step), None
    next_eval, next_save = next_multiple(global_step, args.eval_every), next_multiple(global_step, args.save_every)
    while global_step < args.total_timesteps:
        # act: env i acts with the policy generated for archs[i] (uniformly random actions first)
        if global_step < args.learning_starts:
            actions = envs.action_space.sample()
        else:
            with torch.no_grad():
                acting_policies = policy_net.policies(policy_net.arch_ids(archs))
                outputs = run_split_by_arch(
                    acting_policies, torch.as_tensor(obs, dtype=torch.float32, device=device), len(archs)
                )
                actions = squashed_gaussian(outputs, action_scale, action_bias)[0].cpu().numpy()
        next_obs, rewards, terminations, truncations, infos = envs.step(actions)
        global_step += args.meta_batch

        # store: every env's transition goes to the one shared replay buffer, whichever arch acted;
        # a finished episode's true last observation is in infos["final_obs"]
        finished = np.flatnonzero(terminations | truncations)
        real_next_obs = next_obs.copy()
        for i in finished:
            real_next_obs[i] = infos["final_obs"][i]
        rb.add(obs, real_next_obs, actions, rewards, terminations)
        obs = next_obs
        logger.episodes(infos, finished, global_step)
        # Sec. III-C: an env whose episode ended continues with a newly sampled architecture
        for i in finished:
            archs[i] = sample_meta_batch(rng, 1, space, args.arch_sampling)[0]

        # learn: one gradient step per collected transition, once the buffer holds learning_starts
        if len(rb) > args.learning_starts:
            update_start = time.time()
            for _ in range(args.meta_batch):
                # Sec. III-C: a new meta-batch every steps_per_arch gradient steps. It is also what
                # the envs act with from here on, mid-episode (with the defaults about every 6 env steps).
                if grad_steps % args.steps_per_arch == 0:
                    archs = sample_meta_batch(rng, args.meta_batch, space, args.arch_sampling)
                # a uniform minibatch from the shared buffer: chunk i trains archs[i] (Eq. 4), whichever
                # arch collected those rows; the split is by row position, not by who collected the data
                b_obs, b_actions, b_next_obs, b_rewards, b_dones = rb.sample(args.batch_size)
                losses = update(b_obs, b_actions, b_next_obs, b_rewards, b_dones, policy_net.arch_ids(archs))
                grad_steps += 1
            logger.updates(args.meta_batch, time.time() - update_start)

        logger.progress(global_step, losses, alpha)
        if global_step >= next_eval:
            next_eval = next_multiple(global_step, args.eval_every)
            video_prefix = os.path.join(run_dir, "videos", str(global_step)) if args.capture_video else None
            returns = evaluate_probes(
                policy_net,
                probe_archs,
                args.env_id,
                args.eval_episodes,
                args.seed + 10_000,
                action_scale,
                action_bias,
                device,
                video_prefix,
            )
            logger.evaluation(returns, global_step)
        if global_step >= next_save or global_step >= args.total_timesteps:  # and always at the end
            next_save = next_multiple(global_step, args.save_every)
            progress = dict(global_step=global_step, grad_steps=grad_steps, archs=list(archs), obs=obs)
            saved = save_checkpoint(run_dir, args, policy_net, critics, optimizers, log_alpha, alpha, progress, envs, rng, rb)
            print(saved, flush=True)

    envs.close()
    writer.close()
