"""Evaluate the policies a trained GHN generates, pick small ones, plot, export, record (Sec. III-D, IV).

    python evaluate.py run --checkpoint runs/RUN/checkpoint.pt                # all 4680 archs, 5 episodes each
    python evaluate.py run --checkpoint CKPT --archs random:200 --episodes 3  # a seeded random sample
    python evaluate.py run --checkpoint CKPT --archs "16,8,32,8;64,64"        # chosen archs
    python evaluate.py run --checkpoint CKPT --shard 0/4                      # every 4th arch from offset 0
    python evaluate.py merge --csvs a.csv b.csv c.csv d.csv --out-dir DIR     # join shards, then report
    python evaluate.py budget --checkpoint CKPT --params 2000                 # Eq. 5 pick under 2000 params
    python evaluate.py budget --checkpoint CKPT --bytes 32768 --int8          # ... under 32 KB of int8 flash
    python evaluate.py export --checkpoint CKPT --arch 16,16 --out-dir deploy # policy.pt/.json/.onnx, C header
    python evaluate.py export --checkpoint CKPT --arch 16,16 --int8           # ... and an int8 C header
    python evaluate.py run --checkpoint CKPT --archs "16,16;4,4" --int8       # play the int8 policies
    python evaluate.py run --checkpoint CKPT --archs 256,256 --stochastic     # SAC: sample actions, as in training
    python evaluate.py curves --checkpoints runs/RUN/ghn_*.pt --archs random:100   # Fig. 3 over training
    MUJOCO_GL=osmesa python evaluate.py video --checkpoint CKPT --arch 16,16  # an MP4 of one arch's episode
    python evaluate.py run --help                                             # every flag of a command

Policies act deterministically with the training scripts' own transforms (ghp_sac.deterministic_action:
tanh of the mean, scaled to the action bounds; ghp_ddpg_her.PolicyInputs and deterministic_action:
normalised observation and goal in, tanh of the output out); with --stochastic, a SAC policy's actions are
sampled as in training (on Humanoid the mean action can score far below the sampled policy). Every
architecture plays the same episode seeds (seed + episode index), and with --stochastic the same noise.
Results are appended to results.csv as each architecture finishes, and a rerun skips what is done.
Beside each results CSV, a .meta.json names what produced it: a fingerprint of the checkpoint's policy
weights (GHN and normalisers), env, seed, episodes, int8 and stochastic. A rerun or merge that does not
match it stops with an error instead of mixing results of different checkpoints or settings (--fresh
starts the file over).
"""

import csv
import fcntl
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import onnx
import torch
import tyro

import archspace
import ghp_ddpg_her  # the training scripts' own input and action transforms (PolicyIO)
import ghp_sac
from ghn import GHN, mlp_forward, params_to_mlp

CSV_FIELDS = ["arch", "depth", "params", "d_lm", "episodes", "score", "std", "per_episode"]


@dataclass
class Device:
    cuda: bool = False
    """generate weights and run policies on the GPU"""
    threads: int = 0
    """torch CPU threads; 0 keeps torch's default"""


@dataclass
class Evaluation(Device):
    archs: str = "all"
    """which architectures: all | random:N (seeded) | a ;-separated list such as "16,8,32,8;64,64" """
    episodes: int = 5
    """episodes per architecture (the paper uses 5)"""
    num_envs: int = 16
    """env copies stepped together; each runs one (architecture, episode) at a time"""
    seed: int = 0
    """seed of the episode starts (episode e of every arch uses seed + e) and of random:N / Table II cutoffs"""
    fresh: bool = False
    """discard results already in the output CSV instead of resuming
    (needed when they came from another checkpoint or settings)"""
    gen_batch: int = 64
    """architectures whose weights are generated per GHN call"""
    cutoffs: int = 5000
    """random parameter cutoffs in [1000, 1e6] for the Table II analysis"""
    int8: bool = False
    """play each architecture's int8 policy (export --int8's arithmetic) instead of float32, same episode seeds"""
    stochastic: bool = False
    """ghp_sac.py checkpoints: sample each action from the policy's squashed Gaussian, as in training (noise seeded
    per episode), instead of the deterministic tanh(mean)"""


@dataclass
class Run(Evaluation):
    """Evaluate architectures of one checkpoint: results.csv (resumable), report.md/json (max/90%/80%
    archs, Table II) and the Fig. 4 plots."""

    checkpoint: str = ""
    """checkpoint.pt (or a ghn_*.pt snapshot) written by ghp_sac.py or ghp_ddpg_her.py"""
    out_dir: str = ""
    """output folder (default: <checkpoint folder>/eval_<checkpoint name>/)"""
    shard: str = ""
    """i/n: evaluate every n-th architecture from offset i (join the shards' CSVs with the merge command)"""


@dataclass
class Curves(Evaluation):
    """Evaluate several checkpoints of one run on the same architectures and plot max/90%/80% over
    training (Fig. 3); each checkpoint also gets its own results and report."""

    checkpoints: tuple[str, ...] = ()
    """the checkpoints, e.g. runs/RUN/ghn_*.pt"""
    out_dir: str = ""
    """output folder (default: the folder of the last checkpoint; one subfolder per checkpoint)"""


@dataclass
class Merge:
    """Join the CSVs of shards of one checkpoint into <out-dir>/results.csv, then report."""

    csvs: tuple[str, ...] = ()
    """CSV files of the shards (they must come from one checkpoint, seed and episode count)"""
    out_dir: str = ""
    """output folder of the joined results.csv and report"""
    seed: int = 0
    """seed of the Table II cutoffs"""
    cutoffs: int = 5000
    """random parameter cutoffs in [1000, 1e6] for the Table II analysis"""


@dataclass
class Budget:
    """Print the architecture Eq. 5 picks under a parameter budget (and its measured score, and the best
    evaluated one under the budget, if the checkpoint was evaluated)."""

    checkpoint: str = ""
    """checkpoint.pt or ghn_*.pt"""
    params: int = 0
    """the budget: most parameters the policy may have"""
    bytes: int = 0
    """the budget as flash bytes instead (weights, biases, int8 scales, normaliser and action constants)"""
    int8: bool = False
    """with --bytes: count int8 weights (export --int8) instead of float32"""
    out_dir: str = ""
    """where the checkpoint's results.csv is (default: <checkpoint folder>/eval_<checkpoint name>/)"""


@dataclass
class Export:
    """Export one architecture's generated policy: policy.pt (plain nn.Sequential), policy.json,
    policy.onnx (the whole pipeline) and policy.h (dependency-free C99 inference); prints its flash
    and RAM bytes and the C policy's time per action. No evaluation."""

    checkpoint: str = ""
    """checkpoint.pt or ghn_*.pt (or a fixed-MLP checkpoint: its one architecture)"""
    arch: str = ""
    """the architecture, e.g. 16,16 (a fixed-MLP checkpoint: its own, the default)"""
    out_dir: str = ""
    """output folder (default: <checkpoint folder>/export_<arch>/)"""
    int8: bool = False
    """also write policy_int8.h: int8 weights (float32 scales per row and per input), int16 input, int8 activations"""


@dataclass
class Video:
    """Record deterministic episodes of one architecture's generated policy as an MP4 (MuJoCo's
    offscreen renderer: MUJOCO_GL=egl or osmesa on a headless machine)."""

    checkpoint: str = ""
    """checkpoint.pt or ghn_*.pt"""
    arch: str = ""
    """the architecture, e.g. 16,16"""
    episodes: int = 1
    """episodes in the video, one after the other"""
    seed: int = 0
    """episode e starts from seed + e, as in the run command"""
    out: str = ""
    """the MP4 file (default: <checkpoint folder>/video_<arch>.mp4)"""
    size: int = 480
    """width and height of the frames in pixels"""
    fps: int = 30
    """frames per second of the video"""


COMMANDS = {"run": Run, "merge": Merge, "budget": Budget, "export": Export, "curves": Curves, "video": Video}


def fail(message):
    raise SystemExit(f"evaluate.py: {message}")


def load_checkpoint(path):
    """The checkpoint dict plus a rebuilt GHN; one-line errors for missing or foreign files."""
    if not os.path.isfile(path):
        fail(f"no checkpoint file {path!r}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        fail(f"cannot read checkpoint {path!r} ({type(error).__name__}: {str(error).splitlines()[0][:120]})")
    if not isinstance(checkpoint, dict) or checkpoint.get("algo") not in ("sac", "ddpg_her"):
        fail(f"{path!r} is not a checkpoint of ghp_sac.py or ghp_ddpg_her.py")
    if checkpoint.get("ghn") is not None:
        return checkpoint, GHN.from_checkpoint(checkpoint["ghn"])
    # a fixed MLP (--baseline-arch run, bc_distill.py): the training script's actor, one architecture
    if checkpoint.get("baseline_arch") is None or checkpoint.get("baseline_state") is None:
        fail(f"{path!r} holds neither a GHN nor a fixed MLP's weights")
    if checkpoint["algo"] == "sac":
        actor = ghp_sac.BaselineActor(checkpoint["baseline_arch"], checkpoint["obs_dim"], checkpoint["act_dim"])
    else:
        actor = ghp_ddpg_her.BaselineActor(
            checkpoint["baseline_arch"], checkpoint["obs_dim"] + checkpoint["goal_dim"], checkpoint["act_dim"]
        )
    actor.load_state_dict(checkpoint["baseline_state"])
    return checkpoint, actor


def load_policy(path, stochastic=False):
    """(checkpoint, policy network, PolicyIO) of a checkpoint file. The policy network is a GHN, or for
    a fixed-MLP checkpoint the training script's BaselineActor, which has the GHN's interface for its
    one architecture."""
    checkpoint, ghn = load_checkpoint(path)
    if stochastic and checkpoint["algo"] != "sac":
        fail(f"--stochastic samples a ghp_sac.py policy; {path} is from ghp_ddpg_her.py, whose policy is deterministic")
    env = make_env(checkpoint["env_id"])
    io = PolicyIO(checkpoint, env.action_space, stochastic)
    env.close()
    return checkpoint, ghn, io


def policy_fingerprint(checkpoint):
    """Hex digest of everything that determines the generated policies' actions: algorithm, env,
    dimensions, the GHN's config and weights, and the input normalisers (ghp_ddpg_her.py)."""
    digest = hashlib.sha256()
    for key in ("algo", "env_id", "obs_dim", "goal_dim", "act_dim"):
        digest.update(f"{key}={checkpoint.get(key)};".encode())
    if checkpoint.get("ghn") is not None:
        config, state = checkpoint["ghn"]["config"], checkpoint["ghn"]["state_dict"]
    else:
        config, state = {"baseline_arch": list(checkpoint["baseline_arch"])}, checkpoint["baseline_state"]
    digest.update(json.dumps(config, sort_keys=True).encode())
    for name, tensor in sorted(state.items()):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for key in ("obs_norm", "goal_norm"):
        if key in checkpoint:
            for field in ("sum", "sumsq", "count"):
                digest.update(np.asarray(checkpoint[key][field], np.float64).tobytes())
    return digest.hexdigest()[:16]


def meta_path(csv_path):
    """results.csv -> results.meta.json: what the rows of that CSV were evaluated from."""
    return os.path.splitext(csv_path)[0] + ".meta.json"


RESULT_KEYS = ("fingerprint", "env_id", "episodes", "seed", "int8", "stochastic")
"""What must agree for results to be reused or merged."""


def read_meta(csv_path):
    path = meta_path(csv_path)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def meta_mismatch(meta, expected):
    """'' if `meta` agrees with `expected` on RESULT_KEYS, else what differs, for an error message."""
    differ = [f"{key} {meta.get(key)!r} vs {expected.get(key)!r}" for key in RESULT_KEYS if meta.get(key) != expected.get(key)]
    return ", ".join(differ)


def make_env(env_id, **kwargs):
    """The checkpoint's env (importing ghp_ddpg_her registers the Fetch ids); a one-line error if it cannot be made."""
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.DependencyNotInstalled as error:
        fail(f"env {env_id!r} cannot be made here, a package it needs is missing: {error}")
    except gym.error.Error as error:
        fail(f"unknown env id {env_id!r}: {error}")


class PolicyIO:
    """What happens around a generated MLP: the training script's own input preparation and
    deterministic action transform (ghp_sac.deterministic_action; ghp_ddpg_her.PolicyInputs and
    ghp_ddpg_her.deterministic_action), loaded with the checkpoint's normalisers and clip settings,
    plus the same constants in float32 for the exported C code. With stochastic (SAC), actions are
    sampled from the policy's squashed Gaussian with the noise given to actions()."""

    def __init__(self, checkpoint, action_space, stochastic=False):
        self.goal_env, self.stochastic = checkpoint["algo"] == "ddpg_her", stochastic
        # what an episode's score is
        self.score_name = "success rate" if self.goal_env else "return of sampled actions" if stochastic else "return"
        self.act_dim = checkpoint["act_dim"]
        low, high = action_space.low.astype(np.float64), action_space.high.astype(np.float64)
        if self.goal_env:  # ghp_ddpg_her.py: normalised (observation, goal) in, tanh(output) * max_action out
            self.in_dim = checkpoint["obs_dim"] + checkpoint["goal_dim"]
            self.max_action = float(action_space.high[0])
            self.action_scale, self.action_bias = np.full(self.act_dim, high[0]), np.zeros(self.act_dim)
            saved = checkpoint["args"]
            self.clip_obs, self.clip_norm = saved["clip_obs"], saved["clip_norm"]
            self.policy_inputs = ghp_ddpg_her.PolicyInputs(
                checkpoint["obs_dim"], checkpoint["goal_dim"], self.clip_obs, self.clip_norm, torch.device("cpu")
            )
            self.policy_inputs.obs_norm.load_state_dict(checkpoint["obs_norm"])
            self.policy_inputs.goal_norm.load_state_dict(checkpoint["goal_norm"])
            norms = (self.policy_inputs.obs_norm, self.policy_inputs.goal_norm)
            self.input_mean = np.concatenate([n.mean for n in norms]).astype(np.float32)  # for the C export
            self.input_std = np.concatenate([n.std for n in norms]).astype(np.float32)
        else:  # ghp_sac.py: raw observations in, tanh(mean) scaled to the action bounds out
            self.in_dim = checkpoint["obs_dim"]
            self.action_scale, self.action_bias = (high - low) / 2.0, (high + low) / 2.0
            self.input_mean = self.input_std = None

    def inputs(self, observations):
        """Observations (an array, or a list of Fetch dicts) -> float32 policy inputs (CPU tensor)."""
        if not self.goal_env:
            return torch.as_tensor(np.asarray(observations, np.float32))
        return self.policy_inputs(
            np.stack([o["observation"] for o in observations]), np.stack([o["desired_goal"] for o in observations])
        )

    def actions(self, outputs, noise=None):
        """Generated network outputs (a tensor) -> env actions (float32 numpy), as in training; with
        standard normal `noise` (rows x act_dim) the SAC policy's sample tanh(mean + std * noise), scaled."""
        outputs = outputs.cpu()
        if self.goal_env:
            return ghp_ddpg_her.deterministic_action(outputs, self.max_action).numpy()
        outputs = outputs[:, : 2 * self.act_dim]  # (mean, log_std)
        scale, bias = torch.tensor(self.action_scale, dtype=torch.float32), torch.tensor(self.action_bias, dtype=torch.float32)
        if noise is None:
            return ghp_sac.deterministic_action(outputs, scale, bias).numpy()
        mean, std = ghp_sac.mean_and_std(outputs)
        return (torch.tanh(mean + std * noise) * scale + bias).numpy()


def default_out_dir(path, int8=False, stochastic=False):
    """Where results of checkpoint `path` go without --out-dir: eval_<checkpoint name>/ beside it
    (eval_<checkpoint name>_int8/ for its int8 policies, ..._stochastic/ for sampled actions)."""
    stem = os.path.splitext(os.path.basename(path))[0]
    suffix = ("_int8" if int8 else "") + ("_stochastic" if stochastic else "")
    return os.path.join(os.path.dirname(os.path.abspath(path)), f"eval_{stem}{suffix}")


def select_archs(spec, seed, all_archs, flag="--archs"):
    """The archs `spec` names (all, random:N, or "A;B;..."), each once; `flag` names the option in errors."""
    if spec == "all":
        return list(all_archs)
    if spec.startswith("random:"):
        count = spec.split(":", 1)[1]
        if not count.isdigit() or not 1 <= int(count) <= len(all_archs):
            fail(f"bad --archs {spec!r}: random:N needs 1 <= N <= {len(all_archs)}")
        picked = np.random.default_rng(seed).choice(len(all_archs), size=int(count), replace=False)
        return [all_archs[i] for i in sorted(picked)]
    archs = []
    for part in spec.split(";"):
        try:
            arch = archspace.parse_arch(part)
        except ValueError as error:
            fail(f"{flag}: {error}")
        if arch not in all_archs:
            fail(
                f"architecture {list(arch)} is outside the space: "
                f"1..{archspace.MAX_DEPTH} layers of widths {list(archspace.WIDTHS)}"
            )
        if arch in archs:
            print(f"evaluate.py: note: {flag} names {list(arch)} more than once; it is evaluated once", file=sys.stderr)
        else:
            archs.append(arch)
    return archs


def parse_row(row):
    """A results CSV row as a dict, or None if it is damaged: a missing or extra field, a value that does
    not parse, or per-episode scores that are not `episodes` many or whose mean is not the score (each is
    written rounded to 4 decimals, so their mean may differ from the score by up to 5e-5)."""
    try:
        if None in row or None in row.values():  # csv.DictReader's marks of extra and missing fields
            return None
        per_episode = [float(value) for value in row["per_episode"].split(";")]
        parsed = {
            "arch": archspace.parse_arch(row["arch"]),
            "params": int(row["params"]),
            "d_lm": int(row["d_lm"]),
            "episodes": int(row["episodes"]),
            "score": float(row["score"]),
            "std": float(row["std"]),
            "per_episode": row["per_episode"],
        }
    except (KeyError, ValueError):
        return None
    rounding = 5e-5 + 1e-12 * (1.0 + max(abs(value) for value in per_episode))
    if len(per_episode) != parsed["episodes"] or abs(np.mean(per_episode) - parsed["score"]) > rounding:
        return None
    return parsed


def read_results(path):
    """{arch: row} of a results CSV. A last row cut short (an evaluation killed while writing it, a full
    disk) is left out with a note, so that its arch is evaluated again; damage anywhere else is an error."""
    results = {}
    if os.path.isfile(path):
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        for number, row in enumerate(rows, start=2):  # line 1 is the header
            parsed = parse_row(row)
            if parsed is None and number == len(rows) + 1:
                print(
                    f"evaluate.py: note: the last row of {path} is cut short ({row.get('arch')!r}): left out", file=sys.stderr
                )
            elif parsed is None:
                fail(f"{path}: line {number} is damaged; use --fresh to start it over, or another --out-dir")
            else:
                results[parsed["arch"]] = parsed
    return results


def write_results(path, results):
    """A results CSV of `results`, in the space's order, written whole (a .tmp, then a rename)."""
    with open(path + ".tmp", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for arch in sorted(results, key=archspace.space_order):
            writer.writerow(dict(results[arch], arch=",".join(map(str, arch)), depth=len(arch)))
    os.replace(path + ".tmp", path)


@torch.no_grad()
def evaluate_archs(ghn, io, env_id, archs, episodes, num_envs, seed, gen_batch, device, on_result, int8=False):
    """Play `episodes` episodes of every arch, num_envs episodes at a time (with int8, each arch's int8
    policy: quantise_policy, int8_forward). Actions are deterministic, or with io.stochastic sampled
    with noise from a generator seeded by the episode's seed: the same noise for an arch's episode
    whatever num_envs, shard or other archs.

    Jobs are (arch, episode) in arch-major order, so the envs mostly run a few archs at once and one
    policy forward serves all envs of an arch. on_result(arch, scores) is called when an arch is done.
    Returns (env steps, seconds)."""
    envs = [make_env(env_id) for _ in range(num_envs)]
    jobs = [(a, e) for a in range(len(archs)) for e in range(episodes)]
    next_job, slot_job = 0, [None] * num_envs
    slot_obs, slot_return, slot_noise = [None] * num_envs, np.zeros(num_envs), [None] * num_envs
    params, scores = {}, {}
    steps, start, last_print = 0, time.time(), 0.0

    def start_job(slot):
        nonlocal next_job
        if next_job >= len(jobs):
            slot_job[slot] = None
            return
        arch_index, episode = jobs[next_job]
        next_job += 1
        if arch_index not in params:  # generate the next gen_batch archs' weights in one call
            batch = range(arch_index, min(arch_index + gen_batch, len(archs)))
            for i, p in zip(batch, ghn([archs[i] for i in batch])):
                params[i] = quantise_policy(p) if int8 else p
        slot_job[slot] = (arch_index, episode)
        slot_obs[slot], _ = envs[slot].reset(seed=seed + episode)
        slot_return[slot] = 0.0
        if io.stochastic:
            slot_noise[slot] = torch.Generator().manual_seed(seed + episode)

    for slot in range(num_envs):
        start_job(slot)
    while any(job is not None for job in slot_job):
        active = [s for s in range(num_envs) if slot_job[s] is not None]
        by_arch = {}
        for s in active:
            by_arch.setdefault(slot_job[s][0], []).append(s)
        actions = {}
        for arch_index, slots in by_arch.items():
            inputs = io.inputs([slot_obs[s] for s in slots]).to(device)
            outputs = (int8_forward if int8 else mlp_forward)(params[arch_index], inputs)
            noise = torch.stack([torch.randn(io.act_dim, generator=slot_noise[s]) for s in slots]) if io.stochastic else None
            for s, action in zip(slots, io.actions(outputs, noise)):
                actions[s] = action
        for s in active:
            slot_obs[s], reward, terminated, truncated, info = envs[s].step(actions[s])
            slot_return[s] += reward
            steps += 1
            if terminated or truncated:
                arch_index, episode = slot_job[s]
                score = float(info["is_success"]) if io.goal_env else slot_return[s]
                scores.setdefault(arch_index, {})[episode] = score
                if len(scores[arch_index]) == episodes:
                    on_result(archs[arch_index], [scores[arch_index][e] for e in range(episodes)])
                    del scores[arch_index], params[arch_index]
                start_job(s)
        now = time.time()
        finished = all(job is None for job in slot_job)
        if now - last_print > (2 if sys.stderr.isatty() else 30) or finished:  # progress bar, or a line per 30 s in a log
            last_print = now
            done = next_job - sum(job is not None for job in slot_job)
            rate = steps / max(now - start, 1e-9)
            eta = (now - start) / max(done, 1) * (len(jobs) - done)
            line = f"{done}/{len(jobs)} episodes, {rate:.0f} env steps/s, ETA {eta / 60:.1f} min"
            print(
                f"\r{line}   " if sys.stderr.isatty() else line,
                end="" if sys.stderr.isatty() and not finished else "\n",
                file=sys.stderr,
                flush=True,
            )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    for env in envs:
        env.close()
    return steps, time.time() - start


def smallest_reaching(results, fraction):
    """Sec. IV-A: the smallest arch (fewest params) whose score is >= fraction * the best score."""
    rows = sorted(results.values(), key=lambda r: (r["params"], archspace.space_order(r["arch"])))
    best = max(r["score"] for r in rows)
    if best <= 0:
        return None  # fractions of a non-positive best score are meaningless
    return next(r for r in rows if r["score"] >= fraction * best)


def table2_picks(results, num_cutoffs, seed):
    """Table II's comparisons: for each of num_cutoffs seeded random parameter cutoffs in [1000, 1e6]
    under which some arch fits and the best score is positive, (best row, max-D_LM pick, max-size pick)."""
    rows = list(results.values())
    for cutoff in np.random.default_rng(seed).uniform(1000, 1e6, num_cutoffs):
        fitting = [r for r in rows if r["params"] <= cutoff]
        if fitting and max(r["score"] for r in fitting) > 0:
            yield max(fitting, key=lambda r: r["score"]), archspace.pick(fitting, "d_lm"), archspace.pick(fitting, "size")


def table2(results, num_cutoffs, seed):
    """Table II: over random parameter cutoffs, the mean ratio of the max-D_LM pick's and the
    max-size pick's score to the best evaluated score under the cutoff."""
    ratios = {"d_lm": [], "size": []}
    for best, by_dlm, by_size in table2_picks(results, num_cutoffs, seed):
        ratios["d_lm"].append(by_dlm["score"] / best["score"])
        ratios["size"].append(by_size["score"] / best["score"])
    used = len(ratios["d_lm"])
    return {
        "cutoffs": num_cutoffs,
        "cutoffs_used": used,
        "max_dlm_ratio": float(np.mean(ratios["d_lm"])) if used else None,
        "max_size_ratio": float(np.mean(ratios["size"])) if used else None,
    }


def landscape(results):
    """How the scores spread over the evaluated archs (Sec. IV-A, Fig. 4), by number of hidden layers and
    in all: archs, mean, median, min, max, and how many reach 90% / 80% of the best score."""
    best = max(r["score"] for r in results.values())
    groups = {}
    for row in results.values():
        groups.setdefault(len(row["arch"]), []).append(row["score"])
    groups = {**{str(depth): groups[depth] for depth in sorted(groups)}, "all": [r["score"] for r in results.values()]}
    summary = {}
    for name, scores in groups.items():
        scores = np.array(scores)
        reaching = {
            f"reach_{int(fraction * 100)}": int(np.sum(scores >= fraction * best)) if best > 0 else None
            for fraction in (0.9, 0.8)
        }
        summary[name] = {
            "archs": len(scores),
            "mean": float(scores.mean()),
            "median": float(np.median(scores)),
            "min": float(scores.min()),
            "max": float(scores.max()),
            **reaching,
        }
    return summary


def ratio_text(ratio):
    return "None" if ratio is None else f"{ratio:.3f}"


def make_report(results, out_dir, env_id, score_name, num_cutoffs, seed, source, dims=None):
    """report.md, report.json and the Fig. 4 plots from evaluated results; with the policies' dims
    (policy_dims) also which archs fit the flash budgets of MEMORY_BUDGETS."""
    if not results:
        fail(f"no evaluated architectures for a report in {out_dir}")
    levels = {}
    for name, fraction in (("max", 1.0), ("90%", 0.9), ("80%", 0.8)):
        row = smallest_reaching(results, fraction)
        levels[name] = (
            None
            if row is None
            else {
                "arch": list(row["arch"]),
                "params": row["params"],
                "d_lm": row["d_lm"],
                "score": row["score"],
                "std": row["std"],
            }
        )
    analysis = table2(results, num_cutoffs, seed)
    spread = landscape(results)
    best = max(results.values(), key=lambda r: r["score"])
    report = {
        "env_id": env_id,
        "source": source,
        "score": score_name,
        "archs_evaluated": len(results),
        "best_score": best["score"],
        "levels": levels,
        "table2": analysis,
        "landscape": spread,
        "memory": None if dims is None else memory_table(results, dims),
    }
    with open(os.path.join(out_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=2)
    lines = [
        f"# GHP evaluation: {env_id}",
        "",
        f"{len(results)} architectures from `{source}`; score = {score_name}.",
        "",
        "| level | architecture | params | D_LM | score |",
        "|---|---|---|---|---|",
    ]
    for name, row in levels.items():
        if row is None:
            lines.append(f"| {name} | (undefined: best score <= 0) | | | |")
        else:
            lines.append(
                f"| {name} | {row['arch']} | {row['params']} | {row['d_lm']} | {row['score']:.2f} ± {row['std']:.2f} |"
            )
    lines += [
        "",
        f"Table II ({analysis['cutoffs_used']} of {analysis['cutoffs']} random cutoffs in [1000, 1e6] usable):",
        "",
        "| pick under the cutoff | score / best score under the cutoff |",
        "|---|---|",
        f"| max size | {ratio_text(analysis['max_size_ratio'])} |",
        f"| max D_LM (Eq. 5) | {ratio_text(analysis['max_dlm_ratio'])} |",
        "",
        "Scores over the evaluated architectures, by number of hidden layers:",
        "",
        "| hidden layers | archs | mean | median | min | max | reach 90% of the best | reach 80% |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in spread.items():
        lines.append(
            f"| {name} | {row['archs']} | {row['mean']:.2f} | {row['median']:.2f} | {row['min']:.2f} | "
            f"{row['max']:.2f} | {row['reach_90']} | {row['reach_80']} |"
        )
    if report["memory"]:
        lines += [
            "",
            "Memory budgets over the exported C policy's constants (weights, biases, int8 row and input scales, input "
            "normaliser and action constants; `evaluate.py export` prints them with the RAM its buffers need): 192 KB is a "
            "Crazyflie 2.0's RAM (Sec. I), the budget where the weights are held in RAM; 32 KB a small microcontroller's.",
            "",
            "| flash | weights | archs that fit (of 4680) | Eq. 5 pick | its score | best evaluated that fits | score "
            "| its bytes |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in report["memory"]:
            pick, best = row["eq5_pick"], row["best_evaluated"]
            cells = [row["budget"], row["weights"], row["archs_fitting"], pick or "none"]
            cells.append("" if row["eq5_pick_score"] is None else f"{row['eq5_pick_score']:.2f}")
            cells += (
                ["", "", ""] if best is None else [best, f"{row['best_evaluated_score']:.2f}", row["best_evaluated_flash"]]
            )
            lines.append("| " + " | ".join(map(str, cells)) + " |")
    lines += [
        "",
        "Ties: the smallest architecture reaching a level is the one with the fewest parameters; a max-D_LM "
        "tie goes to fewer parameters; every remaining tie goes to the earlier architecture in the space's "
        "order (fewer hidden layers first, then widths in lexicographic order), so no pick depends on row order.",
        "",
        "![score vs ln(params)](fig4_params.png) ![score vs ln(D_LM)](fig4_dlm.png)",
        "",
    ]
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write("\n".join(lines))
    plot_fig4(results, levels, out_dir, score_name)
    return report


def plot_fig4(results, levels, out_dir, score_name):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(results.values())
    for key, label, name in (("params", "ln(number of parameters)", "fig4_params.png"), ("d_lm", "ln(D_LM)", "fig4_dlm.png")):
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter([math.log(r[key]) for r in rows], [r["score"] for r in rows], s=6, alpha=0.5, label="architecture")
        for level, marker, size, color in (
            ("80%", "D", 140, "orange"),
            ("90%", "*", 90, "red"),
        ):  # the star stays visible on top
            row = levels.get(level)
            if row is not None:
                ax.scatter(
                    [math.log(row[key])],
                    [row["score"]],
                    s=size,
                    marker=marker,
                    color=color,
                    label=f"{level} arch {row['arch']}",
                    zorder=3,
                )
        ax.set_xlabel(label)
        ax.set_ylabel(score_name)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, name), dpi=120)
        plt.close(fig)


def quantise_rows(matrix, levels=127):
    """Symmetric quantisation with one float32 scale per row: scale = max|row| / levels (1 for a zero
    row) and q = round(row / scale), half to even as C's lrintf, in [-levels, levels]: int8 with
    levels 127, int16 with 32767. Returns (q as float32, scale)."""
    maxabs = matrix.abs().amax(1)
    scale = torch.where(maxabs > 0, maxabs / levels, torch.ones_like(maxabs))
    return torch.round(matrix / scale[:, None]).clamp(-levels, levels), scale


INT8_MAX_FAN_IN = 2**24 // (127 * 127)  # 1040: sums of int8 products stay exact in float32 below 2^24
INPUT_LEVELS = 32767  # the observation is quantised to int16 (see quantise_policy)
INPUT_MAX_DIM = (2**31 - 1) // (INPUT_LEVELS * 127)  # 516: the first layer's int16 x int8 sums fit int32


def quantise_policy(params):
    """[(W, b), ...] -> (c, [(q, row scale, b), ...]) of the int8 policy (export --int8). The first
    layer's weights get a float32 scale per input too, c = max|column| (1 for a zero column), folded
    into the observation (x * c), and its rows are quantised as W / c; the observation is quantised to
    int16. Both for Humanoid, whose observation holds joint readings of ~0.1 beside contact forces of
    ~1000: one int8 scale per observation rounds the small readings to 0, and one weight scale per row
    rounds the small weights of the large inputs to 0 (every policy fell, or lost half its return)."""
    if params[0][0].shape[1] > INPUT_MAX_DIM:
        fail(f"int8: {params[0][0].shape[1]} inputs; the int16 x int8 sums of the first layer fit int32 up to {INPUT_MAX_DIM}")
    if any(weight.shape[1] > INT8_MAX_FAN_IN for weight, _ in params[1:]):
        fail(f"int8: a layer with more than {INT8_MAX_FAN_IN} inputs would need int32 sums beyond float32's exact range")
    first = params[0][0].float()
    column_max = first.abs().amax(0)
    column_scale = torch.where(column_max > 0, column_max, torch.ones_like(column_max))
    weights = [first / column_scale] + [weight.float() for weight, _ in params[1:]]
    return column_scale, [(*quantise_rows(weight), bias.float()) for weight, (_, bias) in zip(weights, params)]


def int8_forward(policy, inputs):
    """The int8 C policy's arithmetic (policy from quantise_policy): the observation times the input
    scales, quantised to int16, and every hidden layer's float32 output to int8, each with one scale
    per vector (quantise_rows); integer products summed exactly (the first layer's in float64, the
    others' in float32: |sum| <= 127 * 127 * fan_in < 2^24), the sum rounded to float32 as C's (float)
    of its int32 sum, then sum * (row scale * input scale) + bias in float32, ReLU between layers."""
    column_scale, layers = policy
    x = inputs * column_scale
    for k, (q, scale, bias) in enumerate(layers):
        xq, x_scale = quantise_rows(x, INPUT_LEVELS if k == 0 else 127)
        sums = (xq.double() @ q.double().T).float() if k == 0 else xq @ q.T
        x = sums * (scale * x_scale[:, None]) + bias
        x = torch.relu(x) if k < len(layers) - 1 else x
    return x


def constant_bytes(io):
    """Flash bytes beside the weights: float32 action scale and bias, and a Fetch policy's input mean and std."""
    return 4 * (2 * io.act_dim + (2 * io.in_dim if io.goal_env else 0))


def policy_dims(io):
    """(in_dim, act_dim, constant bytes): what the byte counts of a checkpoint's policies depend on."""
    return io.in_dim, io.act_dim, constant_bytes(io)


def policy_bytes(arch, dims, int8=False):
    """(flash, RAM) bytes of the exported C policy: archspace.flash_bytes + the constants, archspace.ram_bytes."""
    in_dim, act_dim, constants = dims
    return archspace.flash_bytes(arch, in_dim, act_dim, int8) + constants, archspace.ram_bytes(arch, in_dim, act_dim, int8)


MEMORY_BUDGETS = {"192 KB": 192 * 1024, "32 KB": 32 * 1024}  # Sec. I: a Crazyflie 2.0 has 192 KB of RAM


def best_evaluated(rows):
    """The highest-scoring row; ties to fewer parameters, then the earlier arch in the space's order."""
    return min(rows, key=lambda r: (-r["score"], r["params"], archspace.space_order(r["arch"])), default=None)


def memory_table(results, dims):
    """For each flash budget and float32 / int8 weights: how many of the 4680 archs fit, Eq. 5's pick
    under it, and the best evaluated arch that fits."""
    rows, in_dim, act_dim = [], dims[0], dims[1]
    for budget_name, budget in MEMORY_BUDGETS.items():
        for int8 in (False, True):

            def flash(arch, *_):
                return policy_bytes(arch, dims, int8)[0]

            fitting = [arch for arch in archspace.all_archs() if flash(arch) <= budget]
            pick = archspace.select_under_budget(fitting, budget, in_dim, act_dim, cost=flash) if fitting else None
            evaluated = [row for row in results.values() if flash(row["arch"]) <= budget]
            best = best_evaluated(evaluated)
            rows.append(
                {
                    "budget": budget_name,
                    "weights": "int8" if int8 else "float32",
                    "archs_fitting": len(fitting),
                    "eq5_pick": None if pick is None else list(pick),
                    "eq5_pick_score": results[pick]["score"] if pick in results else None,
                    "best_evaluated": None if best is None else list(best["arch"]),
                    "best_evaluated_score": None if best is None else best["score"],
                    "best_evaluated_flash": None if best is None else flash(best["arch"]),
                }
            )
    return rows


def write_onnx(mlp, io, path):
    """policy.onnx: the whole pipeline as one ONNX graph (opset 17) built node by node: Fetch input
    clipping and normalisation, Gemm and Relu layers, Tanh, action scale and bias. Input "input"
    [batch, in_dim] float32 (raw observation, or observation and desired goal concatenated), output
    "action" [batch, act_dim]."""
    helper, initializers, nodes = onnx.helper, [], []

    def constant(name, value):
        initializers.append(onnx.numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def node(op, inputs, output=None, **attributes):
        output = output or f"{op.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    x = "input"
    if io.goal_env:  # as ghp_ddpg_her.PolicyInputs: clip, normalise, clip
        x = node("Clip", [x, constant("clip_obs_low", -io.clip_obs), constant("clip_obs_high", io.clip_obs)])
        x = node("Div", [node("Sub", [x, constant("input_mean", io.input_mean)]), constant("input_std", io.input_std)])
        x = node("Clip", [x, constant("clip_norm_low", -io.clip_norm), constant("clip_norm_high", io.clip_norm)])
    linears = [layer for layer in mlp if isinstance(layer, torch.nn.Linear)]
    for i, layer in enumerate(linears):
        x = node("Gemm", [x, constant(f"w{i}", layer.weight.detach()), constant(f"b{i}", layer.bias.detach())], transB=1)
        x = node("Relu", [x]) if i < len(linears) - 1 else x
    x = node("Mul", [node("Tanh", [x]), constant("action_scale", io.action_scale)])
    node("Add", [x, constant("action_bias", io.action_bias)], output="action")
    graph = helper.make_graph(
        nodes,
        "ghp_policy",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["batch", io.in_dim])],
        [helper.make_tensor_value_info("action", onnx.TensorProto.FLOAT, ["batch", io.act_dim])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="ghp evaluate.py export")
    model.ir_version = 8  # the IR of opset 17's release: loads in onnxruntime >= 1.12 and other runtimes of that age
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


def c_header(mlp, io, arch, int8=False):
    """policy.h (float32) or policy_int8.h: dependency-free C99, `ghp_policy(input, action)`. The int8
    header stores int8 weights with a float32 scale per output row and computes int8_forward()."""

    def literal(value):  # a C float literal that round-trips float32: 2 -> 2.0f, 1e-05 -> 1e-05f
        text = f"{float(value):.9g}"
        return (text if any(c in text for c in ".e") else text + ".0") + "f"

    def array(name, values, kind="float"):
        values = np.asarray(values, np.float32).ravel()
        flat = ", ".join(str(int(v)) for v in values) if kind == "int8_t" else ", ".join(literal(v) for v in values)
        return f"static const {kind} {name}[{values.size}] = {{{flat}}};"

    linears = [layer for layer in mlp if isinstance(layer, torch.nn.Linear)]
    widths = [io.in_dim, *arch, io.act_dim]
    flash, ram = policy_bytes(arch, policy_dims(io), int8)
    lines = [
        "/* Policy generated by a graph hyper network (ghp evaluate.py export). C99, no dependencies.",
        f" * Architecture {list(arch)}: {io.in_dim} inputs -> {io.act_dim} actions, "
        f"{archspace.num_params(arch, io.in_dim, io.act_dim)} parameters, "
        + (
            "int8 weights (float32 scales per output row and per input), int16 observation, int8 activations, int32 sums"
            if int8
            else "float32"
        )
        + f": {flash} bytes of constants, {ram} bytes of activation buffers.",
        " * Usage: float action[GHP_ACT_DIM]; ghp_policy(input, action); input as described in policy.json. */",
        "#ifndef GHP_POLICY_H",
        "#define GHP_POLICY_H",
        "#include <math.h>",
        *(["#include <stdint.h>"] if int8 else []),
        f"#define GHP_IN_DIM {io.in_dim}",
        f"#define GHP_ACT_DIM {io.act_dim}",
        "",
    ]
    if int8:
        column_scale, quantised = quantise_policy([(layer.weight.detach(), layer.bias.detach()) for layer in linears])
        lines.append(array("ghp_c0", column_scale))
        for i, (q, scale, bias) in enumerate(quantised):
            lines += [array(f"ghp_w{i}", q, "int8_t"), array(f"ghp_s{i}", scale), array(f"ghp_b{i}", bias)]
    else:
        for i, layer in enumerate(linears):
            lines += [array(f"ghp_w{i}", layer.weight.detach()), array(f"ghp_b{i}", layer.bias.detach())]
    lines += [array("ghp_action_scale", io.action_scale), array("ghp_action_bias", io.action_bias)]
    if io.goal_env:
        lines += [array("ghp_input_mean", io.input_mean), array("ghp_input_std", io.input_std)]
    if int8:
        lines += [
            "",
            "/* y = W x + b, W = q * s per row: x quantised with one scale (max|x| / levels: 32767 for the observation,",
            "   int16; 127 for hidden layers, int8), exact int32 sums */",
            "static void ghp_linear(const int8_t *w, const float *s, const float *b, const float *x, int16_t *xq, float *y,",
            "                       int n_out, int n_in, int relu, float levels) {",
            "    float maxabs = 0.0f;",
            "    for (int i = 0; i < n_in; ++i) maxabs = fabsf(x[i]) > maxabs ? fabsf(x[i]) : maxabs;",
            "    float sx = maxabs > 0.0f ? maxabs / levels : 1.0f;",
            "    long top = (long)levels;",
            "    for (int i = 0; i < n_in; ++i) {",
            "        long q = lrintf(x[i] / sx);",
            "        xq[i] = (int16_t)(q > top ? top : (q < -top ? -top : q));",
            "    }",
            "    for (int o = 0; o < n_out; ++o) {",
            "        int32_t acc = 0;",
            "        for (int i = 0; i < n_in; ++i) acc += (int32_t)w[o * n_in + i] * xq[i];",
            "        float v = (float)acc * (s[o] * sx) + b[o];",
            "        y[o] = (relu && v < 0.0f) ? 0.0f : v;",
            "    }",
            "}",
        ]
    else:
        lines += [
            "",
            "static void ghp_linear(const float *w, const float *b, const float *x, float *y, int n_out, int n_in,",
            "                       int relu) {",
            "    for (int o = 0; o < n_out; ++o) {",
            "        float acc = b[o];",
            "        for (int i = 0; i < n_in; ++i) acc += w[o * n_in + i] * x[i];",
            "        y[o] = (relu && acc < 0.0f) ? 0.0f : acc;",
            "    }",
            "}",
        ]
    # buffer a holds the input and the outputs of layers 2, 4, ...; buffer b those of layers 1, 3, ...
    lines += ["", "static void ghp_policy(const float *input, float *action) {"]
    lines.append(f"    float a[{max(widths[0::2])}], b[{max(widths[1::2])}];")
    if int8:
        lines.append(f"    int16_t xq[{max(widths[:-1])}];")
    if io.goal_env:
        clip_obs, clip_norm = literal(io.clip_obs), literal(io.clip_norm)
        lines += [
            "    for (int i = 0; i < GHP_IN_DIM; ++i) {",
            "        float v = input[i];",
            f"        v = v > {clip_obs} ? {clip_obs} : (v < -{clip_obs} ? -{clip_obs} : v);",
            "        v = (v - ghp_input_mean[i]) / ghp_input_std[i];",
            f"        a[i] = v > {clip_norm} ? {clip_norm} : (v < -{clip_norm} ? -{clip_norm} : v);",
            "    }",
        ]
    else:
        lines += ["    for (int i = 0; i < GHP_IN_DIM; ++i) a[i] = input[i];"]
    if int8:
        lines += ["    for (int i = 0; i < GHP_IN_DIM; ++i) a[i] *= ghp_c0[i]; /* the first layer's input scales */"]
    for i, layer in enumerate(linears):
        source, target = "ab"[i % 2], "ab"[(i + 1) % 2]
        weights = f"ghp_w{i}, ghp_s{i}, ghp_b{i}, {source}, xq" if int8 else f"ghp_w{i}, ghp_b{i}, {source}"
        relu = 1 if i < len(linears) - 1 else 0
        levels = f", {INPUT_LEVELS if i == 0 else 127}.0f" if int8 else ""
        lines.append(f"    ghp_linear({weights}, {target}, {layer.out_features}, {layer.in_features}, {relu}{levels});")
    final = "ab"[len(linears) % 2]
    lines += [
        f"    for (int o = 0; o < GHP_ACT_DIM; ++o) action[o] = tanhf({final}[o]) * ghp_action_scale[o] + ghp_action_bias[o];",
        "}",
        "",
        "#endif",
        "",
    ]
    return "\n".join(lines)


def c_time_per_action(header, calls):
    """Median seconds per ghp_policy() call of a C header compiled with cc -O2 on this CPU: 101
    samples of `calls` calls each, every action feeding the next input and the last one printed, so
    that no call can be optimised away.
    None where there is no C compiler."""
    if shutil.which("cc") is None:
        return None
    program = f"""#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "{os.path.abspath(header)}"
static int compare(const void *x, const void *y) {{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}}
int main(void) {{
    float input[GHP_IN_DIM], action[GHP_ACT_DIM];
    double samples[101];
    for (int i = 0; i < GHP_IN_DIM; ++i) input[i] = 0.1f * (float)(i % 7) - 0.3f;
    for (int s = 0; s < 101; ++s) {{
        struct timespec start, end;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (long c = 0; c < {calls}L; ++c) {{
            ghp_policy(input, action);
            input[c % GHP_IN_DIM] = 0.5f * input[c % GHP_IN_DIM] + 0.1f * action[0];
        }}
        clock_gettime(CLOCK_MONOTONIC, &end);
        samples[s] = ((double)(end.tv_sec - start.tv_sec) + 1e-9 * (double)(end.tv_nsec - start.tv_nsec)) / {calls}.0;
    }}
    qsort(samples, 101, sizeof(double), compare);
    printf("%.6e %g\\n", samples[50], (double)action[0]);  /* the actions are used: no call is optimised away */
    return 0;
}}
"""
    with tempfile.TemporaryDirectory() as folder:
        source, binary = os.path.join(folder, "time.c"), os.path.join(folder, "time")
        with open(source, "w") as f:
            f.write(program)
        subprocess.run(["cc", "-std=c99", "-O2", source, "-o", binary, "-lm"], check=True, capture_output=True)
        return float(subprocess.run([binary], check=True, capture_output=True, text=True).stdout.split()[0])


def export_policy(ghn, io, arch, out_dir, int8=False):
    """policy.pt (state_dict of a plain nn.Sequential, mean head only), policy.json (pre/post-processing),
    policy.onnx, policy.h and with int8 policy_int8.h. Returns the plain nn.Sequential."""
    mlp = params_to_mlp(ghn([arch])[0], out_rows=io.act_dim)  # a GHN or a fixed MLP; SAC's 2a outputs: the mean head
    os.makedirs(out_dir, exist_ok=True)
    torch.save(mlp.state_dict(), os.path.join(out_dir, "policy.pt"))
    meta = {
        "arch": list(arch),
        "in_dim": io.in_dim,
        "act_dim": io.act_dim,
        "action": "tanh(mlp(input)) * action_scale + action_bias",
        "action_scale": io.action_scale.tolist(),
        "action_bias": io.action_bias.tolist(),
        "input": "raw observation"
        if not io.goal_env
        else "concat(observation, desired_goal), clipped to +-clip_obs, minus input_mean, over input_std, "
        "clipped to +-clip_norm",
    }
    if io.goal_env:
        meta.update(
            input_mean=io.input_mean.tolist(), input_std=io.input_std.tolist(), clip_obs=io.clip_obs, clip_norm=io.clip_norm
        )
    with open(os.path.join(out_dir, "policy.json"), "w") as f:
        json.dump(meta, f, indent=2)
    write_onnx(mlp, io, os.path.join(out_dir, "policy.onnx"))
    for name, quantised in (("policy.h", False), ("policy_int8.h", True))[: 1 + int8]:
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(c_header(mlp, io, arch, quantised))
    return mlp


def plot_fig3(per_checkpoint, out_dir, score_name):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [entry["step"] for entry in per_checkpoint]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    for level in ("max", "90%", "80%"):
        rows = [entry["levels"][level] for entry in per_checkpoint]
        left.plot(steps, [r["score"] if r else np.nan for r in rows], marker="o", label=level)
        right.plot(steps, [math.log(r["params"]) if r else np.nan for r in rows], marker="o", label=level)
    left.set_xlabel("training samples")
    left.set_ylabel(score_name)
    right.set_xlabel("training samples")
    right.set_ylabel("ln(number of parameters)")
    left.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "fig3.png"), dpi=120)
    plt.close(fig)


def run_checkpoint(args, path, archs, out_dir, device, shard=""):
    """Evaluate `archs` of one checkpoint (a fixed-MLP checkpoint: its one arch) into out_dir/results*.csv (resuming);
    returns (results, checkpoint, policy network, PolicyIO)."""
    checkpoint, ghn, io = load_policy(path, args.stochastic)
    if not isinstance(ghn, GHN):  # a fixed MLP (baseline, bc_distill.py): its one architecture
        if args.archs not in ("all", ",".join(map(str, ghn.arch))):
            fail(f"{path} holds one fixed MLP, {list(ghn.arch)}: --archs can only be that one")
        archs = [ghn.arch]
    ghn = ghn.to(device).eval()
    env_id = checkpoint["env_id"]
    os.makedirs(out_dir, exist_ok=True)
    name = "results.csv"
    if shard:
        index, count = parse_shard(shard)
        archs = archs[index::count]
        name = f"results-shard{index}of{count}.csv"
    csv_path = os.path.join(out_dir, name)
    meta = {
        "fingerprint": policy_fingerprint(checkpoint),
        "env_id": env_id,
        "episodes": args.episodes,
        "seed": args.seed,
        "score": io.score_name,
        "checkpoint": os.path.abspath(path),
        **({"int8": True} if args.int8 else {}),  # float32 results have no int8 key, as before it existed
        **({"stochastic": True} if args.stochastic else {}),  # nor deterministic ones a stochastic key
        "dims": policy_dims(io),
    }
    # one evaluation per CSV: the lock is held until this function returns (a killed process releases it too)
    lock = open(csv_path + ".lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fail(f"another evaluate.py is writing {csv_path}: wait for it to finish, or use another --out-dir or --shard")
    if os.path.isfile(csv_path) and args.fresh:
        os.remove(csv_path)
    if os.path.isfile(csv_path):  # resume only what this very checkpoint, env, seed and episode count produced
        saved = read_meta(csv_path)
        if saved is None:
            fail(
                f"{csv_path} has no {os.path.basename(meta_path(csv_path))}, so its checkpoint is unknown: "
                "use --fresh to start it over, or another --out-dir"
            )
        mismatch = meta_mismatch(saved, meta)
        if mismatch:
            fail(
                f"{csv_path} holds results of other settings ({mismatch}; they came from {saved.get('checkpoint')}): "
                "use --fresh to start it over, or another --out-dir"
            )
    with open(meta_path(csv_path), "w") as f:
        json.dump(meta, f, indent=2)
    done = read_results(csv_path)
    if os.path.isfile(csv_path):
        with open(csv_path) as f:
            lines = sum(1 for _ in f)
        if lines != len(done) + 1:  # a cut last row (or rows twice): rewrite, so that new rows start on a line of their own
            write_results(csv_path, done)
    todo = [a for a in archs if a not in done]
    print(
        f"{env_id}: {len(archs)} architectures, {len(archs) - len(todo)} already in {csv_path}, "
        f"{len(todo)} to evaluate x {args.episodes} episodes on {args.num_envs} envs"
    )
    new_file = not os.path.isfile(csv_path)
    with open(csv_path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        if new_file:
            writer.writeheader()

        def on_result(arch, scores):
            row = {
                "arch": ",".join(map(str, arch)),
                "depth": len(arch),
                "params": archspace.num_params(arch, io.in_dim, io.act_dim),
                "d_lm": archspace.d_lm(arch, io.in_dim, io.act_dim),
                "episodes": len(scores),
                "score": float(np.mean(scores)),
                "std": float(np.std(scores)),
                "per_episode": ";".join(f"{s:.4f}" for s in scores),
            }
            writer.writerow(row)
            f.flush()

        if todo:
            steps, seconds = evaluate_archs(
                ghn, io, env_id, todo, args.episodes, args.num_envs, args.seed, args.gen_batch, device, on_result, args.int8
            )
            print(f"{steps} env steps in {seconds:.1f} s: {steps / seconds:.0f} env steps/s")
    results = read_results(csv_path)
    lock.close()  # releases the CSV to other evaluations
    return {a: results[a] for a in archs if a in results}, checkpoint, ghn, io


def parse_shard(text):
    try:
        index, count = (int(part) for part in text.split("/"))
        assert count >= 1 and 0 <= index < count
    except (ValueError, AssertionError):
        fail(f"bad --shard {text!r}: expected i/n with 0 <= i < n, e.g. 0/4")
    return index, count


def set_up_device(args):
    """Threads and device of a command that runs policies."""
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.cuda and torch.cuda.is_available() else "cpu")
    if args.cuda and device.type == "cpu":
        print("--cuda: no CUDA device is available, running on the CPU", file=sys.stderr)
    return device


def check_evaluation(args):
    if args.episodes < 1 or args.num_envs < 1 or args.gen_batch < 1:
        fail("--episodes, --num-envs and --gen-batch must be at least 1")


def print_report(report, out_dir, score_name):
    for level, row in report["levels"].items():
        print(
            f"{level:>4s} arch: "
            + (
                "undefined (best score <= 0)"
                if row is None
                else f"{row['arch']} params={row['params']} D_LM={row['d_lm']} {score_name}={row['score']:.2f}"
            )
        )
    t2 = report["table2"]
    if t2["cutoffs_used"]:
        print(
            f"Table II over {t2['cutoffs_used']} cutoffs: "
            f"max D_LM {t2['max_dlm_ratio']:.3f}, max size {t2['max_size_ratio']:.3f}"
        )
    print(f"report: {out_dir}/report.md, plots: {out_dir}/fig4_params.png, {out_dir}/fig4_dlm.png")


def command_run(args):
    check_evaluation(args)
    if not args.checkpoint:
        fail("run needs --checkpoint PATH")
    device = set_up_device(args)
    archs = select_archs(args.archs, args.seed, archspace.all_archs())
    out_dir = args.out_dir or default_out_dir(args.checkpoint, args.int8, args.stochastic)
    results, checkpoint, ghn, io = run_checkpoint(args, args.checkpoint, archs, out_dir, device, shard=args.shard)
    if args.shard:
        print(
            "shard written; join the shards with: "
            f"python evaluate.py merge --csvs {out_dir}/results-shard*.csv --out-dir {out_dir}"
        )
        return
    print_report(
        make_report(
            results, out_dir, checkpoint["env_id"], io.score_name, args.cutoffs, args.seed, args.checkpoint, policy_dims(io)
        ),
        out_dir,
        io.score_name,
    )


def command_curves(args):
    check_evaluation(args)
    if len(args.checkpoints) < 2:
        fail("curves needs --checkpoints with at least two checkpoints of one run")
    device = set_up_device(args)
    archs = select_archs(args.archs, args.seed, archspace.all_archs())
    per_checkpoint = []
    for path in args.checkpoints:
        out_dir = (
            os.path.join(args.out_dir, os.path.splitext(os.path.basename(path))[0])
            if args.out_dir
            else default_out_dir(path, args.int8, args.stochastic)
        )
        results, checkpoint, ghn, io = run_checkpoint(args, path, archs, out_dir, device)
        report = make_report(
            results, out_dir, checkpoint["env_id"], io.score_name, args.cutoffs, args.seed, path, policy_dims(io)
        )
        print_report(report, out_dir, io.score_name)
        per_checkpoint.append(
            {"step": checkpoint.get("global_step", checkpoint.get("env_steps", 0)), "levels": report["levels"]}
        )
    fig_dir = args.out_dir or os.path.dirname(os.path.abspath(args.checkpoints[-1]))
    plot_fig3(sorted(per_checkpoint, key=lambda e: e["step"]), fig_dir, io.score_name)
    print(f"Fig. 3 over {len(per_checkpoint)} checkpoints: {fig_dir}/fig3.png")


def command_merge(args):
    if not args.csvs or not args.out_dir:
        fail("merge needs --csvs A.csv B.csv ... and --out-dir for the joined results.csv and report")
    merged, meta = {}, None
    for path in args.csvs:
        if not os.path.isfile(path):
            fail(f"no CSV file {path!r}")
        shard_meta = read_meta(path)
        if shard_meta is None:
            fail(f"{path} has no {os.path.basename(meta_path(path))}: cannot check that the shards come from one checkpoint")
        mismatch = meta_mismatch(shard_meta, meta) if meta is not None else ""
        if mismatch:
            fail(f"{path} does not match {args.csvs[0]}: {mismatch}")
        meta = meta or shard_meta
        merged.update(read_results(path))
    os.makedirs(args.out_dir, exist_ok=True)
    write_results(os.path.join(args.out_dir, "results.csv"), merged)
    with open(meta_path(os.path.join(args.out_dir, "results.csv")), "w") as f:
        json.dump(dict(meta, merged_from=[os.path.abspath(path) for path in args.csvs]), f, indent=2)
    source, dims = " + ".join(args.csvs), meta.get("dims")  # CSVs written before the dims were recorded: no flash table
    report = make_report(merged, args.out_dir, meta["env_id"], meta["score"], args.cutoffs, args.seed, source, dims)
    print(f"merged {len(merged)} architectures into {args.out_dir}/results.csv; report in {args.out_dir}/report.md")
    print_report(report, args.out_dir, meta["score"])


def command_budget(args):
    """Eq. 5 from the checkpoint's dims under a parameter or flash-byte budget; measured scores from an
    earlier evaluation, if any."""
    if (args.params > 0) == (args.bytes > 0):
        fail(f"budget needs one positive budget, --params N or --bytes N (got --params {args.params} --bytes {args.bytes})")
    if args.int8 and not args.bytes:
        fail("--int8 counts bytes: give the budget with --bytes")
    checkpoint, ghn, io = load_policy(args.checkpoint)
    all_archs = archspace.all_archs()
    if args.bytes:
        budget, unit, flag = args.bytes, f"bytes of flash ({'int8' if args.int8 else 'float32'})", "--bytes"

        def cost(arch, in_dim, out_dim):
            return policy_bytes(arch, policy_dims(io), args.int8)[0]
    else:
        budget, unit, flag, cost = args.params, "parameters", "--params", archspace.num_params
    try:
        pick = archspace.select_under_budget(all_archs, budget, io.in_dim, io.act_dim, cost=cost, unit=unit)
    except ValueError as error:
        fail(f"{flag} {budget}: {error}")
    csv_path = os.path.join(args.out_dir or default_out_dir(args.checkpoint), "results.csv")
    results, saved = read_results(csv_path), read_meta(csv_path)
    flash, ram = policy_bytes(pick, policy_dims(io), args.int8)
    print(
        f"budget {budget} {unit}: Eq. 5 picks {list(pick)} with {archspace.num_params(pick, io.in_dim, io.act_dim)} "
        f"parameters, D_LM {archspace.d_lm(pick, io.in_dim, io.act_dim)}, flash {flash} bytes, RAM {ram} bytes"
    )
    if results and (saved is None or saved.get("fingerprint") != policy_fingerprint(checkpoint)):
        print(f"  (the results in {csv_path} are not of this checkpoint: not used)")
        results = {}
    if pick in results:
        print(f"  measured {io.score_name} of {list(pick)}: {results[pick]['score']:.2f}")
    fitting = [r for r in results.values() if cost(r["arch"], io.in_dim, io.act_dim) <= budget]
    if fitting:
        best = best_evaluated(fitting)
        print(
            f"  best evaluated under the budget ({len(fitting)} archs in {csv_path}): {list(best['arch'])} "
            f"with {best['params']} parameters, {io.score_name} {best['score']:.2f}"
        )
    elif not results:
        print(f"  (no evaluation in {csv_path} to compare with)")


def one_arch(spec):
    if not spec:
        fail("--arch is needed: the one architecture to use, e.g. --arch 16,16")
    archs = select_archs(spec, 0, archspace.all_archs(), flag="--arch")
    if len(archs) != 1 or ";" in spec:
        fail(f"--arch takes one architecture, got {spec!r}")
    return archs[0]


def command_export(args):
    checkpoint, ghn, io = load_policy(args.checkpoint)
    fixed = not isinstance(ghn, GHN)
    if fixed and args.arch and one_arch(args.arch) != ghn.arch:
        fail(f"{args.checkpoint} holds one fixed MLP, {list(ghn.arch)}: --arch can only be that one")
    arch = ghn.arch if fixed else one_arch(args.arch)
    out_dir = args.out_dir or os.path.join(
        os.path.dirname(os.path.abspath(args.checkpoint)), f"export_{'-'.join(map(str, arch))}"
    )
    with torch.no_grad():
        export_policy(ghn, io, arch, out_dir, args.int8)
    files = "policy.pt, policy.json, policy.onnx, policy.h" + (", policy_int8.h" if args.int8 else "")
    params = archspace.num_params(arch, io.in_dim, io.act_dim)
    print(f"exported {list(arch)} ({params} parameters) to {out_dir}: {files}")
    calls = max(1, 2_000_000 // params)  # about 2 ms of arithmetic per timing sample
    for name, int8 in (("float32", False), ("int8", True)):
        flash, ram = policy_bytes(arch, policy_dims(io), int8)
        scales = ", row and input scales" if int8 else ""
        line = f"  {name:7s}: flash {flash} bytes (weights, biases{scales}, constants), RAM {ram} bytes"
        if args.int8 or not int8:  # a header written now: its time per action
            seconds = c_time_per_action(os.path.join(out_dir, "policy_int8.h" if int8 else "policy.h"), calls)
            line += f", {seconds * 1e6:.3f} us per action (C, cc -O2, this CPU)" if seconds is not None else ""
        print(line)
    if shutil.which("cc") is None:
        print("  (no C compiler here: no time per action)")


@torch.no_grad()
def command_video(args):
    checkpoint, ghn, io = load_policy(args.checkpoint)
    arch = one_arch(args.arch)
    if args.episodes < 1 or args.size < 16 or args.fps < 1:
        fail("--episodes and --fps must be at least 1, --size at least 16")
    try:
        import imageio.v2 as imageio
    except ImportError:
        fail("writing MP4 needs imageio and imageio-ffmpeg: pip install -r requirements.txt")
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(args.checkpoint)), f"video_{'-'.join(map(str, arch))}.mp4")
    env = make_env(checkpoint["env_id"], render_mode="rgb_array", width=args.size, height=args.size)
    params, frames, scores = ghn([arch])[0], [], []
    for episode in range(args.episodes):
        observation, _ = env.reset(seed=args.seed + episode)
        try:
            frames.append(env.render())
        except Exception as error:  # no OpenGL context: mujoco and PyOpenGL raise several kinds
            gl = os.environ.get("MUJOCO_GL", "")
            fail(
                f"cannot render with MUJOCO_GL={gl or '(unset: glfw, needs a display)'} ({type(error).__name__}): "
                "on a headless machine install OSMesa (Debian/Ubuntu: apt-get install libosmesa6) "
                "and run with MUJOCO_GL=osmesa, or EGL (a GPU driver's libEGL) with MUJOCO_GL=egl"
            )
        total, done = 0.0, False
        while not done:
            action = io.actions(mlp_forward(params, io.inputs([observation] if io.goal_env else observation[None])))[0]
            observation, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            done = terminated or truncated
            frames.append(env.render())
        scores.append(float(info["is_success"]) if io.goal_env else total)
    env.close()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    imageio.mimwrite(out, frames, fps=args.fps, macro_block_size=1)
    print(
        f"wrote {out}: {len(frames)} frames of {list(arch)}, {io.score_name} per episode "
        + ", ".join(f"{score:.2f}" for score in scores)
    )


if __name__ == "__main__":
    args = tyro.extras.subcommand_cli_from_dict(COMMANDS, description=__doc__.split("\n\n")[0])
    {
        Run: command_run,
        Merge: command_merge,
        Budget: command_budget,
        Export: command_export,
        Curves: command_curves,
        Video: command_video,
    }[type(args)](args)
