"""docs/aggregate_seeds.py on hand-computed numbers: rliable's IQM over runs (one score per run: its episode mean), the
interval over runs, the k-of-n verdicts, and a task's tables from hand-made evaluation folders. rliable comes with
docs/requirements.txt (the docs tools), which CI installs."""

import json
import os
import sys

import numpy as np
import pytest

pytest.importorskip("rliable", reason="the docs tools' requirements: pip install -r docs/requirements.txt")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs"))
import aggregate_seeds  # noqa: E402


def test_iqm_is_over_runs_and_the_interval_resamples_runs():
    # eight runs: the IQM is the mean of the middle four, (3 + 4 + 5 + 6) / 4
    value, (low, high) = aggregate_seeds.iqm_interval(np.arange(1, 9), resamples=2000)
    assert value == 4.5 and 1 <= low < 4.5 < high <= 8
    # three runs: 25% of 3 trims none, so the IQM is their mean; all three draws land on one run with probability 1/27
    # each (> 2.5%), so the 95% interval runs from the lowest run to the highest
    value, (low, high) = aggregate_seeds.iqm_interval([0.0, 10.0, 20.0], resamples=4000)
    assert value == pytest.approx(10.0) and (low, high) == (0.0, 20.0)
    assert aggregate_seeds.iqm_interval([7.0, 7.0, 7.0], resamples=500) == (7.0, (7.0, 7.0))


def test_k_of_n_counts_the_seeds_at_or_above_the_threshold():
    assert aggregate_seeds.k_of_n([0.916, 0.961, 1.032], 0.9) == "3 of 3 seeds"
    assert aggregate_seeds.k_of_n([0.71, 0.815, 1.161], 0.9) == "1 of 3 seeds"
    assert aggregate_seeds.k_of_n([-0.057, 0.0, 0.019], 0.0) == "2 of 3 seeds"


def test_a_task_table_from_evaluation_folders(tmp_path):
    text = "\n".join(aggregate_seeds.aggregate("Toy-v0", toy_seeds(tmp_path, 1.0), str(tmp_path), 2000, 0))
    # one score per run (its episode mean): 90, 190, 140; their IQM (3 runs: the mean) 140, interval lowest..highest
    assert "| 90% | [8] (10) 90; [8] (10) 190; [8] (10) 140 | 140 | [90, 190] |" in text
    assert "| baseline | [256, 256] 80; [256, 256] 180; [256, 256] 130 | 130 | [80, 180] |" in text
    # 90% / baseline per seed: 90/80, 190/180, 140/130, all >= 0.9
    assert "| 1.125, 1.056, 1.077 | 1.086 | [1.056, 1.125] | 3 of 3 seeds |" in text
    assert "| Table II, max D_LM: ratio >= 0.9 (the paper: 0.90-0.99 on locomotion) | 0.900, 0.800, 0.850 | 0.850 |" in text
    assert "0.800, 0.700, 0.750 | 0.750 | [0.700, 0.800] | 0 of 3 seeds |" in text  # max size: none at 0.9
    assert "D_LM ratio - size ratio >= 0 | 0.100, 0.100, 0.100 | 0.100 | [0.100, 0.100] | 3 of 3 seeds |" in text


def test_success_rates_keep_two_decimals(tmp_path):
    # the same runs as success rates (Fetch): scores / 1000, so 0.09, 0.19, 0.14; the ratios do not change
    text = "\n".join(aggregate_seeds.aggregate("Toy-v0", toy_seeds(tmp_path, 1e-3), str(tmp_path), 2000, 0))
    assert "| 90% | [8] (10) 0.09; [8] (10) 0.19; [8] (10) 0.14 | 0.14 | [0.09, 0.19] |" in text
    assert "| baseline | [256, 256] 0.08; [256, 256] 0.18; [256, 256] 0.13 | 0.13 | [0.08, 0.18] |" in text
    assert "| 1.125, 1.056, 1.077 | 1.086 | [1.056, 1.125] | 3 of 3 seeds |" in text


def toy_seeds(tmp_path, scale):
    """Three hand-made runs (eval folder with report.json, picks and baseline on fresh episodes), scores times scale."""

    def folder(name, rows, report=None):
        os.makedirs(tmp_path / name)
        lines = ["arch,depth,params,d_lm,episodes,score,std,per_episode"]
        lines += [f'"{a}",1,0,0,{len(e)},{np.mean(e)},0,{";".join(map(str, e))}' for a, e in rows]
        (tmp_path / name / "results.csv").write_text("\n".join(lines) + "\n")
        if report:
            (tmp_path / name / "report.json").write_text(json.dumps(report))

    seeds = []
    for seed, (big, small, base, dlm) in enumerate(
        ((100.0, 90.0, 80.0, 0.9), (200.0, 190.0, 180.0, 0.8), (150.0, 140.0, 130.0, 0.85)), start=1
    ):
        big, small, base = big * scale, small * scale, base * scale
        levels = {"max": {"arch": [64], "params": 100}, "90%": {"arch": [8], "params": 10}, "80%": {"arch": [4], "params": 5}}
        folder(f"eval{seed}", [], {"levels": levels, "table2": {"max_size_ratio": dlm - 0.1, "max_dlm_ratio": dlm}})
        # the 90% pick's episodes differ, their mean is the run's score: (small - spread, small + spread) averages to small
        spread = 10 * scale
        folder(f"picks{seed}", [("64", [big] * 4), ("8", [small - spread, small + spread] * 2), ("4", [small] * 4)])
        folder(f"base{seed}", [("256,256", [base] * 4)])
        seeds.append({"seed": seed, "ghp_eval": f"eval{seed}", "ghp_picks": f"picks{seed}", "baseline": f"base{seed}"})
    return seeds
