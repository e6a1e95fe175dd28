"""Evaluate the policies a trained GHN generates, pick small ones, report and plot (Sec. III-D, IV).

    python evaluate.py run --checkpoint runs/RUN/checkpoint.pt                # all 4680 archs, 5 episodes each
    python evaluate.py run --checkpoint CKPT --archs random:200 --episodes 3  # a seeded random sample
    python evaluate.py run --checkpoint CKPT --archs "16,8,32,8;64,64"        # chosen archs
    python evaluate.py run --checkpoint CKPT --shard 0/4                      # every 4th arch from offset 0
    python evaluate.py merge --csvs a.csv b.csv c.csv d.csv --out-dir DIR     # join shards, then report
    python evaluate.py budget --checkpoint CKPT --params 2000                 # Eq. 5 pick under 2000 params
    python evaluate.py budget --checkpoint CKPT --bytes 32768 --int8          # ... under 32 KB of int8 flash
    python evaluate.py run --checkpoint CKPT --archs "16,16;4,4" --int8       # play the int8 policies
    python evaluate.py run --checkpoint CKPT --archs 256,256 --stochastic     # SAC: sample actions, as in training
    python evaluate.py curves --checkpoints runs/RUN/ghn_*.pt --archs random:100   # Fig. 3 over training

Policies act with the training scripts' own transforms (export.PolicyIO): deterministically, or with
--stochastic a SAC policy's sampled actions. Every arch plays the same episode seeds (seed + episode), and
with --stochastic the same noise. Rows go to results.csv as each arch finishes, and a rerun skips what is
done; beside each CSV a .meta.json names what produced it (a fingerprint of the policy weights, env, seed,
episodes, int8, stochastic), and a rerun or merge that does not match it stops with an error (--fresh starts
the file over). Exporting an arch (ONNX, C headers) and recording its video: export.py.
"""

import csv
import fcntl
import functools
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from io import StringIO

import numpy as np
import torch
import tyro

import archspace
from export import (
    fail,
    int8_forward,
    load_policy,
    make_env,
    policy_dims,
    policy_fingerprint,
    quantise_policy,
    write_files,
    write_text,
)
from ghn import GHN, mlp_forward

# score: a SAC policy's return, or a Fetch policy's success at the final step; any_step_score: a Fetch policy's
# success at any step (the authors' measure, docs/method.md D2; empty for SAC and in CSVs older than it)
CSV_FIELDS = ["arch", "depth", "params", "d_lm", "episodes", "score", "std", "per_episode", "any_step_score"]
SPACE = set(archspace.all_archs())  # the archs a results row may hold


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


COMMANDS = {"run": Run, "merge": Merge, "budget": Budget, "curves": Curves}


def meta_path(csv_path):
    """results.csv -> results.meta.json: what the rows of that CSV were evaluated from."""
    return os.path.splitext(csv_path)[0] + ".meta.json"


RESULT_KEYS = ("fingerprint", "env_id", "episodes", "seed", "int8", "stochastic")
"""What must agree for results to be reused or merged."""


def read_meta(csv_path):
    """The .meta.json beside a results CSV (None if there is none); a one-line error if it is damaged."""
    try:
        with open(meta_path(csv_path), "rb") as f:
            meta = json.loads(f.read())
    except FileNotFoundError:
        return None
    except ValueError as error:  # empty, cut, not JSON, not UTF-8
        fail(f"{meta_path(csv_path)} is damaged ({error}): use --fresh to start {csv_path} over, or another --out-dir")
    return meta if isinstance(meta, dict) else fail(f"{meta_path(csv_path)} is damaged (not a JSON object): use --fresh")


def write_json(path, value):
    """A JSON file written whole (write_files)."""
    write_files(os.path.dirname(path), [(os.path.basename(path), write_text(json.dumps(value, indent=2)))])


def lock(csv_path):
    """The lock of a results CSV, held until the returned file is closed (or the process ends): one writer at a time."""
    held = open(csv_path + ".lock", "w")
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fail(f"another evaluate.py is writing {csv_path}: wait for it to finish, or use another --out-dir or --shard")
    return held


def meta_mismatch(meta, expected):
    """'' if `meta` agrees with `expected` on RESULT_KEYS, else what differs, for an error message."""
    differ = [f"{key} {meta.get(key)!r} vs {expected.get(key)!r}" for key in RESULT_KEYS if meta.get(key) != expected.get(key)]
    return ", ".join(differ)


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
            widths = f"1..{archspace.MAX_DEPTH} layers of widths {list(archspace.WIDTHS)}"
            fail(f"architecture {list(arch)} is outside the space: {widths}")
        if arch in archs:
            print(f"evaluate.py: note: {flag} names {list(arch)} more than once; it is evaluated once", file=sys.stderr)
        else:
            archs.append(arch)
    return archs


def parse_row(row, dims=None):
    """A results CSV row as a dict, or None if it is damaged: a missing or extra field, a value that does not parse or
    is not finite, an arch outside the space, params or D_LM that its arch does not give (with the policy's `dims`,
    (in_dim, act_dim, ...)), or per-episode scores that are not `episodes` many or whose mean or std is not the score or
    std (each is written rounded to 4 decimals, which moves their mean and std by at most 5e-5)."""
    try:
        if None in row or None in row.values():  # csv.DictReader's marks of extra and missing fields
            return None
        per_episode = [float(value) for value in row["per_episode"].split(";")]
        parsed = dict(arch=archspace.parse_arch(row["arch"]), params=int(row["params"]), d_lm=int(row["d_lm"]))
        parsed |= dict(episodes=int(row["episodes"]), score=float(row["score"]), std=float(row["std"]))
        any_step = float(row["any_step_score"]) if row.get("any_step_score") else None
        parsed |= dict(per_episode=row["per_episode"], any_step_score=any_step)
    except (KeyError, ValueError):
        return None
    values = [parsed["score"], parsed["std"], *per_episode, *([] if any_step is None else [any_step])]
    if not np.all(np.isfinite(values)) or parsed["arch"] not in SPACE or len(per_episode) != parsed["episodes"]:
        return None
    size = [archspace.num_params(parsed["arch"], *dims[:2]), archspace.d_lm(parsed["arch"], *dims[:2])] if dims else None
    if size and [parsed["params"], parsed["d_lm"]] != size:
        return None
    rounding = 5e-5 + 1e-12 * (1.0 + max(abs(value) for value in per_episode))
    if abs(np.mean(per_episode) - parsed["score"]) > rounding or abs(np.std(per_episode) - parsed["std"]) > rounding:
        return None
    return parsed


def read_results(path):
    """{arch: row} of a results CSV. A damaged line (cut by a kill or a full disk, glued to the next, a byte that is not
    UTF-8, a cut header, a changed value: parse_row) and an arch with two differing rows are left out with a note, so
    that they are evaluated again."""
    if not os.path.isfile(path):
        return {}
    dims = (read_meta(path) or {}).get("dims")  # the policy's dimensions, which params and D_LM follow from
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        rows = list(csv.reader(f))
    results, damaged, differing = {}, [], set()
    width = len(CSV_FIELDS) - (rows[:1] == [CSV_FIELDS[:-1]])  # a CSV from before any_step_score: one field fewer
    for number, row in enumerate(rows, start=1):
        header = row in (CSV_FIELDS, CSV_FIELDS[:-1])
        parsed = parse_row(dict(zip(CSV_FIELDS, row)), dims) if len(row) == width and not header else None
        if parsed is None and not header:
            damaged.append(number)
        elif parsed is not None and results.setdefault(parsed["arch"], parsed) != parsed:
            differing.add(parsed["arch"])
    if damaged or differing:
        left = f"damaged line(s) {damaged}" + (f", archs with differing rows {sorted(differing)}" if differing else "")
        print(f"evaluate.py: note: {path}: {left} left out, to be evaluated again", file=sys.stderr)
    return {arch: row for arch, row in results.items() if arch not in differing}


def write_results(path, results):
    """A results CSV of `results`, in the space's order, written whole (write_files)."""
    text = StringIO()
    writer = csv.DictWriter(text, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for arch in sorted(results, key=archspace.space_order):
        writer.writerow(dict(results[arch], arch=",".join(map(str, arch)), depth=len(arch)))
    write_files(os.path.dirname(path), [(os.path.basename(path), write_text(text.getvalue()))])


@torch.no_grad()
def evaluate_archs(ghn, io, env_id, archs, episodes, num_envs, seed, gen_batch, device, on_result, int8=False):
    """Play `episodes` episodes of every arch, num_envs episodes at a time (with int8, each arch's int8
    policy: quantise_policy, int8_forward). Actions are deterministic, or with io.stochastic sampled
    with noise from a generator seeded by the episode's seed: the same noise for an arch's episode
    whatever num_envs, shard or other archs.

    Jobs are (arch, episode) in arch-major order, so the envs mostly run a few archs at once and one
    policy forward serves all envs of an arch. on_result(arch, scores, reached) is called when an arch is done
    (reached: per episode whether a Fetch goal was reached at any step).
    Returns (env steps, seconds)."""
    envs = [make_env(env_id) for _ in range(num_envs)]
    jobs = [(a, e) for a in range(len(archs)) for e in range(episodes)]
    next_job, slot_job = 0, [None] * num_envs
    slot_obs, slot_noise = [None] * num_envs, [None] * num_envs
    slot_return, slot_reached = np.zeros(num_envs), np.zeros(num_envs)
    params, scores = {}, {}
    steps, start, last_print, tty = 0, time.time(), 0.0, sys.stderr.isatty()

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
        slot_return[slot] = slot_reached[slot] = 0.0
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
            slot_reached[s] = max(slot_reached[s], float(info.get("is_success", 0.0)))
            steps += 1
            if terminated or truncated:
                arch_index, episode = slot_job[s]
                score = float(info["is_success"]) if io.goal_env else slot_return[s]
                scores.setdefault(arch_index, {})[episode] = (score, slot_reached[s])
                if len(scores[arch_index]) == episodes:
                    on_result(archs[arch_index], *zip(*[scores[arch_index][e] for e in range(episodes)]))
                    del scores[arch_index], params[arch_index]
                start_job(s)
        now = time.time()
        finished = all(job is None for job in slot_job)
        if now - last_print > (2 if tty else 30) or finished:  # progress bar, or a line per 30 s in a log
            last_print = now
            done = next_job - sum(job is not None for job in slot_job)
            rate = steps / max(now - start, 1e-9)
            eta = (now - start) / max(done, 1) * (len(jobs) - done)
            line = f"{done}/{len(jobs)} episodes, {rate:.0f} env steps/s, ETA {eta / 60:.1f} min"
            print(f"\r{line}   " if tty else line, end="" if tty and not finished else "\n", file=sys.stderr, flush=True)
    if tty:
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
    rules = (("dlm", "d_lm"), ("size", "size"))
    means = {f"max_{key}_ratio": float(np.mean(ratios[rule])) if used else None for key, rule in rules}
    return {"cutoffs": num_cutoffs, "cutoffs_used": used, **means}


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
        reaching = {f"reach_{int(f * 100)}": int(np.sum(scores >= f * best)) if best > 0 else None for f in (0.9, 0.8)}
        stats = {stat: float(getattr(np, stat)(scores)) for stat in ("mean", "median", "min", "max")}
        summary[name] = {"archs": len(scores), **stats, **reaching}
    return summary


def make_report(results, out_dir, env_id, score_name, num_cutoffs, seed, source, dims=None):
    """report.md, report.json and the Fig. 4 plots from evaluated results; with the policies' dims
    (policy_dims) also which archs fit the flash budgets of MEMORY_BUDGETS."""
    if not results:
        fail(f"no evaluated architectures for a report in {out_dir}")
    levels = {}
    for name, fraction in (("max", 1.0), ("90%", 0.9), ("80%", 0.8)):
        row = smallest_reaching(results, fraction)
        keys = ("params", "d_lm", "score", "std", "any_step_score")  # (any_step_score: Fetch rows only)
        levels[name] = row and {key: row[key] for key in keys if row.get(key) is not None} | {"arch": list(row["arch"])}
    analysis, spread, best = table2(results, num_cutoffs, seed), landscape(results), max(r["score"] for r in results.values())
    ratios = {"max size": analysis["max_size_ratio"], "max D_LM (Eq. 5)": analysis["max_dlm_ratio"]}
    report = dict(env_id=env_id, source=source, score=score_name, archs_evaluated=len(results), best_score=best, levels=levels)
    report |= dict(table2=analysis, landscape=spread, memory=None if dims is None else memory_table(results, dims))
    write_json(os.path.join(out_dir, "report.json"), report)
    lines = [
        f"# GHP evaluation: {env_id}",
        "",
        f"{len(results)} architectures from `{source}`; score = {score_name}.",
        "",
        "| level | architecture | params | D_LM | score |",
        "|---|---|---|---|---|",
    ]
    for name, row in levels.items():
        cells = "(undefined: best score <= 0) | | |" if row is None else f"{row['arch']} | {row['params']} | {row['d_lm']} |"
        lines.append(f"| {name} | {cells} " + ("|" if row is None else f"{row['score']:.2f} ± {row['std']:.2f} |"))
    any_step = {name: row["any_step_score"] for name, row in levels.items() if row and "any_step_score" in row}
    if any_step:  # Fetch: the picks by final-step success, and their success at any step
        scores = ", ".join(f"{name} {value:.2f}" for name, value in any_step.items())
        lines += ["", f"The picks use the success at the final step; at any step (the authors' measure): {scores}."]
    lines += [
        "",
        f"Table II ({analysis['cutoffs_used']} of {analysis['cutoffs']} random cutoffs in [1000, 1e6] usable):",
        "",
        "| pick under the cutoff | score / best score under the cutoff |",
        "|---|---|",
        *(f"| {rule} | {'None' if ratio is None else f'{ratio:.3f}'} |" for rule, ratio in ratios.items()),
        "",
        "Scores over the evaluated architectures, by number of hidden layers:",
        "",
        "| hidden layers | archs | mean | median | min | max | reach 90% of the best | reach 80% |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in spread.items():
        stats = " | ".join(f"{row[stat]:.2f}" for stat in ("mean", "median", "min", "max"))
        lines.append(f"| {name} | {row['archs']} | {stats} | {row['reach_90']} | {row['reach_80']} |")
    if report["memory"]:
        lines += [
            "",
            "Memory budgets over the exported C policy's constants (weights, biases, int8 row and input scales, input "
            "normaliser and action constants; `export.py` prints them with the RAM its buffers need): 192 KB is a "
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
            cells += [best, f"{row['best_evaluated_score']:.2f}", row["best_evaluated_flash"]] if best else ["", "", ""]
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
    write_files(out_dir, [("report.md", write_text("\n".join(lines))), *plot_fig4(results, levels, score_name)])
    return report


def pyplot():
    """matplotlib.pyplot without a display (imported only where a plot is made: it takes ~0.5 s)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_fig4(results, levels, score_name):
    """Fig. 4's two plots, as writers for write_files: (fig4_params.png, ...), (fig4_dlm.png, ...)."""
    plt = pyplot()
    rows, writers = list(results.values()), []
    for key, label, name in (("params", "ln(number of parameters)", "fig4_params.png"), ("d_lm", "ln(D_LM)", "fig4_dlm.png")):
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter([math.log(r[key]) for r in rows], [r["score"] for r in rows], s=6, alpha=0.5, label="architecture")
        for level, marker, size, color in (("80%", "D", 140, "orange"), ("90%", "*", 90, "red")):  # the star on top
            row = levels.get(level)
            if row is not None:
                label = f"{level} arch {row['arch']}"
                ax.scatter([math.log(row[key])], [row["score"]], s=size, marker=marker, color=color, label=label, zorder=3)
        ax.set_xlabel(label)
        ax.set_ylabel(score_name)
        ax.legend(fontsize=7)
        fig.tight_layout()
        writers.append((name, functools.partial(save_figure, fig)))
    return writers


def save_figure(fig, path):
    """A matplotlib figure as a PNG file (whatever the file's name), then closed."""
    fig.savefig(path, dpi=120, format="png")
    pyplot().close(fig)


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

            def flash(arch, *_):  # (bytes of flash, the cost Eq. 5 is given)
                return archspace.policy_bytes(arch, dims, int8)[0]

            fitting = [arch for arch in archspace.all_archs() if flash(arch) <= budget]
            pick = archspace.select_under_budget(fitting, budget, in_dim, act_dim, cost=flash) if fitting else None
            evaluated = [row for row in results.values() if flash(row["arch"]) <= budget]
            best = best_evaluated(evaluated)
            row = dict(budget=budget_name, weights="int8" if int8 else "float32", archs_fitting=len(fitting))
            row |= dict(eq5_pick=pick and list(pick), eq5_pick_score=results[pick]["score"] if pick in results else None)
            row |= dict(best_evaluated=best and list(best["arch"]), best_evaluated_score=best and best["score"])
            rows.append(row | dict(best_evaluated_flash=best and flash(best["arch"])))
    return rows


def plot_fig3(per_checkpoint, out_dir, score_name):
    """Fig. 3: max/90%/80% score and ln(params) per checkpoint."""
    plt = pyplot()
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
    write_files(out_dir, [("fig3.png", functools.partial(save_figure, fig))])


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
    index, count = parse_shard(shard) if shard else (0, 1)  # --shard i/n: every n-th arch from offset i
    archs, name = archs[index::count], f"results-shard{index}of{count}.csv" if shard else "results.csv"
    csv_path = os.path.join(out_dir, name)
    meta = dict(fingerprint=policy_fingerprint(checkpoint), env_id=env_id, episodes=args.episodes, seed=args.seed)
    meta |= dict(score=io.score_name, checkpoint=os.path.abspath(path), dims=(dims := policy_dims(io)))
    meta |= {"int8": True} if args.int8 else {}  # float32 results have no int8 key, as before it existed
    meta |= {"stochastic": True} if args.stochastic else {}  # nor deterministic ones a stochastic key
    spec = args.archs if isinstance(ghn, GHN) else ",".join(map(str, ghn.arch))  # what merge checks: are all there
    meta |= dict(shard=shard, archs=spec) if shard else dict(archs=spec)
    held = lock(csv_path)  # one evaluation per CSV, until this function returns (a killed process releases it too)
    if os.path.isfile(csv_path) and args.fresh:
        os.remove(csv_path)
    if os.path.isfile(csv_path):  # resume only what this very checkpoint, env, seed and episode count produced
        saved, fresh = read_meta(csv_path), "use --fresh to start it over, or another --out-dir"
        if saved is None:
            fail(f"{csv_path} has no {os.path.basename(meta_path(csv_path))}, so its checkpoint is unknown: {fresh}")
        if mismatch := meta_mismatch(saved, meta):
            fail(f"{csv_path} holds results of other settings ({mismatch}; they came from {saved.get('checkpoint')}): {fresh}")
    write_json(meta_path(csv_path), meta)
    done = read_results(csv_path)
    if os.path.isfile(csv_path):
        write_results(csv_path, done)  # without damaged rows, so that new rows start on a line of their own
    todo = [a for a in archs if a not in done]
    counts = f"{len(archs)} architectures, {len(archs) - len(todo)} already in {csv_path}, {len(todo)} to evaluate"
    print(f"{env_id}: {counts} x {args.episodes} episodes on {args.num_envs} envs")
    new_file = not os.path.isfile(csv_path)
    try:
        with open(csv_path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            if new_file:
                writer.writeheader()

            def on_result(arch, scores, reached):
                row = dict(arch=",".join(map(str, arch)), depth=len(arch), episodes=len(scores), score=float(np.mean(scores)))
                row |= dict(params=archspace.num_params(arch, *dims[:2]), d_lm=archspace.d_lm(arch, *dims[:2]))
                row |= dict(std=float(np.std(scores)), per_episode=";".join(f"{s:.4f}" for s in scores))
                writer.writerow(row | dict(any_step_score=float(np.mean(reached)) if io.goal_env else ""))
                f.flush()

            if todo:
                steps, seconds = evaluate_archs(ghn, io, env_id, todo, args.episodes, args.num_envs, args.seed,
                                                args.gen_batch, device, on_result, args.int8)  # fmt: skip
                print(f"{steps} env steps in {seconds:.1f} s: {steps / seconds:.0f} env steps/s")
    except OSError as error:  # a full disk: the rows written so far stay (a cut last one is left out when read)
        fail(f"cannot write {csv_path}: {error.strerror or error}")
    results = read_results(csv_path)
    held.close()  # releases the CSV to other evaluations
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
    if args.episodes < 1 or args.num_envs < 1 or args.gen_batch < 1 or args.seed < 0 or args.cutoffs < 0:
        fail("--episodes, --num-envs and --gen-batch must be at least 1, --seed and --cutoffs at least 0")


def print_report(report, out_dir, score_name):
    for level, row in report["levels"].items():
        pick = "undefined (best score <= 0)" if row is None else f"{row['arch']} params={row['params']} D_LM={row['d_lm']}"
        print(f"{level:>4s} arch: {pick}" + ("" if row is None else f" {score_name}={row['score']:.2f}"))
    t2 = report["table2"]
    if t2["cutoffs_used"]:
        ratios = f"max D_LM {t2['max_dlm_ratio']:.3f}, max size {t2['max_size_ratio']:.3f}"
        print(f"Table II over {t2['cutoffs_used']} cutoffs: {ratios}")
    print(f"report: {out_dir}/report.md, plots: {out_dir}/fig4_params.png, {out_dir}/fig4_dlm.png")


def report_checkpoint(args, path, results, checkpoint, io, out_dir):
    """make_report of one checkpoint's results, printed."""
    dims = policy_dims(io)
    report = make_report(results, out_dir, checkpoint["env_id"], io.score_name, args.cutoffs, args.seed, path, dims)
    print_report(report, out_dir, io.score_name)
    return report


def command_run(args):
    check_evaluation(args)
    if not args.checkpoint:
        fail("run needs --checkpoint PATH")
    device = set_up_device(args)
    archs = select_archs(args.archs, args.seed, archspace.all_archs())
    out_dir = args.out_dir or default_out_dir(args.checkpoint, args.int8, args.stochastic)
    results, checkpoint, ghn, io = run_checkpoint(args, args.checkpoint, archs, out_dir, device, shard=args.shard)
    if args.shard:
        join = f"python evaluate.py merge --csvs {out_dir}/results-shard*.csv --out-dir {out_dir}"
        print(f"shard written; join the shards: {join}")
    else:
        report_checkpoint(args, args.checkpoint, results, checkpoint, io, out_dir)


def command_curves(args):
    check_evaluation(args)
    if len(args.checkpoints) < 2:
        fail("curves needs --checkpoints with at least two checkpoints of one run")
    device = set_up_device(args)
    archs = select_archs(args.archs, args.seed, archspace.all_archs())
    per_checkpoint = []
    for path in args.checkpoints:
        name = os.path.splitext(os.path.basename(path))[0]
        out_dir = os.path.join(args.out_dir, name) if args.out_dir else default_out_dir(path, args.int8, args.stochastic)
        results, checkpoint, ghn, io = run_checkpoint(args, path, archs, out_dir, device)
        report = report_checkpoint(args, path, results, checkpoint, io, out_dir)
        step = checkpoint.get("global_step", checkpoint.get("env_steps", 0))
        per_checkpoint.append({"step": step, "levels": report["levels"]})
    fig_dir = args.out_dir or os.path.dirname(os.path.abspath(args.checkpoints[-1]))
    plot_fig3(sorted(per_checkpoint, key=lambda e: e["step"]), fig_dir, io.score_name)
    print(f"Fig. 3 over {len(per_checkpoint)} checkpoints: {fig_dir}/fig3.png")


def command_merge(args):
    if args.seed < 0 or args.cutoffs < 0:
        fail(f"bad --seed {args.seed} or --cutoffs {args.cutoffs}: allowed 0 or more")
    if not args.csvs or not args.out_dir:
        fail("merge needs --csvs A.csv B.csv ... and --out-dir for the joined results.csv and report")
    merged, meta, held = {}, None, []
    for path in args.csvs:
        if not os.path.isfile(path):
            fail(f"no CSV file {path!r}")
        held.append(lock(path))  # an evaluation still writing it fails here; none can start meanwhile
        shard_meta = read_meta(path)
        if shard_meta is None:
            fail(f"{path} has no {os.path.basename(meta_path(path))}: cannot check that the shards come from one checkpoint")
        mismatch = meta_mismatch(shard_meta, meta) if meta is not None else ""
        if meta is not None and shard_meta.get("archs") != meta.get("archs"):
            mismatch = ", ".join(filter(None, [mismatch, f"archs {shard_meta.get('archs')!r} vs {meta.get('archs')!r}"]))
        if mismatch:
            fail(f"{path} does not match {args.csvs[0]}: {mismatch}")
        meta, rows = meta or shard_meta, read_results(path)
        if "archs" in shard_meta:  # (recorded since issue 49) every arch of the evaluation's share must be there
            expected = select_archs(shard_meta["archs"], shard_meta["seed"], archspace.all_archs())
            index, count = parse_shard(shard_meta["shard"]) if shard_meta.get("shard") else (0, 1)
            missing = [arch for arch in expected[index::count] if arch not in rows]
            if missing:
                share = f"{len(missing)} of its {len(expected[index::count])} archs, e.g. {list(missing[0])}"
                fail(f"{path} lacks {share} (its evaluation stopped early?): run it again with the same flags to finish it")
        merged.update(rows)
    shards = {m.get("shard") for m in map(read_meta, args.csvs)} - {None}
    counts = {int(shard.split("/")[1]) for shard in shards}
    if shards and (len(counts) != 1 or shards != {f"{i}/{max(counts)}" for i in range(max(counts))}):
        fail(f"merge needs every shard of one evaluation once: got {sorted(shards)} (their --archs: {meta.get('archs')})")
    os.makedirs(args.out_dir, exist_ok=True)
    out, sources = os.path.abspath(os.path.join(args.out_dir, "results.csv")), [os.path.abspath(path) for path in args.csvs]
    held += [] if out in sources else [lock(out)]  # no evaluation writes into it meanwhile
    if os.path.isfile(out) and out not in sources and (read_meta(out) or {}).get("merged_from") != sources:
        fail(f"{out} holds other results: remove it, or merge into another --out-dir")
    write_results(out, merged)
    write_json(meta_path(out), dict(meta, merged_from=sources))
    for file in held:
        file.close()
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
    all_archs, dims = archspace.all_archs(), (io.in_dim, io.act_dim)
    if args.bytes:
        budget, unit, flag = args.bytes, f"bytes of flash ({'int8' if args.int8 else 'float32'})", "--bytes"

        def cost(arch, in_dim, out_dim):
            return archspace.policy_bytes(arch, policy_dims(io), args.int8)[0]
    else:
        budget, unit, flag, cost = args.params, "parameters", "--params", archspace.num_params
    try:
        pick = archspace.select_under_budget(all_archs, budget, *dims, cost=cost, unit=unit)
    except ValueError as error:
        fail(f"{flag} {budget}: {error}")
    csv_path = os.path.join(args.out_dir or default_out_dir(args.checkpoint), "results.csv")
    results, saved = read_results(csv_path), read_meta(csv_path)
    flash, ram = archspace.policy_bytes(pick, policy_dims(io), args.int8)
    size = f"{archspace.num_params(pick, *dims)} parameters, D_LM {archspace.d_lm(pick, *dims)}"
    print(f"budget {budget} {unit}: Eq. 5 picks {list(pick)} with {size}, flash {flash} bytes, RAM {ram} bytes")
    if results and (saved is None or saved.get("fingerprint") != policy_fingerprint(checkpoint)):
        print(f"  (the results in {csv_path} are not of this checkpoint: not used)")
        results = {}
    if pick in results:
        print(f"  measured {io.score_name} of {list(pick)}: {results[pick]['score']:.2f}")
    fitting = [r for r in results.values() if cost(r["arch"], *dims) <= budget]
    if fitting:
        best = best_evaluated(fitting)
        scored = f"{best['params']} parameters, {io.score_name} {best['score']:.2f}"
        print(f"  best evaluated under the budget ({len(fitting)} archs in {csv_path}): {list(best['arch'])} with {scored}")
    elif not results:
        print(f"  (no evaluation in {csv_path} to compare with)")


if __name__ == "__main__":
    args = tyro.extras.subcommand_cli_from_dict(COMMANDS, description=__doc__.split("\n\n")[0])
    try:
        {Run: command_run, Merge: command_merge, Budget: command_budget, Curves: command_curves}[type(args)](args)
    except OSError as error:  # a full disk, a folder that cannot be made: one line, the files written whole stay whole
        fail(f"{error.filename or 'a file'}: {error.strerror or error}")
