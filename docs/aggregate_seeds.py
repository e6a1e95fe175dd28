"""Aggregate GHP and baseline results over seeds (issues 36, 48) with rliable (Agarwal et al. 2021): each run (a seed)
is scored by its mean over fresh episodes, and the runs are aggregated by their interquartile mean (IQM) with rliable's
stratified bootstrap interval; every table shows the per-seed values the aggregate comes from, and each claim is judged
as "k of n seeds" that clear its threshold.

    pip install -r docs/requirements.txt   # rliable and what it needs (not needed to train or evaluate)
    python docs/aggregate_seeds.py --spec docs/results/seeds.json > docs/results/seeds.md

The spec (JSON) lists, per task, one entry per seed: "ghp_eval" (the folder of the GHN's all-arch evaluation, with
report.json: its picks and Table II), "ghp_picks" (a folder whose results.csv has the picks on fresh episodes) and
"baseline" (a folder whose results.csv has the baseline on the same fresh episodes). Paths are relative to the spec.

What the interval means: rliable's percentile bootstrap over the runs. With 3 seeds it spans about the lowest to the
highest seed's value (all three draws land on one seed with probability 1/27 > 2.5%); it shows the spread the seeds
have, not 95% confidence. "3 of 3 seeds" clear a threshold by chance with probability 1/8 if each seed were a coin
toss (a one-sided sign test, p = 0.125): with 3 seeds no claim is established, it is only not contradicted.
"""

import csv
import json
import os
import warnings
from dataclasses import dataclass

import numpy as np
import tyro
from rliable import library as rly
from rliable import metrics

LEVELS = ("max", "90%", "80%")


@dataclass
class Args:
    spec: str = "docs/results/seeds.json"
    """the JSON spec of the runs to aggregate (see the module docstring)"""
    resamples: int = 10_000
    """bootstrap resamples"""
    seed: int = 0
    """seed of the bootstrap"""


def iqm_interval(per_run, resamples=10_000, seed=0):
    """(IQM over runs, (low, high)): rliable's interquartile mean of one value per run and its 95% percentile
    stratified-bootstrap interval (one task: the runs are resampled)."""
    scores = {"runs": np.asarray(per_run, np.float64).reshape(-1, 1)}  # (num_runs, num_tasks = 1)
    state = np.random.RandomState(seed)  # rliable's seeded bootstrap (arch warns that it will change its generator)
    warnings.filterwarnings("ignore", "random_state is deprecated", FutureWarning)
    point, interval = rly.get_interval_estimates(
        scores, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=resamples, random_state=state
    )
    return float(point["runs"][0]), (float(interval["runs"][0, 0]), float(interval["runs"][1, 0]))


def k_of_n(per_run, threshold):
    """'k of n seeds': how many runs' values are at or above the threshold."""
    return f"{int(np.sum(np.asarray(per_run) >= threshold))} of {len(per_run)} seeds"


def episodes(folder, arch):
    """The per-episode scores of `arch` in folder/results.csv (evaluate.py run)."""
    with open(os.path.join(folder, "results.csv"), newline="") as f:
        for row in csv.DictReader(f):
            if tuple(int(w) for w in row["arch"].split(",")) == tuple(arch):
                return np.array([float(v) for v in row["per_episode"].split(";")])
    raise SystemExit(f"{folder}/results.csv has no row for {list(arch)}: evaluate the picks on fresh episodes first")


def aggregate(task, seeds, root, resamples, seed):
    """Markdown lines for one task."""
    reports = [json.load(open(os.path.join(root, s["ghp_eval"], "report.json"))) for s in seeds]
    picks = {level: [r["levels"][level] for r in reports] for level in LEVELS}
    picks["baseline"] = [{"arch": [256, 256], "params": None}] * len(seeds)
    means = {  # one score per run: its mean over the fresh episodes
        name: np.array([episodes(os.path.join(root, s["ghp_picks" if name in LEVELS else "baseline"]), p["arch"]).mean()
                        for s, p in zip(seeds, runs)])
        for name, runs in picks.items()
    }  # fmt: skip
    digits = 2 if max(v.max() for v in means.values()) <= 1 else 0  # success rates (Fetch) or returns (MuJoCo)
    lines = [f"### {task}: seeds {', '.join(str(s['seed']) for s in seeds)}", ""]
    lines += ["| policy | per seed: arch (params) fresh-episode mean | IQM over seeds | interval |", "|---|---|---|---|"]
    for name, per_run in means.items():
        value, (low, high) = iqm_interval(per_run, resamples, seed)
        sizes = ["" if p["params"] is None else f" ({p['params']:,})" for p in picks[name]]
        cells = "; ".join(f"{p['arch']}{size} {x:.{digits}f}" for p, size, x in zip(picks[name], sizes, per_run))
        lines.append(f"| {name} | {cells} | {value:.{digits}f} | [{low:.{digits}f}, {high:.{digits}f}] |")
    table2 = {key: np.array([r["table2"][f"max_{key}_ratio"] for r in reports]) for key in ("size", "dlm")}
    claims = [  # (claim, per-seed values, threshold)
        ("the 90% arch within 10% of the baseline: its mean / the baseline's >= 0.9", means["90%"] / means["baseline"], 0.9),
        ("Table II, max D_LM: ratio >= 0.9 (the paper: 0.90-0.99 on locomotion)", table2["dlm"], 0.9),
        ("Table II, max size: ratio >= 0.9", table2["size"], 0.9),
        ("max D_LM beats max size (Sec. IV-B): D_LM ratio - size ratio >= 0", table2["dlm"] - table2["size"], 0.0),
    ]  # fmt: skip
    lines += ["", "| claim | per seed | IQM over seeds | interval | seeds that clear it |", "|---|---|---|---|---|"]
    for text, per_run, threshold in claims:
        value, (low, high) = iqm_interval(per_run, resamples, seed)
        cells = ", ".join(f"{x:.3f}" for x in per_run)
        lines.append(f"| {text} | {cells} | {value:.3f} | [{low:.3f}, {high:.3f}] | {k_of_n(per_run, threshold)} |")
    return lines + [""]


if __name__ == "__main__":
    args = tyro.cli(Args)
    spec = json.load(open(args.spec))
    root = os.path.dirname(os.path.abspath(args.spec))
    command = f"python docs/aggregate_seeds.py --spec {args.spec} (rliable, {args.resamples} resamples, seed {args.seed})"
    print(f"<!-- written by {command} -->")
    print(
        "\nEach run is scored by its mean over its fresh episodes; IQM over seeds and its interval: rliable's interquartile "
        "mean of the runs and 95% percentile bootstrap over them. With 3 seeds the interval spans about the lowest to the "
        'highest seed and is no 95% confidence statement; "3 of 3 seeds" is a one-sided sign test of p = 0.125.\n'
    )
    for task, seeds in spec.items():
        print("\n".join(aggregate(task, seeds, root, args.resamples, args.seed)))
