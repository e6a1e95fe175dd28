"""docs/aggregate_seeds.py on hand-computed numbers: the interquartile mean, the seed-and-episode bootstrap, the
verdicts, and a task's tables from hand-made evaluation folders."""

import json
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs"))
import aggregate_seeds  # noqa: E402


def test_iqm_is_the_mean_of_the_middle_half():
    assert aggregate_seeds.iqm(np.arange(1, 9)) == 4.5  # (3 + 4 + 5 + 6) / 4
    assert aggregate_seeds.iqm([5, 1, 4, 2, 3]) == pytest.approx(3.0)  # (0.75 * 2 + 3 + 0.75 * 4) / 2.5
    assert aggregate_seeds.iqm([0, 0, 0, 1000]) == 0.0  # an outlier episode does not move it


def test_bootstrap_resamples_seeds_then_episodes():
    constant = [np.full(20, 7.0), np.full(20, 7.0)]
    assert aggregate_seeds.bootstrap_interval(constant, np.mean, 2000) == (7.0, 7.0)
    # two seeds, all 0 and all 10: a quarter of the resamples draws seed 0 twice (mean 0), a quarter seed 1 twice (10)
    low, high = aggregate_seeds.bootstrap_interval([np.zeros(20), np.full(20, 10.0)], np.mean, 4000)
    assert (low, high) == (0.0, 10.0)
    # one seed: only the episodes vary; [0, 1] x 10 gives means near 0.5, within the binomial's 95% range
    low, high = aggregate_seeds.bootstrap_interval([np.array([0.0, 1.0] * 10)], np.mean, 4000)
    assert 0.25 <= low < 0.5 < high <= 0.75


def test_a_ratio_of_equal_samples_is_one_and_verdicts_follow_the_interval():
    scores = [np.full(20, 100.0), np.full(20, 300.0)]  # seed i of both drawn together: the ratio is always 1
    assert aggregate_seeds.paired_ratio_interval(scores, scores, 500) == (1.0, 1.0)
    assert aggregate_seeds.verdict((0.95, 1.1), 0.9) == "holds"
    assert aggregate_seeds.verdict((0.5, 0.89), 0.9) == "fails"
    assert aggregate_seeds.verdict((0.85, 0.95), 0.9) == "inconclusive"
    assert aggregate_seeds.verdict((0.95, 1.1), 0.9, seeds=1) == "inconclusive (1 seed)"  # one run says little


def test_a_task_table_from_evaluation_folders(tmp_path):
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
        levels = {"max": {"arch": [64], "params": 100}, "90%": {"arch": [8], "params": 10}, "80%": {"arch": [4], "params": 5}}
        folder(f"eval{seed}", [], {"levels": levels, "table2": {"max_size_ratio": dlm - 0.1, "max_dlm_ratio": dlm}})
        folder(f"picks{seed}", [("64", [big] * 4), ("8", [small] * 4), ("4", [small] * 4)])
        folder(f"base{seed}", [("256,256", [base] * 4)])
        seeds.append({"seed": seed, "ghp_eval": f"eval{seed}", "ghp_picks": f"picks{seed}", "baseline": f"base{seed}"})
    text = "\n".join(aggregate_seeds.aggregate("Toy-v0", seeds, str(tmp_path), 500, 0))
    # IQM of four 90s, four 190s and four 140s: the middle six of twelve, (90 + 4 x 140 + 190) / 6; all three resampled
    # seeds being seed 1 (or 2) has probability 1/27 > 2.5%, so the interval reaches their scores
    assert "| 90% | [8] (10) 90; [8] (10) 190; [8] (10) 140 | 140 | [90, 190] |" in text
    assert "| baseline | [256, 256] 80; [256, 256] 180; [256, 256] 130 | 130 | [80, 180] |" in text
    assert "| max D_LM | 0.900, 0.800, 0.850 | 0.850 | 0.800..0.900 |" in text
    # 90% / baseline: 90/80 or 190/180 or 140/130 by the seeds drawn, all >= 0.9
    assert "| the 90% arch scores within 10% of the baseline: IQM ratio >= 0.9 | [1.056, 1.125] | holds |" in text
    assert "max D_LM beats max size (Sec. IV-B): mean difference >= 0 | [0.100, 0.100] | holds |" in text
