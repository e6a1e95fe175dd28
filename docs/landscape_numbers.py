"""The numbers docs/results.md gives about one evaluation's landscape, from its results.csv.

    python docs/landscape_numbers.py spread CSV [--levels 1000 2000] [--beat 2138]   # quartiles, counts above levels
    python docs/landscape_numbers.py first-layer CSV                                # median score per first-layer width
    python docs/landscape_numbers.py dlm-split CSV --d-lm 250 --under 3000          # Fig. 4(b)'s cut-off in numbers
    python docs/landscape_numbers.py picks CSV [--within 3120 3142]                   # the scores Table II's picks get

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
    command: tyro.conf.Positional[Literal["spread", "first-layer", "dlm-split", "picks"]]
    """spread: archs, mean, quartiles, counts; first-layer: median per first-layer width; dlm-split: archs above and
    below a D_LM value; picks: the scores of Table II's max-D_LM and max-size picks over its cutoffs"""
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
