import csv

from conftest import run_script

import archspace
from evaluate import CSV_FIELDS

# Hopper's dims (11 observations, 3 actions); D_LM by Algorithm 1: (11 + 2) x l1 + ... + min(widths, 3)
SCORES = {(4,): 100.0, (4, 4): 200.0, (8,): 300.0, (8, 8): 400.0}  # D_LM 55, 59, 107, 115


def write_csv(path):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for arch, score in SCORES.items():
            writer.writerow(
                {
                    "arch": ",".join(map(str, arch)),
                    "depth": len(arch),
                    "params": archspace.num_params(arch, 11, 3),
                    "d_lm": archspace.d_lm(arch, 11, 3),
                    "episodes": 1,
                    "score": score,
                    "std": 0.0,
                    "per_episode": f"{score:.4f}",
                }
            )
    return str(path)


def landscape(*flags):
    return [line for line in run_script("docs/landscape_numbers.py", *flags).stdout.splitlines() if line]


def test_spread_first_layer_and_dlm_split_count_by_hand(tmp_path):
    path = write_csv(tmp_path / "results.csv")
    assert landscape("spread", path, "--levels", "150", "--beat", "250") == [
        "4 archs, min 100, quartiles 175 / 250 / 325, max 400, mean 250",
        "above 150: 3",
        "above 250: 2",
    ]
    assert landscape("first-layer", path) == [
        "first layer 4: 2 archs, min 100, quartiles 125 / 150 / 175, max 200",
        "first layer 8: 2 archs, min 300, quartiles 325 / 350 / 375, max 400",
    ]
    assert landscape("dlm-split", path, "--d-lm", "100", "--under", "250") == [
        "D_LM > 100: 2 archs, min 300, quartiles 325 / 350 / 375, max 400, 0 under 250",
        "D_LM <= 100: 2 archs, min 100, quartiles 125 / 150 / 175, max 200, 2 under 250",
    ]


def test_picks_replay_table2_cutoffs(tmp_path):
    """Every arch has under 1000 parameters, so each of the 5000 cutoffs in [1000, 1e6] holds all four: the
    best is [8,8], which also has the most D_LM and the most parameters, so both picks are it, ratio 1."""
    path = write_csv(tmp_path / "results.csv")
    assert max(archspace.num_params(arch, 11, 3) for arch in SCORES) < 1000
    lines = landscape("picks", path, "--within", "350", "450")
    assert lines[0] == "5000 of 5000 cutoffs used (seed 0)"
    for line, name in zip(lines[1:], ("max-D_LM", "max-size")):
        assert line == (
            f"{name} picks: 1 distinct archs, scores min 400, 1st percentile 400, median 400, max 400; "
            "ratio to the best under the cutoff: mean 1.000, min 1.000; 0 under 350, 0 over 450"
        )


def test_a_missing_csv_is_a_one_line_error(tmp_path):
    result = run_script("docs/landscape_numbers.py", "spread", str(tmp_path / "none.csv"), check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"{str(tmp_path / 'none.csv')!r}: no such results CSV"


def test_bottleneck_and_paired_by_hand(tmp_path):
    """bottleneck: of the archs above 150 ((4, 4) 200, (8,) 300, (8, 8) 400), one has a width-4 layer, as layer 2...
    as layer 1 too; paired: an evaluation of the same archs whose episodes score 10 more each."""
    path = write_csv(tmp_path / "results.csv")
    out = run_script("docs/landscape_numbers.py", "bottleneck", path, "--width", "4", "--above", "150").stdout
    assert "3 archs above 150, 1 with a hidden layer of width 4" in out
    assert "width 4 as layer 1: 1" in out and "width 4 as layer 2: 1" in out and "best 2-layer arch: [8, 8] 400" in out
    rows = list(csv.DictReader(open(path)))
    with open(tmp_path / "other.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in rows[:2]:  # two episodes each: score + 10 and score + 30, so the differences are 10 and 30
            score = float(row["score"])
            writer.writerow(
                dict(row, episodes=2, score=score + 20, std=10.0, per_episode=f"{score + 10:.4f};{score + 30:.4f}")
            )
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(dict(row, episodes=2, std=0.0, per_episode=f"{float(row['score']):.4f};{float(row['score']):.4f}"))
    out = run_script("docs/landscape_numbers.py", "paired", path, "--against", str(tmp_path / "other.csv")).stdout
    # differences 10 and 30: mean +20, sd 14.14, standard error 10, so +2.00 standard errors
    assert "[4]: mean 100 -> 120, paired differences 10..30, sd 14, mean +20 = +2.00 standard errors" in out
    assert out.count("standard errors") == 2
