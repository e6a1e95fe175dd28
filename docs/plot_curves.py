"""Learning curves of training runs from their tensorboard logs (for docs/results.md).

    python docs/plot_curves.py --runs runs/Hopper-v4__ghp_lowrank__* runs/Hopper-v4__baseline__* \
        --tags eval/return_ --out docs/results/hopper_curves.png

Runs are grouped by experiment name (the <exp-name> part of <env>__<exp-name>__<seed>__<time>);
each scalar whose tag starts with one of --tags becomes one curve per experiment: the mean over
seeds, with the seeds' min..max shaded. Prints a markdown table of every curve's values per seed.
"""

import os
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tyro  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


@dataclass
class Args:
    runs: tuple[str, ...]
    """run folders written by ghp_sac.py or ghp_ddpg_her.py (each holds an events.out.tfevents file)"""
    tags: tuple[str, ...] = ("eval/",)
    """plot the scalars whose tag starts with one of these (one ending in $: that tag only, e.g. charts/episodic_return$)"""
    out: str = "curves.png"
    """PNG to write"""
    ylabel: str = "evaluation return"
    """y-axis label"""
    title: str = ""
    """plot title"""
    max_step: int = 0
    """plot and print only the steps up to this one, e.g. to compare a longer run's start with a shorter run (0: all)"""
    levels: tuple[float, ...] = ()
    """also print, per curve and seed, the first logged step whose value reaches each of these levels (e.g. 1000 3000 for
    a Humanoid that stands / walks), and draw them as dashed lines"""
    bin: int = 0
    """average each curve over bins of this many env steps, each shown at its end (e.g. 10000 for the per-episode
    training returns, charts/episodic_return$); a bin holds the steps in (end - bin, end]. 0: every logged value"""


def read_run(path, prefixes, max_step, bin_steps=0):
    """{tag: (steps, values)} of one run's scalars with a tag starting with one of `prefixes` (or equal
    to one ending in $), steps <= max_step unless it is 0, averaged over bins of bin_steps if set."""
    events = EventAccumulator(path, size_guidance={"scalars": 0})
    events.Reload()
    curves = {}
    for tag in events.Tags()["scalars"]:
        if any(tag == p[:-1] if p.endswith("$") else tag.startswith(p) for p in prefixes):
            scalars = [s for s in events.Scalars(tag) if max_step == 0 or s.step <= max_step]
            if scalars:
                steps, values = np.array([s.step for s in scalars]), np.array([s.value for s in scalars])
                curves[tag] = bin_means(steps, values, bin_steps) if bin_steps else (steps, values)
    return curves


def bin_means(steps, values, width):
    """(bin ends, mean value per bin) over bins (end - width, end] of the logged steps."""
    ends = np.ceil(steps / width).astype(np.int64) * width
    unique_ends = np.unique(ends)
    return unique_ends, np.array([values[ends == end].mean() for end in unique_ends])


def run_identity(path):
    """(experiment name, seed) from a run folder named <env>__<exp-name>__<seed>__<time>."""
    parts = os.path.basename(os.path.normpath(path)).split("__")
    if len(parts) != 4:
        raise SystemExit(f"bad run folder {path!r}: expected a name <env>__<exp-name>__<seed>__<time>")
    return parts[1], int(parts[2])


if __name__ == "__main__":
    args = tyro.cli(Args)
    if args.max_step < 0:
        raise SystemExit(f"--max-step {args.max_step}: must be >= 0 (0 plots every step)")
    if args.bin < 0:
        raise SystemExit(f"--bin {args.bin}: must be >= 0 (0 plots every logged value)")
    groups = {}  # (experiment, tag) -> {seed: (steps, values)}
    for path in args.runs:
        if not os.path.isdir(path):
            raise SystemExit(f"--runs {path!r}: no such folder")
        experiment, seed = run_identity(path)
        for tag, curve in read_run(path, tuple(args.tags), args.max_step, args.bin).items():
            groups.setdefault((experiment, tag), {})[seed] = curve
    if not groups:
        raise SystemExit(f"no scalars starting with {list(args.tags)} in {list(args.runs)}")

    # the same curve (e.g. one probe arch) has one colour in every experiment; experiments differ by line style
    experiments = sorted({experiment for experiment, _ in groups})
    curve_names = sorted({tag.split("/")[-1] for _, tag in groups})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(8, 5))
    print("| experiment | curve | seed | values at the logged steps |")
    print("|---|---|---|---|")
    for (experiment, tag), seeds in sorted(groups.items()):
        steps = min((curve[0] for curve in seeds.values()), key=len)  # steps every seed has logged
        values = np.stack([curve[1][: len(steps)] for curve in seeds.values()])
        curve_name = tag.split("/")[-1]
        color = colors[curve_names.index(curve_name) % len(colors)]
        style = ["-", "--", ":", "-."][experiments.index(experiment) % 4]
        ax.plot(
            steps,
            values.mean(0),
            style,
            color=color,
            label=f"{experiment} {curve_name} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})",
        )
        if len(seeds) > 1:
            ax.fill_between(steps, values.min(0), values.max(0), color=color, alpha=0.15)
        for seed, (seed_steps, seed_values) in sorted(seeds.items()):
            points = ", ".join(f"{int(s) // 1000}k: {v:.2f}" for s, v in zip(seed_steps, seed_values))
            print(f"| {experiment} | {tag} | {seed} | {points} |")
    if args.levels:
        print("\n| experiment | curve | seed | " + " | ".join(f"first step >= {level:g}" for level in args.levels) + " |")
        print("|---|---|---|" + "---|" * len(args.levels))
        for (experiment, tag), seeds in sorted(groups.items()):
            for seed, (seed_steps, seed_values) in sorted(seeds.items()):
                firsts = [
                    seed_steps[np.argmax(seed_values >= level)] if np.any(seed_values >= level) else None
                    for level in args.levels
                ]
                print(
                    f"| {experiment} | {tag} | {seed} | "
                    + " | ".join("not reached" if step is None else f"{int(step) // 1000}k" for step in firsts)
                    + " |"
                )
        for level in args.levels:
            ax.axhline(level, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("env steps")
    ax.set_ylabel(args.ylabel)
    ax.set_title(args.title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
