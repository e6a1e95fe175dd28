"""SAC with a graph hyper policy (GHP) for MuJoCo locomotion (Sec. III-C, Eq. 4).

    python ghp_sac.py --env-id Hopper-v4                          # GHP: one GHN, 4680 policies
    python ghp_sac.py --env-id Hopper-v4 --baseline-arch 256,256  # the paper's baseline
    python ghp_sac.py --resume runs/RUN/checkpoint.pt             # continue a stopped run exactly

Env i is driven by architecture i of the current meta-batch, all transitions go to one replay buffer, each
gradient step generates the meta-batch's policies with one GHN call and splits the minibatch by architecture.
"""

import collections
import copy
import dataclasses
import functools
import logging
import os
import pickle
import random
import shutil
import time
from dataclasses import asdict, dataclass
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
from ghn import GHN, CompilableAdam, FixedMLP, mlp_forward


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
    """learning rate of the Q networks (and of alpha with --autotune)"""
    alpha: float = 0.2
    """entropy regularization coefficient (the initial value with --autotune)"""
    autotune: bool = False
    """automatic tuning of the entropy coefficient"""
    log_std_clamp: bool = False
    """the authors' log-std: clamped to [-6, 0] (std <= 1), not CleanRL's soft range [-5, 2] (docs/method.md S3)"""
    reset_all_envs: bool = False
    """the authors' episodes: when one env's episode ends, all envs restart with a new meta-batch (docs/method.md S1)"""
    unscaled_actions: bool = False
    """the authors' actions: tanh in [-1, 1], not scaled to the action bounds; MuJoCo clips them (docs/method.md S4)"""
    # Graph hyper policy arguments
    steps_per_arch: int = 50
    """gradient steps between two training meta-batches, counted over the run (an env also gets a new arch per episode)"""
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
    cuda: bool = True
    """use CUDA when it is available (--no-cuda forces the CPU)"""
    threads: int = 0
    """torch CPU threads; 0 keeps torch's default"""
    runs_dir: str = "runs"
    """folder for tensorboard logs and checkpoints: <runs-dir>/<run name>/ (a resumed run stays in its checkpoint's folder)"""
    resume: str = ""
    """a checkpoint.pt to continue exactly; flags not given are its own; run length, logging and device flags may change"""
    async_envs: bool = False
    """step the envs in subprocesses (gymnasium AsyncVectorEnv)"""
    log_every: int = 1000
    """env steps between progress lines and tensorboard loss scalars (updates/s is measured over that window)"""
    eval_every: int = 50_000
    """env steps between deterministic evaluations of the probe architectures; 0 disables"""
    eval_episodes: int = 1
    """episodes per probe architecture at each evaluation"""
    capture_video: bool = False
    """at each evaluation, save an episode of each probe arch as <run dir>/videos/<step>_<arch>.mp4 (MUJOCO_GL=egl headless)"""
    save_every: int = 100_000
    """env steps between checkpoints (one is always written at the end); 0 saves only at the end"""
    save_buffer: bool = True
    """keep the replay buffer in checkpoint.pt, so that --resume continues exactly (--no-save-buffer: it refills on resume)"""
    compile: bool = False
    """compile each gradient step into one graph with torch.compile (CUDA graphs on a GPU); the first steps compile (~1 min)"""


PROBE_ARCHS = [(4,), (8, 4, 4, 4), (16, 16), (64, 64), (256, 256), (512, 512, 512, 512)]
LOG_STD_MAX, LOG_STD_MIN = 2, -5


def make_env(env_id, seed):
    def thunk():
        env = gym.wrappers.RecordEpisodeStatistics(gym.make(env_id))
        env.action_space.seed(seed)
        return ExactEnvState(env)  # run plumbing (below): the env's state mid-episode, for --resume

    return thunk


class ReplayBuffer:
    """Ring buffer of all envs' transitions (Sec. III-C: one common buffer) as tensors on the training device."""

    def __init__(self, size, obs_dim, act_dim, device):
        self.size, self.pos, self.full = size, 0, False
        shapes = {"obs": (obs_dim,), "actions": (act_dim,), "next_obs": (obs_dim,), "rewards": (), "dones": ()}
        self.data = {name: torch.empty(size, *shape, device=device) for name, shape in shapes.items()}

    def __len__(self):
        return self.size if self.full else self.pos

    def add(self, obs, actions, next_obs, rewards, terminations):
        rows = torch.arange(self.pos, self.pos + len(obs)) % self.size
        for data, values in zip(self.data.values(), (obs, actions, next_obs, rewards, terminations)):
            data[rows] = torch.as_tensor(np.asarray(values, np.float32), device=data.device)
        self.full = self.full or self.pos + len(obs) >= self.size
        self.pos = (self.pos + len(obs)) % self.size

    def sample(self, batch_size):
        """A uniform minibatch [obs, actions, next_obs, rewards, dones], its rows drawn by torch on the buffer's device."""
        rows = torch.randint(len(self), (batch_size,), device=self.data["obs"].device)
        return [data[rows] for data in self.data.values()]

    def state_dict(self):
        state = {name: data[: len(self)].cpu().clone() for name, data in self.data.items()}
        return state | {"pos": self.pos, "full": self.full}

    def load_state_dict(self, state):
        for name, data in self.data.items():
            data[: len(state[name])] = state[name]
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
    """Eq. 4's split of the minibatch by architecture: the rows of `obs` are cut into meta_batch equal chunks, chunk i
    through the policy of arch i (`policies`: (meta_batch, n, obs_dim) -> (meta_batch, n, 2 x act_dim))."""
    return policies(obs.view(meta_batch, -1, obs.shape[1])).flatten(0, 1)


def mean_and_std(outputs, log_std_clamp=False):
    """Generated outputs -> the Gaussian's mean and standard deviation (before the tanh)."""
    mean, log_std = outputs.chunk(2, dim=1)  # Eq. 3: the output node has 2a units
    if log_std_clamp:  # the authors' hard clamp
        return mean, log_std.clamp(-6.0, 0.0).exp()
    log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)  # soft clamp
    return mean, log_std.exp()


def squashed_gaussian(outputs, action_scale, action_bias, log_std_clamp=False):
    """Generated outputs (mean, log_std) -> tanh-squashed action sample and its log-prob."""
    normal = torch.distributions.Normal(*mean_and_std(outputs, log_std_clamp))
    x_t = normal.rsample()
    y_t = torch.tanh(x_t)
    action = y_t * action_scale + action_bias
    log_prob = normal.log_prob(x_t) - torch.log(action_scale * (1 - y_t.pow(2)) + 1e-6)
    return action, log_prob.sum(1, keepdim=True)


def eq4_actor_loss(qf1, qf2, policies, obs, meta_batch, alpha, action_scale, action_bias, log_std_clamp=False):
    """Eq. 4 with SAC: alpha log_pi minus the smaller Q of the actions that arch i's policy samples on chunk i of the
    minibatch; returns the loss and log_pi (for alpha's loss)."""
    outputs = run_split_by_arch(policies, obs, meta_batch)
    pi, log_pi = squashed_gaussian(outputs, action_scale, action_bias, log_std_clamp)
    return (alpha * log_pi - torch.min(qf1(obs, pi), qf2(obs, pi))).mean(), log_pi


def deterministic_action(outputs, action_scale, action_bias):
    """The evaluation action tanh(mean), scaled to the action bounds; it leaves the training run's random stream alone."""
    return torch.tanh(outputs.chunk(2, dim=1)[0]) * action_scale + action_bias


@torch.no_grad()
def evaluate_probes(policy_net, archs, env_id, episodes, seed, action_scale, action_bias, device, video_prefix=None):
    """{arch name: mean deterministic return (tanh of the mean) over `episodes` episodes} of the policy generated
    for each arch; with video_prefix, each arch's first episode is saved as <video_prefix>_<arch>.mp4."""
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
                action = deterministic_action(outputs, action_scale, action_bias)[0].cpu().numpy()
                obs, reward, terminated, truncated, _ = env.step(action)
                total, done = total + float(reward), terminated or truncated
                if frames is not None:
                    frames.append(env.render())
            if frames is not None:
                os.makedirs(os.path.dirname(video_prefix), exist_ok=True)
                fps = env.metadata.get("render_fps", 30)
                imageio.mimwrite(f"{video_prefix}_{archspace.arch_name(arch)}.mp4", frames, fps=fps, macro_block_size=1)
            episode_returns.append(total)
        returns[archspace.arch_name(arch)] = float(np.mean(episode_returns))
    env.close()
    return returns


# ---- run plumbing: flag checks, exact resume, checkpoints (not needed to follow the algorithm) ----

MAY_CHANGE = set("resume total_timesteps log_every eval_every eval_episodes capture_video save_every save_buffer".split())
MAY_CHANGE |= {"cuda", "threads", "async_envs", "compile"}  # what --resume may change; the other flags define the run


RANGES = {  # every numeric flag's allowed values: "[" includes the bound, "(" leaves it out (NaN: none)
    "[1, inf)": "total_timesteps meta_batch buffer_size batch_size steps_per_arch eval_episodes log_every ghn_hidden",
    "[0, inf)": "seed learning_starts threads alpha eval_every save_every ghn_weight_decay baseline_weight_decay",
    "(0, inf)": "q_lr ghn_lr baseline_lr",
    "[0, 1]": "gamma",
    "(0, 1]": "tau",
}


def check_args(args):
    """One-line errors for flags this script cannot run with; returns (baseline arch or None, obs_dim, act_dim)."""
    for interval, names in RANGES.items():
        (low, high), closed = map(float, interval[1:-1].split(",")), (interval[0] == "[", interval[-1] == "]")
        for name, value in [(name, getattr(args, name)) for name in names.split()]:
            if not ((low <= value if closed[0] else low < value) and (value <= high if closed[1] else value < high)):
                raise SystemExit(f"bad --{name.replace('_', '-')} {value}: allowed {interval}")
    if args.batch_size % args.meta_batch:
        raise SystemExit(f"--batch-size {args.batch_size} must be a multiple of --meta-batch {args.meta_batch}")
    if args.buffer_size <= args.learning_starts:
        raise SystemExit(f"--buffer-size {args.buffer_size} must be above --learning-starts {args.learning_starts}")
    if args.autotune and args.alpha == 0:
        raise SystemExit("--autotune needs --autotune's --alpha > 0 (its starting value), not 0")
    try:
        baseline_arch = archspace.parse_arch(args.baseline_arch) if args.baseline_arch else None
        env = gym.make(args.env_id, render_mode="rgb_array" if args.capture_video else None)
    except ValueError as error:
        raise SystemExit(f"--baseline-arch: {error}")
    except gym.error.Error as error:  # an unknown id, or a registered env whose package is missing
        raise SystemExit(f"env {args.env_id!r} cannot be made here: {error} (goal-conditioned Fetch envs: ghp_ddpg_her.py)")
    obs_space, act_space = env.observation_space, env.action_space
    if not (isinstance(obs_space, gym.spaces.Box) and len(obs_space.shape) == 1 and isinstance(act_space, gym.spaces.Box)):
        spaces = f"env {args.env_id!r} has a {type(obs_space).__name__} observation and a {type(act_space).__name__} action"
        raise SystemExit(f"{spaces} space: ghp_sac.py needs a flat Box and a Box (Fetch envs: ghp_ddpg_her.py)")
    try:  # --capture-video: fail now, not at the first evaluation
        if args.capture_video:
            env.reset(seed=0), env.render()
    except Exception as error:  # no OpenGL context: mujoco and PyOpenGL raise several kinds
        gl = f"--capture-video: cannot render with MUJOCO_GL={os.environ.get('MUJOCO_GL', 'glfw (needs a display)')}"
        raise SystemExit(f"{gl} ({type(error).__name__}): headless, install OSMesa and set MUJOCO_GL=osmesa, or use egl")
    return baseline_arch, obs_space.shape[0], act_space.shape[0]


def resume(path):
    """The checkpoint and its flags, given flags parsed over them; one-line errors for other files and changed flags."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        saved = Args(**checkpoint["args"])
    except Exception as error:  # no file, a cut or foreign one, one of another version of the script
        reason = ([line for line in str(error).splitlines() if "GLOBAL" in line] or str(error).splitlines() or [""])[0]
        raise SystemExit(f"--resume {path!r}: not a checkpoint.pt of this ghp_sac.py ({type(error).__name__}: {reason[:200]})")
    if "rng" not in checkpoint:  # a ghn_*.pt: the GHN alone, without the run's state
        raise SystemExit(f"--resume {path!r} is a GHN snapshot (for evaluate.py): resume from checkpoint.pt in its folder")
    args = tyro.cli(Args, default=dataclasses.replace(saved, resume=path))
    for name in [name for name, value in asdict(saved).items() if name not in MAY_CHANGE and getattr(args, name) != value]:
        given = f"--{name.replace('_', '-')} {getattr(args, name)!r} contradicts the checkpoint's {getattr(saved, name)!r}"
        raise SystemExit(f"--resume: {given} (only run length, logging and device flags may change)")
    if args.total_timesteps <= checkpoint["global_step"]:
        steps = f"the checkpoint is at step {checkpoint['global_step']}, so --total-timesteps {args.total_timesteps}"
        raise SystemExit(f"--resume: {steps} leaves nothing to do: give a larger --total-timesteps")
    return args, checkpoint


class ExactEnvState(gym.Wrapper):
    """`resume_state`: per wrapper layer the plain attributes and MuJoCo's MjData, to save and set back mid-episode."""

    KINDS = (bool, int, float, str, type(None), np.ndarray, np.generic, np.random.Generator, collections.deque, mujoco.MjData)

    def layers(self):
        env = self
        while (env := getattr(env, "env", None)) is not None:
            yield env

    @property
    def resume_state(self):
        return [{key: copy.deepcopy(v) for key, v in vars(env).items() if isinstance(v, self.KINDS)} for env in self.layers()]

    @resume_state.setter
    def resume_state(self, states):
        for env, state in zip(self.layers(), states):
            for key, value in state.items():
                if isinstance(value, mujoco.MjData):  # into the env's own MjData, which its model and renderer use
                    mujoco.mj_copyData(env.data, env.model, value)
                else:
                    setattr(env, key, copy.deepcopy(value))


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
    baseline_arch, obs_dim, act_dim = check_args(args)
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
    rng = np.random.default_rng(args.seed)  # architecture sampling
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # denormal Adam moments of rarely used GHN rows made CPU updates ~2x slower
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")
    if args.cuda and device.type == "cpu":
        print("--cuda: no CUDA device is available, running on the CPU (--no-cuda skips this note)")
    # env setup: gymnasium 1.x SAME_STEP autoreset returns the reset obs at once and keeps the true
    # last observation of a finished episode in infos["final_obs"]
    vector_env = gym.vector.AsyncVectorEnv if args.async_envs else gym.vector.SyncVectorEnv
    env_fns = [make_env(args.env_id, args.seed + i) for i in range(args.meta_batch)]
    envs = vector_env(env_fns, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    envs.action_space.seed(args.seed)
    low, high = envs.single_action_space.low, envs.single_action_space.high
    scale, bias = (np.ones_like(low), np.zeros_like(low)) if args.unscaled_actions else ((high - low) / 2, (high + low) / 2)
    action_scale, action_bias = (torch.tensor(x, dtype=torch.float32, device=device) for x in (scale, bias))
    # the policy network: one GHN for all 4680 architectures of Eq. 2 (Fig. 2), or the baseline's one MLP
    # with the same interface; the GHN and the baseline each get their authors' optimizer settings
    if baseline_arch is None:
        try:
            ghn_options = dict(decoder=args.ghn_decoder, rank=args.ghn_rank, code_slope=args.ghn_code_slope)
            policy_net = GHN(obs_dim, 2 * act_dim, args.ghn_hidden, **ghn_options).to(device)
        except ValueError as error:
            raise SystemExit(f"{args.env_id}: {error}")
        space, probe_archs, policy_lr, policy_decay = archspace.all_archs(), PROBE_ARCHS, args.ghn_lr, args.ghn_weight_decay
    else:
        policy_net = FixedMLP(baseline_arch, obs_dim, 2 * act_dim).to(device)
        space = probe_archs = [baseline_arch]
        policy_lr, policy_decay = args.baseline_lr, args.baseline_weight_decay
    qf1 = SoftQNetwork(obs_dim, act_dim).to(device)
    qf2 = SoftQNetwork(obs_dim, act_dim).to(device)
    qf1_target = SoftQNetwork(obs_dim, act_dim).to(device)
    qf2_target = SoftQNetwork(obs_dim, act_dim).to(device)
    qf1_target.load_state_dict(qf1.state_dict())
    qf2_target.load_state_dict(qf2.state_dict())
    # fused Adam: one kernel over the GHN's ~34M decoder parameters; with --compile the same update as tensor ops
    adam = CompilableAdam if args.compile else functools.partial(optim.Adam, fused=True)  # (fused: torch's own step only)
    q_optimizer = adam(list(qf1.parameters()) + list(qf2.parameters()), lr=args.q_lr)
    policy_optimizer = adam(policy_net.param_groups(policy_decay), lr=policy_lr)
    # automatic entropy tuning
    target_entropy = -float(act_dim)
    log_alpha = torch.tensor([float(np.log(args.alpha))], requires_grad=True, device=device)
    alpha = torch.tensor(args.alpha, device=device)  # a tensor, updated in place, so that a compiled step can change it
    alpha_optimizer = adam([log_alpha], lr=args.q_lr) if args.autotune else None
    rb = ReplayBuffer(args.buffer_size, obs_dim, act_dim, device)
    archs = archspace.sample_archs(rng, args.meta_batch, space, args.arch_sampling)  # env i is driven by archs[i] (Sec. III-C)
    obs, _ = envs.reset(seed=args.seed)
    global_step, grad_steps = 0, 0
    # checkpoint.pt holds these, and what the save at the loop's end lists
    checkpointed = dict(qf1=qf1, qf2=qf2, qf1_target=qf1_target, qf2_target=qf2_target, q_optimizer=q_optimizer)
    checkpointed |= dict(policy_optimizer=policy_optimizer, **({"alpha_optimizer": alpha_optimizer} if args.autotune else {}))
    if checkpoint:  # continue exactly where it stopped
        if not baseline_arch and checkpoint["ghn"]["config"] != policy_net.config:  # a GHN of an older ghn.py
            raise SystemExit(f"--resume: its GHN {checkpoint['ghn']['config']} is not this ghn.py's: resume with its commit")
        policy_net.load_state_dict(checkpoint["baseline_state"] if baseline_arch else checkpoint["ghn"]["state_dict"])
        for name, module in checkpointed.items():
            module.load_state_dict(checkpoint[name])
        log_alpha.data.copy_(checkpoint["log_alpha"])
        alpha.copy_(checkpoint["alpha"])
        global_step, grad_steps, archs, obs = (checkpoint[key] for key in ("global_step", "grad_steps", "archs", "obs"))
        obs = obs.numpy()  # (pickled: only --resume unpickles the envs, so load only your own checkpoints)
        envs.set_attr("resume_state", pickle.loads(checkpoint["env_states"]))  # mid-episode, as they were
        rng.bit_generator.state, action_space_rng, torch_rng, cuda_rng = checkpoint["rng"]
        torch.set_rng_state(torch_rng)
        if cuda_rng and device.type == "cuda":
            torch.cuda.set_rng_state_all(cuda_rng)
        envs.action_space.np_random.bit_generator.state = action_space_rng
        if checkpoint["buffer"]:  # (else, with --no-save-buffer, it fills again)
            rb.load_state_dict(checkpoint["buffer"])
        print(f"resumed {args.resume} at step {global_step} ({grad_steps} updates), replay buffer of {len(rb)} transitions")
        del checkpoint  # its GHN and optimizer copies are not needed any more
    print(f"{args.env_id} (obs {obs_dim}, act {act_dim}) on {device}, run dir {run_dir}")
    size = sum(p.numel() for p in policy_net.parameters())
    ghn_text = f"GHN ({args.ghn_decoder} decoder, {size:,} parameters) over {len(space)} architectures, meta-batch"
    print(f"policy: baseline MLP {list(baseline_arch)}" if baseline_arch else f"policy: {ghn_text} {args.meta_batch}")

    def update(b_obs, b_actions, b_next_obs, b_rewards, b_dones, arch_ids):
        """One gradient step (critic, actor of Eq. 4, alpha, targets): a function of tensors, one graph with --compile."""
        policies = policy_net.policies(arch_ids)  # one batched GHN call per gradient step
        with torch.no_grad():
            next_outputs = run_split_by_arch(policies, b_next_obs, args.meta_batch)
            next_actions, next_log_pi = squashed_gaussian(next_outputs, action_scale, action_bias, args.log_std_clamp)
            qf_next_target = torch.min(qf1_target(b_next_obs, next_actions), qf2_target(b_next_obs, next_actions))
            min_qf_next_target = qf_next_target - alpha * next_log_pi
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
        actor_loss, log_pi = eq4_actor_loss(
            qf1, qf2, policies, b_obs, args.meta_batch, alpha, action_scale, action_bias, args.log_std_clamp
        )
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
            targets = [*qf1_target.parameters(), *qf2_target.parameters()]
            for param, target_param in zip([*qf1.parameters(), *qf2.parameters()], targets):
                target_param.lerp_(param, args.tau)
        q_optimizer.zero_grad()  # every step starts without gradients (a compiled step then compiles once)
        policy_optimizer.zero_grad()
        return qf1_a_values.detach(), qf1_loss.detach(), qf2_loss.detach(), actor_loss.detach()

    if args.compile:
        torch._dynamo.config.trace_autograd_ops = True  # backward passes inside the one graph
        torch._inductor.config.fallback_random = True  # the policy's noise from torch's generator, as in eager mode
        torch._dynamo.mark_static_address(alpha)  # the step changes it in place: CUDA graphs replay on fixed addresses
        skipped = logging.Handler()  # inductor logs there why it runs a graph without CUDA graphs, if it does
        skipped.emit = lambda record: print(f"--compile: no CUDA graphs, {record.getMessage()}", flush=True)
        logging.getLogger("torch._inductor.cudagraph_utils.__cudagraphs").addHandler(skipped)
        compiled_update = torch.compile(update, fullgraph=True, mode="reduce-overhead" if device.type == "cuda" else "default")

        def update(*batch):  # a CUDA graph's replay overwrites its last outputs: mark each call a new step
            torch.compiler.cudagraph_mark_step_begin()
            return compiled_update(*batch)

    start_time, start_step, log_time, log_step = time.time(), global_step, time.time(), global_step
    update_time, update_count, compiling, episode_returns = 0.0, 0, args.compile, []
    while global_step < args.total_timesteps:
        # act: env i acts with the policy generated for archs[i] (uniformly random actions first)
        if global_step < args.learning_starts:
            actions = envs.action_space.sample()
        else:
            with torch.no_grad():
                acting_policies = policy_net.policies(policy_net.arch_ids(archs))
                outputs = run_split_by_arch(acting_policies, torch.tensor(obs, dtype=torch.float32, device=device), len(archs))
                actions = squashed_gaussian(outputs, action_scale, action_bias, args.log_std_clamp)[0].cpu().numpy()
        next_obs, rewards, terminations, truncations, infos = envs.step(actions)
        global_step += args.meta_batch

        # store: every env's transition goes to the one shared replay buffer, whichever arch acted;
        # a finished episode's true last observation is in infos["final_obs"]
        finished = np.flatnonzero(terminations | truncations)
        real_next_obs = next_obs.copy()
        for i in finished:
            real_next_obs[i] = infos["final_obs"][i]
            archs[i] = archspace.sample_archs(rng, 1, space, args.arch_sampling)[0]  # Sec. III-C: a new arch per episode
            episode_returns.append(float(infos["final_info"]["episode"]["r"][i]))
            writer.add_scalar("charts/episodic_return", infos["final_info"]["episode"]["r"][i], global_step)
            writer.add_scalar("charts/episodic_length", infos["final_info"]["episode"]["l"][i], global_step)
        rb.add(obs, actions, real_next_obs, rewards, terminations)
        if args.reset_all_envs and len(finished):  # the authors' episodes: all envs restart, with a new meta-batch
            next_obs = envs.reset()[0]
            archs = archspace.sample_archs(rng, args.meta_batch, space, args.arch_sampling)
        obs = next_obs

        # learn: one gradient step per collected transition, once the buffer holds learning_starts
        if len(rb) > args.learning_starts:
            update_start = time.time()
            for _ in range(args.meta_batch):
                # Sec. III-C: a new meta-batch every steps_per_arch gradient steps. It is also what
                # the envs act with from here on, mid-episode (with the defaults about every 6 env steps).
                if grad_steps % args.steps_per_arch == 0:
                    archs = archspace.sample_archs(rng, args.meta_batch, space, args.arch_sampling)
                # a uniform minibatch from the shared buffer: chunk i trains archs[i] (Eq. 4), whichever
                # arch collected those rows; the split is by row position, not by who collected the data
                b_obs, b_actions, b_next_obs, b_rewards, b_dones = rb.sample(args.batch_size)
                losses = update(b_obs, b_actions, b_next_obs, b_rewards, b_dones, policy_net.arch_ids(archs))
                grad_steps += 1
            if compiling:  # the first call compiles: reported, not counted in updates/s
                print(f"--compile: the first {args.meta_batch} updates took {time.time() - update_start:.0f} s (compiling)")
                compiling = False
            else:
                update_time, update_count = update_time + time.time() - update_start, update_count + args.meta_batch

        if global_step % args.log_every < args.meta_batch:  # these steps passed a multiple of log_every: progress, scalars
            now, sps = time.time(), int((global_step - start_step) / (time.time() - start_time))
            eta = (now - log_time) / (global_step - log_step) * (args.total_timesteps - global_step)
            line, scalars = f"step={global_step}/{args.total_timesteps} SPS={sps}", {"charts/SPS": sps}
            if update_count:
                q_loss, (qf1_a_values, qf1_loss, qf2_loss, actor_loss) = (losses[1] + losses[2]).item() / 2, losses
                scalars |= {"charts/updates_per_s": update_count / update_time, "losses/qf1_values": qf1_a_values.mean()}
                scalars |= {"losses/qf1_loss": qf1_loss, "losses/qf2_loss": qf2_loss, "losses/actor_loss": actor_loss}
                scalars |= {"losses/alpha": alpha}
                line += f" updates/s={update_count / update_time:.1f} qf_loss={q_loss:.3f} actor_loss={actor_loss.item():.3f}"
            for name, value in scalars.items():
                writer.add_scalar(name, float(value), global_step)
            if episode_returns:
                line += f" return(last {len(episode_returns)} episodes)={np.mean(episode_returns):.1f}"
            print(f"{line} ETA {eta // 3600:.0f}h{eta % 3600 // 60:02.0f}m", flush=True)
            update_time, update_count, episode_returns, log_time, log_step = 0.0, 0, [], now, global_step
        if args.eval_every and global_step % args.eval_every < args.meta_batch:  # the probe archs, deterministic
            video_prefix = os.path.join(run_dir, "videos", str(global_step)) if args.capture_video else None
            episodes, seed, bounds = args.eval_episodes, args.seed + 10_000, (action_scale, action_bias)
            returns = evaluate_probes(policy_net, probe_archs, args.env_id, episodes, seed, *bounds, device, video_prefix)
            for name, value in returns.items():
                writer.add_scalar(f"eval/return_{name}", value, global_step)
            print("eval " + " ".join(f"[{name}]={value:.1f}" for name, value in returns.items()), flush=True)

        if (args.save_every and global_step % args.save_every < args.meta_batch) or global_step >= args.total_timesteps:
            # the README's checkpoint table in order: what evaluate.py and export.py read (a snapshot), then the run's state
            ghp, path = baseline_arch is None, os.path.join(run_dir, "checkpoint.pt")
            cuda_rng = torch.cuda.get_rng_state_all() if device.type == "cuda" else None
            snapshot = dict(algo="sac", args=asdict(args), env_id=args.env_id, obs_dim=obs_dim, act_dim=act_dim,
                            ghn=policy_net.to_checkpoint() if ghp else None, baseline_arch=baseline_arch,
                            global_step=global_step)  # fmt: skip
            if ghp:  # the GHN alone first (for evaluate.py): no kill between the two writes can lose a snapshot
                save_atomically(snapshot, os.path.join(run_dir, f"ghn_{global_step}.pt"))
            state = dict(snapshot, baseline_state=None if ghp else policy_net.state_dict(),
                         **{name: module.state_dict() for name, module in checkpointed.items()},
                         log_alpha=log_alpha.detach().cpu(), alpha=alpha.item(), grad_steps=grad_steps, archs=list(archs),
                         obs=torch.as_tensor(obs), env_states=pickle.dumps(envs.get_attr("resume_state")),
                         rng=[rng.bit_generator.state, envs.action_space.np_random.bit_generator.state,
                              torch.get_rng_state(), cuda_rng],
                         buffer=rb.state_dict() if args.save_buffer else None)  # fmt: skip
            save_atomically(state, path)
            buffer = f"replay buffer of {len(rb)} transitions" if args.save_buffer else "no replay buffer"
            print(f"saved {path} ({os.path.getsize(path) / 2**20:.0f} MB, {buffer})", flush=True)

    envs.close()
    writer.close()
