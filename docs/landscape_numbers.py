"""The numbers docs/results.md gives about one evaluation's landscape, from its results.csv.

    python docs/landscape_numbers.py spread CSV [--levels 1000 2000] [--beat 2138]   # quartiles, counts above levels
    python docs/landscape_numbers.py first-layer CSV                                # median score per first-layer width
    python docs/landscape_numbers.py dlm-split CSV --d-lm 250 --under 3000          # Fig. 4(b)'s cut-off in numbers
    python docs/landscape_numbers.py picks CSV [--within 3120 3142]                   # the scores Table II's picks get
    python docs/landscape_numbers.py bottleneck CSV --width 4 --above 2000            # archs above 2000 with a width-4 layer
    python docs/landscape_numbers.py paired CSV --against OTHER.csv                   # per arch: OTHER - CSV, per episode

Every number is computed from the CSV alone (evaluate.py run / merge write it), so each sentence of
docs/results.md about a landscape has a command behind it (docs/results/run_all.sh calls these).
"""

import os
import sys
from dataclasses import dataclass
from typing import Literal

import numpy as np
import tyro

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import evaluate  # noqa: E402


@dataclass
class Args:
    command: tyro.conf.Positional[Literal["spread", "first-layer", "dlm-split", "picks", "bottleneck", "paired"]]
    """spread: archs, mean, quartiles, counts; first-layer: median per first-layer width; dlm-split: archs above and
    below a D_LM value; picks: the scores of Table II's max-D_LM and max-size picks over its cutoffs; bottleneck: the
    archs above a score with a layer of one width, by position, and the best arch of each depth; paired: per arch,
    the per-episode differences of another evaluation on the same episode seeds"""
    csv: tyro.conf.Positional[str]
    """a results.csv of evaluate.py run or merge"""
    levels: tuple[float, ...] = ()
    """spread: also count the archs scoring above each of these"""
    beat: float | None = None
    """spread: also count the archs scoring above this score (e.g. the baseline's)"""
    d_lm: int = 250
    """dlm-split: the D_LM value that splits the archs"""
    under: float = 0.0
    """dlm-split: count the archs of each side scoring under this"""
    cutoffs: int = 5000
    """picks: Table II's number of random parameter cutoffs (evaluate.py's --cutoffs)"""
    seed: int = 0
    """picks: Table II's cutoff seed (evaluate.py's --seed of the evaluation that wrote the report)"""
    within: tuple[float, float] | None = None
    """picks: also count the picks scoring under LO and over HI (scores rounded to integers, as the docs print them)"""
    width: int = 4
    """bottleneck: the layer width to look for"""
    above: float = 0.0
    """bottleneck: the archs scoring above this"""
    against: str = ""
    """paired: the other results.csv (the same archs and episode seeds, e.g. the int8 run of the same picks)"""


def summary(scores):
    """count, min, quartiles, max of an array of scores, as text."""
    q1, median, q3 = np.percentile(scores, [25, 50, 75])
    return f"{len(scores)} archs, min {scores.min():.0f}, quartiles {q1:.0f} / {median:.0f} / {q3:.0f}, max {scores.max():.0f}"


def main(args):
    if not os.path.isfile(args.csv):
        raise SystemExit(f"{args.csv!r}: no such results CSV")
    results = evaluate.read_results(args.csv)
    if not results:
        raise SystemExit(f"{args.csv!r}: no result rows")
    rows = list(results.values())
    scores = np.array([row["score"] for row in rows])
    if args.command == "spread":
        print(f"{summary(scores)}, mean {scores.mean():.0f}")
        for level in (*args.levels, *([] if args.beat is None else [args.beat])):
            print(f"above {level:g}: {int(np.sum(scores > level))}")
    elif args.command == "first-layer":
        for width in sorted({row["arch"][0] for row in rows}):
            print(f"first layer {width}: " + summary(np.array([row["score"] for row in rows if row["arch"][0] == width])))
    elif args.command == "dlm-split":
        for name, side in (
            (f"D_LM > {args.d_lm}", [r for r in rows if r["d_lm"] > args.d_lm]),
            (f"D_LM <= {args.d_lm}", [r for r in rows if r["d_lm"] <= args.d_lm]),
        ):
            side_scores = np.array([row["score"] for row in side])
            print(
                f"{name}: "
                + (
                    f"{summary(side_scores)}, {int(np.sum(side_scores < args.under))} under {args.under:g}"
                    if len(side)
                    else "no archs"
                )
            )
    elif args.command == "bottleneck":
        high = [row for row in rows if row["score"] > args.above]
        narrow = [row for row in high if args.width in row["arch"]]
        print(f"{len(high)} archs above {args.above:g}, {len(narrow)} with a hidden layer of width {args.width}")
        for position in range(4):
            count = sum(1 for row in narrow if len(row["arch"]) > position and row["arch"][position] == args.width)
            print(f"  width {args.width} as layer {position + 1}: {count}")
        prefixes = [row["arch"][:2] for row in narrow]
        if prefixes:
            common = max(set(prefixes), key=prefixes.count)
            print(f"  most common first two layers: {list(common)} ({prefixes.count(common)})")
        for depth in sorted({len(row["arch"]) for row in rows}):
            best = max((row for row in rows if len(row["arch"]) == depth), key=lambda row: row["score"])
            print(f"best {depth}-layer arch: {list(best['arch'])} {best['score']:.0f}")
    elif args.command == "paired":
        other = evaluate.read_results(args.against)
        for arch in [arch for arch in results if arch in other]:
            mine, theirs = (np.array([float(v) for v in r[arch]["per_episode"].split(";")]) for r in (results, other))
            diff = theirs - mine
            se = diff.std(ddof=1) / np.sqrt(len(diff))
            spread = f"paired differences {diff.min():.0f}..{diff.max():.0f}, sd {diff.std(ddof=1):.0f}"
            print(f"{list(arch)}: mean {mine.mean():.0f} -> {theirs.mean():.0f}, {spread}, mean {diff.mean():+.0f} = "
                  f"{diff.mean() / se:+.2f} standard errors")  # fmt: skip
    else:
        picks = list(evaluate.table2_picks(results, args.cutoffs, args.seed))
        print(f"{len(picks)} of {args.cutoffs} cutoffs used (seed {args.seed})")
        for index, name in ((1, "max-D_LM"), (2, "max-size")):
            picked = np.array([pick[index]["score"] for pick in picks])
            ratios = picked / np.array([pick[0]["score"] for pick in picks])
            archs = {tuple(pick[index]["arch"]) for pick in picks}
            print(
                f"{name} picks: {len(archs)} distinct archs, scores min {picked.min():.0f}, 1st percentile "
                f"{np.percentile(picked, 1):.0f}, median {np.median(picked):.0f}, max {picked.max():.0f}; "
                f"ratio to the best under the cutoff: mean {ratios.mean():.3f}, min {ratios.min():.3f}"
                + (
                    ""
                    if args.within is None
                    else f"; {int(np.sum(picked.round() < args.within[0]))} under {args.within[0]:g}, "
                    f"{int(np.sum(picked.round() > args.within[1]))} over {args.within[1]:g}"
                )
            )


if __name__ == "__main__":
    main(tyro.cli(Args))
