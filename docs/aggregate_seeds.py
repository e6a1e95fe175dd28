"""Aggregate GHP and baseline results over seeds (issue 36): per task, the interquartile mean (IQM) of the fresh-episode
returns of GHP's max / 90% / 80% picks and of the [256,256] baseline, each with a 95% bootstrap interval; Table II per
seed with its mean and spread; the 90% pick's parameters per seed; and the paper's claims marked holds / fails /
inconclusive from the intervals.

    python docs/aggregate_seeds.py --spec docs/results/seeds.json > docs/results/seeds.md

The spec (JSON) lists, per task, one entry per seed: "ghp_eval" (the folder of the GHN's all-arch evaluation, with
report.json: its picks and Table II), "ghp_picks" (a folder whose results.csv has the picks on fresh episodes) and
"baseline" (a folder whose results.csv has the baseline on the same fresh episodes). Paths are relative to the spec.

The interval: seeds are resampled with replacement, then each drawn seed's episodes (a stratum) with replacement, and
the statistic recomputed, 10,000 times (seeded); the 2.5% and 97.5% quantiles. With 3 seeds it is wide on purpose:
the seeds are what a claim has to survive.
"""

import csv
import json
import os
from dataclasses import dataclass

import numpy as np
import tyro

LEVELS = ("max", "90%", "80%")


@dataclass
class Args:
    spec: str = "docs/results/seeds.json"
    """the JSON spec of the runs to aggregate (see the module docstring)"""
    resamples: int = 10_000
    """bootstrap resamples"""
    seed: int = 0
    """seed of the bootstrap"""


def iqm(scores):
    """Interquartile mean: the mean of the middle half of the sorted scores (Agarwal et al. 2021), with the quartile
    boundaries' scores weighted by the fraction of them inside the middle half, so that it is defined for any n."""
    scores = np.sort(np.asarray(scores, np.float64))
    n = len(scores)
    weights = np.clip(np.minimum(np.arange(1, n + 1), 0.75 * n) - np.maximum(np.arange(n), 0.25 * n), 0, 1)
    return float(np.sum(weights * scores) / np.sum(weights))


def bootstrap_interval(per_seed, statistic, resamples=10_000, seed=0, level=0.95):
    """(low, high): the `level` interval of statistic(pooled scores) when the seeds, then the episodes within each
    drawn seed, are resampled with replacement. per_seed: a list of arrays, one per seed."""
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    for r in range(resamples):
        drawn = [per_seed[i] for i in rng.integers(len(per_seed), size=len(per_seed))]
        values[r] = statistic(
            np.concatenate([episodes[rng.integers(len(episodes), size=len(episodes))] for episodes in drawn])
        )
    return float(np.quantile(values, (1 - level) / 2)), float(np.quantile(values, 1 - (1 - level) / 2))


def paired_ratio_interval(numerator, denominator, resamples=10_000, seed=0, level=0.95):
    """The interval of IQM(numerator) / IQM(denominator) with both resampled as bootstrap_interval does, seed i of one
    drawn together with seed i of the other (the runs of one seed number share nothing else)."""
    rng = np.random.default_rng(seed)
    values = np.empty(resamples)
    for r in range(resamples):
        seeds = rng.integers(len(numerator), size=len(numerator))
        pooled = [
            np.concatenate([s[rng.integers(len(s), size=len(s))] for s in (side[i] for i in seeds)])
            for side in (numerator, denominator)
        ]
        values[r] = iqm(pooled[0]) / iqm(pooled[1])
    return float(np.quantile(values, (1 - level) / 2)), float(np.quantile(values, 1 - (1 - level) / 2))


def verdict(interval, threshold, seeds=3):
    """A claim "the quantity is at least threshold": holds if the whole interval is at or above it, fails if it is all
    below, else inconclusive; with fewer than 3 seeds always inconclusive (one run says little of the next)."""
    low, high = interval
    if seeds < 3:
        return f"inconclusive ({seeds} seed{'s' if seeds > 1 else ''})"
    return "holds" if low >= threshold else "fails" if high < threshold else "inconclusive"


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
    scores = {level: [episodes(os.path.join(root, s["ghp_picks"]), r["levels"][level]["arch"]) for s, r in zip(seeds, reports)]
              for level in LEVELS}  # fmt: skip
    scores["baseline"] = [episodes(os.path.join(root, s["baseline"]), (256, 256)) for s in seeds]
    lines = [f"### {task}: seeds {', '.join(str(s['seed']) for s in seeds)}", ""]
    lines += ["| policy | per seed: arch (params) fresh-episode mean | IQM | 95% interval |", "|---|---|---|---|"]
    for name, per_seed in scores.items():
        low, high = bootstrap_interval(per_seed, iqm, resamples, seed)
        picks = [r["levels"][name] for r in reports] if name in LEVELS else [{"arch": [256, 256], "params": None}] * len(seeds)
        sizes = ["" if p["params"] is None else f" ({p['params']:,})" for p in picks]
        cells = "; ".join(f"{p['arch']}{size} {x.mean():.0f}" for p, size, x in zip(picks, sizes, per_seed))
        lines.append(f"| {name} | {cells} | {iqm(np.concatenate(per_seed)):.0f} | [{low:.0f}, {high:.0f}] |")
    table2 = {key: np.array([r["table2"][f"max_{key}_ratio"] for r in reports]) for key in ("size", "dlm")}
    lines += ["", "| Table II | per seed | mean | spread (min..max) |", "|---|---|---|---|"]
    for key, label in (("size", "max size"), ("dlm", "max D_LM")):
        values = table2[key]
        per_seed = ", ".join(f"{v:.3f}" for v in values)
        lines.append(f"| {label} | {per_seed} | {values.mean():.3f} | {values.min():.3f}..{values.max():.3f} |")
    ratio = paired_ratio_interval(scores["90%"], scores["baseline"], resamples, seed)
    dlm = bootstrap_interval([np.array([v]) for v in table2["dlm"]], np.mean, resamples, seed)
    claims = [
        ("the 90% arch scores within 10% of the baseline: IQM ratio >= 0.9", ratio, 0.9),
        ("Table II, max D_LM: ratio >= 0.9 (the paper: 0.90-0.99 on locomotion)", dlm, 0.9),
        ("max D_LM beats max size (Sec. IV-B): mean difference >= 0",
         bootstrap_interval([np.array([d]) for d in table2["dlm"] - table2["size"]], np.mean, resamples, seed), 0.0),
    ]  # fmt: skip
    lines += ["", "| claim | interval | at this budget |", "|---|---|---|"]
    lines += [
        f"| {text} | [{low:.3f}, {high:.3f}] | {verdict((low, high), threshold, len(seeds))} |"
        for text, (low, high), threshold in claims
    ]
    return lines + [""]


if __name__ == "__main__":
    args = tyro.cli(Args)
    spec = json.load(open(args.spec))
    root = os.path.dirname(os.path.abspath(args.spec))
    print(
        f"<!-- written by python docs/aggregate_seeds.py --spec {args.spec} (resamples {args.resamples}, seed {args.seed}) -->"
    )
    for task, seeds in spec.items():
        print("\n".join(aggregate(task, seeds, root, args.resamples, args.seed)))
