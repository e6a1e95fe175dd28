import csv
import glob
import json
import math
import os

import numpy as np
import pytest
import torch
from conftest import goal_reached_midway, osmesa_renders, run_script

import archspace
import evaluate
import export
import ghp_ddpg_her
import ghp_sac
from ghn import GHN


def run_eval(command, *flags, check=True, env=None):
    """python evaluate.py <command> <flags>, with one torch thread where the command runs policies; the command
    "export" runs export.py <flags>."""
    if command == "export":
        return run_script("export.py", *flags, check=check, env=env)
    threads = ["--threads", "1"] if command in ("run", "curves") else []
    return run_script("evaluate.py", command, *threads, *flags, check=check, env=env)


def sac_checkpoint(path, **args):
    """A just-initialised GHN in ghp_sac.py's checkpoint format (Pendulum: 3 obs, 1 action), run with flags `args`."""
    torch.manual_seed(0)
    ghn = GHN(3, 2, decoder="lowrank", max_width=512)
    torch.save(
        {
            "algo": "sac",
            "env_id": "Pendulum-v1",
            "obs_dim": 3,
            "act_dim": 1,
            "global_step": 0,
            "args": args,
            "ghn": ghn.to_checkpoint(),
        },
        path,
    )
    return str(path)


def her_checkpoint(path, **args):
    """A just-initialised GHN in ghp_ddpg_her.py's format, with non-trivial normalisers."""
    torch.manual_seed(1)
    ghn = GHN(13, 4, decoder="lowrank")
    rng = np.random.default_rng(0)
    obs, goals = rng.normal(1.0, 0.3, (100, 10)), rng.normal(1.3, 0.1, (100, 3))
    norm = lambda x: {"sum": torch.tensor(x.sum(0)), "sumsq": torch.tensor(np.square(x).sum(0)), "count": len(x)}  # noqa: E731
    torch.save(
        {
            "algo": "ddpg_her",
            "env_id": "FetchReach-v4",
            "obs_dim": 10,
            "goal_dim": 3,
            "act_dim": 4,
            "epoch": 1,
            "env_steps": 0,
            "args": {"clip_obs": 200.0, "clip_norm": 5.0, **args},
            "ghn": ghn.to_checkpoint(),
            "obs_norm": norm(obs),
            "goal_norm": norm(goals),
        },
        path,
    )
    return str(path)


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_evaluates_appends_csv_and_resume_skips_done_archs(tmp_path):
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    out = str(tmp_path / "eval")
    run_eval(
        "run", "--checkpoint", checkpoint, "--archs", "4;16,16;8,4,4,4", "--episodes", "2", "--num-envs", "3", "--out-dir", out
    )
    table = rows(os.path.join(out, "results.csv"))
    assert sorted(r["arch"] for r in table) == ["16,16", "4", "8,4,4,4"]
    for r in table:
        arch = archspace.parse_arch(r["arch"])
        assert int(r["params"]) == archspace.num_params(arch, 3, 1) and int(r["d_lm"]) == archspace.d_lm(arch, 3, 1)
        per_episode = [float(x) for x in r["per_episode"].split(";")]
        assert len(per_episode) == 2 and float(r["score"]) == pytest.approx(np.mean(per_episode), abs=1e-3)
        assert -2000 < float(r["score"]) < 0  # Pendulum returns
    for name in ("report.md", "report.json", "fig4_params.png", "fig4_dlm.png"):
        assert os.path.isfile(os.path.join(out, name)), name

    # a rerun with one more arch evaluates only that one, and the old rows stay untouched
    result = run_eval(
        "run", "--checkpoint", checkpoint, "--archs", "4;16,16;8,4,4,4;64,64", "--episodes", "2", "--out-dir", out
    )
    assert "3 already in" in result.stdout and "1 to evaluate" in result.stdout
    again = rows(os.path.join(out, "results.csv"))
    assert again[:3] == table and again[3]["arch"] == "64,64"

    # same episode seeds for every run: a fresh evaluation with the same jobs reproduces every score
    # bit for bit (the same archs on the same env copies batch their forwards the same way; other
    # batching may sum in another order and move a chaotic return by more than float32 rounding)
    fresh = str(tmp_path / "fresh")
    run_eval(
        "run",
        "--checkpoint",
        checkpoint,
        *"--archs 4;16,16;8,4,4,4 --episodes 2 --num-envs 3 --out-dir".split(),
        fresh,
    )
    assert rows(os.path.join(fresh, "results.csv")) == table


def test_shards_cover_the_archs_once_and_merge(tmp_path):
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    out = str(tmp_path / "eval")
    archs = "4;8;16;4,4;8,8"
    for shard in ("0/2", "1/2"):
        run_eval("run", "--checkpoint", checkpoint, "--archs", archs, "--episodes", "1", "--shard", shard, "--out-dir", out)
    first = [r["arch"] for r in rows(os.path.join(out, "results-shard0of2.csv"))]
    second = [r["arch"] for r in rows(os.path.join(out, "results-shard1of2.csv"))]
    assert sorted(first) == ["16", "4", "8,8"] and sorted(second) == ["4,4", "8"]
    merged = str(tmp_path / "merged")
    run_eval(
        "merge",
        "--csvs",
        os.path.join(out, "results-shard0of2.csv"),
        os.path.join(out, "results-shard1of2.csv"),
        "--out-dir",
        merged,
    )
    assert sorted(r["arch"] for r in rows(os.path.join(merged, "results.csv"))) == sorted(first + second)
    shard_rows = rows(os.path.join(out, "results-shard0of2.csv")) + rows(os.path.join(out, "results-shard1of2.csv"))
    assert sorted(map(tuple, map(dict.items, rows(os.path.join(merged, "results.csv"))))) == sorted(
        map(tuple, map(dict.items, shard_rows))
    )  # rows, per-episode scores included, carried over unchanged
    assert os.path.isfile(os.path.join(merged, "report.json"))


@pytest.mark.parametrize("cut", ["inside the last field", "after three fields"])
def test_a_cut_last_row_is_left_out_and_evaluated_again(tmp_path, cut):
    """An evaluation killed while writing its last row (or a full disk) leaves a partial line. Before, resuming or
    merging crashed on it (TypeError), or took it with a wrong value when the cut fell inside the last number."""
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    out = str(tmp_path / "eval")
    run_eval("run", "--checkpoint", checkpoint, "--archs", "4;16,16", "--episodes", "2", "--out-dir", out)
    csv_path = os.path.join(out, "results.csv")
    with open(csv_path) as f:
        text = f.read()
    first, last = text.rstrip("\n").rsplit("\n", 1)
    partial = last[:-2] if cut == "inside the last field" else ",".join(last.split(",")[:3])
    with open(csv_path, "w") as f:
        f.write(first + "\n" + partial)
    assert evaluate.parse_row(dict(zip(evaluate.CSV_FIELDS, next(csv.reader([last]))))) is not None  # the whole row is fine
    merged = run_eval("merge", "--csvs", csv_path, "--out-dir", str(tmp_path / "merged"), check=False)
    assert "damaged line(s) [3] left out" in merged.stderr and merged.returncode != 0  # (before: merged, 1 arch short)
    assert "lacks 1 of its 2 archs, e.g. [16, 16]" in merged.stderr.strip().splitlines()[-1]
    resumed = run_eval("run", "--checkpoint", checkpoint, "--archs", "4;16,16", "--episodes", "2", "--out-dir", out)
    assert "1 already in" in resumed.stdout and "1 to evaluate" in resumed.stdout
    table = rows(csv_path)
    assert [r["arch"] for r in table] == ["4", "16,16"] and all(evaluate.parse_row(r) is not None for r in table)
    assert "merged 2 architectures" in run_eval("merge", "--csvs", csv_path, "--out-dir", str(tmp_path / "merged")).stdout


@pytest.mark.parametrize(
    "damage",
    ["a score that is not the mean of its episodes", "the line ending lost", "a byte that is not UTF-8", "a cut header",
     "the same arch twice, scored differently", "a digit of params changed"],
)  # fmt: skip
def test_a_damaged_row_is_left_out_and_evaluated_again(tmp_path, damage):
    """Any damaged row, not only the last, is dropped with a note and its arch evaluated again; before, a damaged row
    (or a row glued to it when a line ending was lost) stopped every later run with "use --fresh", which discards all."""
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    out = str(tmp_path / "eval")
    run_eval("run", "--checkpoint", checkpoint, "--archs", "4;16,16;8", "--episodes", "2", "--out-dir", out)
    csv_path = os.path.join(out, "results.csv")
    lines = open(csv_path).read().splitlines()
    lost = {  # the archs whose rows the damage costs
        "a score that is not the mean of its episodes": ["4"],
        "the line ending lost": ["4", "16,16"],
        "a byte that is not UTF-8": ["16,16"],
        "a cut header": [],
        "the same arch twice, scored differently": ["8"],
        "a digit of params changed": ["4"],  # params follow from the arch and the meta's dims (parse_row's test below)
    }[damage]
    if damage == "a digit of params changed":
        fields = next(csv.reader([lines[1]]))
        fields[2] = fields[2][:-1] + str((int(fields[2][-1]) + 1) % 10)
        lines[1] = ",".join(fields)
    elif damage == "a score that is not the mean of its episodes":
        lines[1] = lines[1].replace(lines[1].split(",")[-4], "99999.0", 1)  # (the last field: any_step_score)
    elif damage == "the line ending lost":
        lines[1:3] = [lines[1] + lines[2]]
    elif damage == "a cut header":
        lines[0] = lines[0][:15]
    elif damage == "the same arch twice, scored differently":
        fields = next(csv.reader([lines[3]]))
        scores = [float(v) + 1 for v in fields[7].split(";")]
        fields[5:8] = [str(np.mean(scores)), fields[6], ";".join(f"{v:.4f}" for v in scores)]
        lines.append(",".join(f'"{f}"' if "," in f else f for f in fields))
    text = ("\n".join(lines) + "\n").encode()
    if damage == "a byte that is not UTF-8":
        text = text.replace(b"16,16", b"16,\xff6", 1)
    open(csv_path, "wb").write(text)
    result = run_eval("run", "--checkpoint", checkpoint, "--archs", "4;16,16;8", "--episodes", "2", "--out-dir", out)
    assert f"{3 - len(lost)} already in" in result.stdout and f"{len(lost)} to evaluate" in result.stdout
    assert "left out, to be evaluated again" in result.stderr
    table = rows(csv_path)
    assert sorted(r["arch"] for r in table) == ["16,16", "4", "8"] and all(evaluate.parse_row(r) for r in table)


def test_a_row_whose_values_do_not_follow_from_each_other_is_damaged():
    """Before, a changed digit of std, params or d_lm, an arch 4 made 5 (a phantom [5], which merge counted) and an
    infinite score were kept silently; params and D_LM feed the picks. Each follows from the others (dims: Pendulum's)."""
    dims, scores = (3, 1), [10.0, 14.0]
    row = dict(arch="4", depth="1", params=str(archspace.num_params((4,), *dims)), d_lm=str(archspace.d_lm((4,), *dims)))
    row |= dict(episodes="2", score="12.0", std="2.0", per_episode="10.0000;14.0000", any_step_score="")
    assert evaluate.parse_row(row, dims) is not None
    damaged = [dict(row, std="3.0"), dict(row, params=str(int(row["params"]) + 1)), dict(row, d_lm=str(int(row["d_lm"]) + 1))]
    damaged += [dict(row, arch="5"), dict(row, score="inf", per_episode="inf;inf"), dict(row, score="nan", std="nan")]
    assert all(evaluate.parse_row(bad, dims) is None for bad in damaged)
    assert np.std(scores) == 2.0


@pytest.mark.parametrize("content", [b"", b'{"fingerprint": "ab', b"not json", b"[1, 2]", b"\xff\xfe"])
def test_a_damaged_meta_file_is_a_one_line_error(tmp_path, content):
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    out = tmp_path / "eval"
    run_eval("run", "--checkpoint", checkpoint, "--archs", "4", "--episodes", "1", "--out-dir", str(out))
    (out / "results.meta.json").write_bytes(content)
    result = run_eval("run", "--checkpoint", checkpoint, "--archs", "4", "--episodes", "1", "--out-dir", str(out), check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "results.meta.json is damaged" in result.stderr.strip().splitlines()[-1]
    run_eval("run", "--checkpoint", checkpoint, "--archs", "4", "--episodes", "1", "--out-dir", str(out), "--fresh")
    assert json.loads((out / "results.meta.json").read_text())["episodes"] == 1  # rewritten whole, via a .tmp


def test_a_folder_another_evaluation_writes_is_refused(tmp_path):
    """Two evaluations of the same archs into one folder wrote every row twice; the second now stops at once."""
    import fcntl

    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    out = tmp_path / "eval"
    out.mkdir()
    with open(out / "results.csv.lock", "w") as lock:  # what a running evaluation holds
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_eval(
            "run", "--checkpoint", checkpoint, "--archs", "4", "--episodes", "1", "--out-dir", str(out), check=False
        )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "another evaluate.py is writing" in result.stderr.strip().splitlines()[-1]
    assert not (out / "results.csv").exists()
    run_eval("run", "--checkpoint", checkpoint, "--archs", "4", "--episodes", "1", "--out-dir", str(out))  # released: it runs


def test_a_checkpoint_of_an_env_that_cannot_be_made_here_is_a_one_line_error(tmp_path):
    """LunarLanderContinuous-v3 is registered but needs Box2D: before, gym.make's traceback."""
    try:
        import Box2D  # noqa: F401

        pytest.skip("Box2D is installed here, so the env can be made")
    except ImportError:
        pass
    path = str(tmp_path / "lunar.pt")
    torch.save(
        {
            "algo": "sac",
            "env_id": "LunarLanderContinuous-v3",
            "obs_dim": 8,
            "act_dim": 2,
            "global_step": 0,
            "args": {},
            "ghn": GHN(8, 4, decoder="lowrank").to_checkpoint(),
        },
        path,
    )
    result = run_eval("run", "--checkpoint", path, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(
        "evaluate.py: env 'LunarLanderContinuous-v3' cannot be made here, a package it needs is missing"
    )


def test_an_arch_named_twice_is_evaluated_once(tmp_path):
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    out = str(tmp_path / "eval")
    result = run_eval("run", "--checkpoint", checkpoint, "--archs", "4,4;8;4,4", "--episodes", "1", "--out-dir", out)
    assert "names [4, 4] more than once; it is evaluated once" in result.stderr
    assert [r["arch"] for r in rows(os.path.join(out, "results.csv"))] == ["4,4", "8"]


def test_rerun_refuses_results_of_another_checkpoint_or_settings(tmp_path):
    checkpoint = sac_checkpoint(tmp_path / "checkpoint.pt")
    out = str(tmp_path / "eval")
    run_eval("run", "--checkpoint", checkpoint, "--archs", "4;16,16", "--episodes", "1", "--out-dir", out)
    first = rows(os.path.join(out, "results.csv"))

    # training overwrites checkpoint.pt: the same path now holds other weights
    state = torch.load(checkpoint, weights_only=False)
    torch.manual_seed(7)
    state["ghn"] = GHN(3, 2, decoder="lowrank").to_checkpoint()
    torch.save(state, checkpoint)
    result = run_eval(
        "run", "--checkpoint", checkpoint, "--archs", "4;16,16", "--episodes", "1", "--out-dir", out, check=False
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert "holds results of other settings (fingerprint" in last_line and "--fresh" in last_line
    assert rows(os.path.join(out, "results.csv")) == first  # nothing was touched

    result = run_eval(
        "run", "--checkpoint", checkpoint, "--archs", "4;16,16", "--episodes", "2", "--out-dir", out, check=False
    )
    assert "episodes 1 vs 2" in result.stderr.strip().splitlines()[-1]

    result = run_eval(
        "run",
        "--checkpoint",
        checkpoint,
        "--archs",
        "4;16,16",
        "--episodes",
        "1",
        "--out-dir",
        out,
        "--stochastic",
        check=False,
    )
    assert "stochastic None vs True" in result.stderr.strip().splitlines()[-1]  # sampled actions are other results

    result = run_eval("run", "--checkpoint", checkpoint, "--archs", "4;16,16", "--episodes", "1", "--out-dir", out, "--fresh")
    assert "0 already in" in result.stdout
    again = rows(os.path.join(out, "results.csv"))
    assert [r["arch"] for r in again] == [r["arch"] for r in first] and again != first  # new weights, new scores
    with open(os.path.join(out, "results.meta.json")) as f:
        assert json.load(f)["fingerprint"] == export.policy_fingerprint(torch.load(checkpoint, weights_only=False))


def test_merge_refuses_shards_of_different_checkpoints(tmp_path):
    first = sac_checkpoint(tmp_path / "a.pt")
    second = str(tmp_path / "b.pt")
    state = torch.load(first, weights_only=False)
    torch.manual_seed(8)
    state["ghn"] = GHN(3, 2, decoder="lowrank").to_checkpoint()
    torch.save(state, second)
    out = str(tmp_path / "eval")
    run_eval("run", "--checkpoint", first, "--archs", "4;8", "--episodes", "1", "--shard", "0/2", "--out-dir", out)
    run_eval(
        "run",
        "--checkpoint",
        second,
        *"--archs 4;8 --episodes 1 --shard 1/2 --out-dir".split(),
        str(tmp_path / "other"),
    )
    result = run_eval(
        "merge",
        "--csvs",
        os.path.join(out, "results-shard0of2.csv"),
        os.path.join(tmp_path, "other", "results-shard1of2.csv"),
        "--out-dir",
        str(tmp_path / "merged"),
        check=False,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "does not match" in result.stderr.strip().splitlines()[-1] and "fingerprint" in result.stderr


def test_merge_of_no_results_or_of_a_missing_shard_is_a_one_line_error(tmp_path):
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    out = str(tmp_path / "eval")
    for shard in ("1/3", "0/3"):  # shard 2 of 3 never ran
        run_eval("run", "--checkpoint", checkpoint, "--archs", "4;8;16", "--episodes", "1", "--shard", shard, "--out-dir", out)
    shards = [os.path.join(out, f"results-shard{i}of3.csv") for i in (0, 1)]
    result = run_eval("merge", "--csvs", *shards, "--out-dir", str(tmp_path / "merged"), check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "merge needs every shard of one evaluation once: got ['0/3', '1/3']" in result.stderr.strip().splitlines()[-1]
    assert json.load(open(os.path.join(out, "results-shard0of3.meta.json")))["archs"] == "4;8;16"
    run_eval("run", "--checkpoint", checkpoint, "--archs", "4", "--episodes", "1", "--out-dir", str(tmp_path / "empty"))
    empty = os.path.join(tmp_path, "empty", "results.csv")
    open(empty, "w").write(",".join(evaluate.CSV_FIELDS) + "\n")  # its one row gone
    result = run_eval("merge", "--csvs", empty, "--out-dir", str(tmp_path / "merged"), check=False)
    assert result.returncode != 0 and "lacks 1 of its 1 archs, e.g. [4]" in result.stderr.strip().splitlines()[-1]


def test_merge_neither_overwrites_other_results_nor_writes_beside_a_running_evaluation(tmp_path):
    """Before, merge --out-dir D replaced D/results.csv silently, while `run --out-dir D` wrote it too (its rows lost)."""
    import fcntl

    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    out = tmp_path / "eval"
    for shard in ("0/2", "1/2"):
        run_eval(
            "run", "--checkpoint", checkpoint, "--archs", "4;8", "--episodes", "1", "--shard", shard, "--out-dir", str(out)
        )
    shards = [str(out / f"results-shard{i}of2.csv") for i in (0, 1)]
    run_eval("run", "--checkpoint", checkpoint, "--archs", "16", "--episodes", "1", "--out-dir", str(tmp_path / "other"))
    result = run_eval("merge", "--csvs", *shards, "--out-dir", str(tmp_path / "other"), check=False)
    assert result.returncode != 0 and "holds other results" in result.stderr.strip().splitlines()[-1]
    assert [r["arch"] for r in rows(tmp_path / "other" / "results.csv")] == ["16"]
    with open(out / "results.csv.lock", "w") as held:  # what `run --out-dir eval` holds while it writes results.csv
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_eval("merge", "--csvs", *shards, "--out-dir", str(out), check=False)
    assert result.returncode != 0 and "another evaluate.py is writing" in result.stderr.strip().splitlines()[-1]
    for _ in range(2):  # merging the same shards again replaces its own merge
        assert "merged 2 architectures" in run_eval("merge", "--csvs", *shards, "--out-dir", str(out)).stdout


@pytest.mark.parametrize("small_disk", [64 * 1024], indirect=True)
def test_a_full_disk_is_a_one_line_error(tmp_path, small_disk):
    """On a 64 KB tmpfs with 4 KB free the evaluation's meta, CSV, report or plots cannot all be written: before, an
    OSError traceback (and with 0 bytes free a 0-byte results.meta.json)."""
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    (small_disk / "filler").write_bytes(b"x" * (64 * 1024 - 4096))
    out = small_disk / "e"
    result = run_eval(
        "run", "--checkpoint", checkpoint, "--archs", "4;8", "--episodes", "1", "--out-dir", str(out), check=False
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "No space left on device" in result.stderr.strip().splitlines()[-1]
    meta = out / "results.meta.json"
    assert not meta.exists() or json.loads(meta.read_text())["episodes"] == 1  # never a partial file
    # before: a 0-byte report.md and plots; results.csv is the append-only log of finished rows (a cut last line is
    # left out when read), the .lock empty by design
    left = [path for path in out.iterdir() if path.suffix not in (".lock", ".csv")]
    assert not [path.name for path in left if path.stat().st_size == 0 or ".partial" in path.name]


def test_curves_over_training_plot_fig3(tmp_path):
    first = sac_checkpoint(tmp_path / "ghn_1000.pt")
    second = str(tmp_path / "ghn_2000.pt")
    state = torch.load(first, weights_only=False)
    state["global_step"] = 2000
    torch.save(state, second)
    out = str(tmp_path / "fig3")
    result = run_eval("curves", "--checkpoints", first, second, "--archs", "4;16,16", "--episodes", "1", "--out-dir", out)
    assert "Fig. 3 over 2 checkpoints" in result.stdout
    assert os.path.isfile(os.path.join(out, "fig3.png"))
    for stem in ("ghn_1000", "ghn_2000"):
        assert len(rows(os.path.join(out, stem, "results.csv"))) == 2


def hand_results(entries):
    return {
        arch: {"arch": arch, "params": params, "d_lm": dlm, "score": score, "std": 0.0, "episodes": 5}
        for arch, params, dlm, score in entries
    }


def test_levels_pick_the_smallest_arch_reaching_each_fraction():
    results = hand_results([((512,), 5000, 10, 100.0), ((64,), 300, 20, 95.0), ((8,), 100, 30, 85.0), ((4,), 10, 40, 50.0)])
    assert evaluate.smallest_reaching(results, 1.0)["arch"] == (512,)
    assert evaluate.smallest_reaching(results, 0.9)["arch"] == (64,)
    assert evaluate.smallest_reaching(results, 0.8)["arch"] == (8,)
    assert evaluate.smallest_reaching(hand_results([((4,), 10, 1, -3.0)]), 0.9) is None


def test_table2_ratios_on_known_table():
    # A fits every cutoff; B from 300k, C from 600k. Under [1000, 300k) both picks are A (ratio 1);
    # under [300k, 600k) max D_LM picks A (1) and max size picks B (0.5); above, both pick C (0.8).
    results = hand_results([((4,), 500, 100, 10.0), ((8,), 300_000, 50, 5.0), ((16,), 600_000, 200, 8.0)])
    shares = np.array([299_000, 300_000, 400_000]) / 999_000
    analysis = evaluate.table2(results, 5000, seed=0)
    assert analysis["cutoffs_used"] == 5000
    assert analysis["max_dlm_ratio"] == pytest.approx(shares @ [1.0, 1.0, 0.8], abs=0.01)
    assert analysis["max_size_ratio"] == pytest.approx(shares @ [1.0, 0.5, 0.8], abs=0.01)


def test_picks_do_not_depend_on_row_order():
    # the Hopper tie: equal parameter counts, different scores; plus a tie on the best score
    results = hand_results(
        [
            ((512, 128, 64, 512), 114_883, 6667, 900.0),
            ((512, 64, 128, 512), 114_883, 6603, 300.0),
            ((16, 16), 500, 240, 300.0),
            ((4, 4, 4), 500, 70, 600.0),
            ((8, 4), 500, 110, 600.0),
        ]
    )
    expected = None
    for order in (list(results), list(results)[::-1], sorted(results, key=str)):
        shuffled = {arch: results[arch] for arch in order}
        outcome = (evaluate.table2(shuffled, 200, seed=0), evaluate.smallest_reaching(shuffled, 0.6)["arch"])
        expected = expected or outcome
        assert outcome == expected
    # ties: 90%... here 60% of 900 = 540: (8, 4) and (4, 4, 4) tie on params: the 2-layer one comes first
    assert expected[1] == (8, 4)
    # above 114,883 the max-size pick is (512, 64, 128, 512) (earlier in the space's order): ratio 300 / 900
    cutoffs = np.random.default_rng(0).uniform(1000, 1e6, 200)
    share = np.mean(cutoffs >= 114_883)
    assert expected[0]["max_size_ratio"] == pytest.approx(share * 300 / 900 + (1 - share) * 1.0)


def test_report_names_the_level_archs_with_their_numbers(tmp_path):
    results = hand_results([((512,), 5000, 10, 100.0), ((64,), 300, 20, 95.0), ((8,), 100, 30, 85.0)])
    report = evaluate.make_report(results, str(tmp_path), "Hopper-v4", "return", 100, 0, "hand")
    assert report["levels"]["90%"] == {"arch": [64], "params": 300, "d_lm": 20, "score": 95.0, "std": 0.0}
    assert report["archs_evaluated"] == 3 and report["best_score"] == 100.0
    assert "| 80% | [8] | 100 | 30 | 85.00" in open(tmp_path / "report.md").read()


def test_landscape_counts_archs_per_depth_against_the_best_score(tmp_path):
    # best 100: 90% of it is 90, 80% is 80
    results = hand_results(
        [
            ((512,), 5000, 10, 100.0),
            ((64,), 300, 20, 70.0),
            ((8, 8), 200, 30, 89.0),
            ((4, 4), 100, 40, 90.0),
            ((16, 16), 400, 50, 81.0),
        ]
    )
    spread = evaluate.landscape(results)
    assert list(spread) == ["1", "2", "all"]
    assert spread["1"] == {"archs": 2, "mean": 85.0, "median": 85.0, "min": 70.0, "max": 100.0, "reach_90": 1, "reach_80": 1}
    assert spread["2"] == {"archs": 3, "mean": 260 / 3, "median": 89.0, "min": 81.0, "max": 90.0, "reach_90": 1, "reach_80": 3}
    assert spread["all"]["archs"] == 5 and spread["all"]["median"] == 89.0
    assert (spread["all"]["reach_90"], spread["all"]["reach_80"]) == (2, 4)
    evaluate.make_report(results, str(tmp_path), "Hopper-v4", "return", 100, 0, "hand")
    assert "| 2 | 3 | 86.67 | 89.00 | 81.00 | 90.00 | 1 | 3 |" in open(tmp_path / "report.md").read()


def test_evaluation_plays_the_training_scripts_own_probe_evaluation(tmp_path):
    """evaluate.py and ghp_sac.py's probe evaluation (the training script's own code) give the same
    returns on the same seeds: same generated weights, input and action transform, episodes."""
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    _, ghn, io = export.load_policy(checkpoint)
    archs, episodes, seed = [(4,), (16, 16), (8, 4, 4, 4)], 2, 7
    scores = {}
    evaluate.evaluate_archs(
        ghn,
        io,
        "Pendulum-v1",
        archs,
        episodes,
        1,
        seed,
        len(archs),
        torch.device("cpu"),
        on_result=lambda arch, per_episode, *_: scores.update({archspace.arch_name(arch): np.mean(per_episode)}),
    )
    space = export.make_env("Pendulum-v1").action_space  # the action scale as ghp_sac.py derives it
    scale = torch.tensor((space.high - space.low) / 2.0, dtype=torch.float32)
    bias = torch.tensor((space.high + space.low) / 2.0, dtype=torch.float32)
    training = ghp_sac.evaluate_probes(ghn, archs, "Pendulum-v1", episodes, seed, scale, bias, torch.device("cpu"))
    assert scores == training


def test_stochastic_actions_are_samples_of_the_training_policy(tmp_path):
    """--stochastic's action is tanh(mean + std * noise) scaled, with ghp_sac.py's soft-clamped std:
    checked against a hand computation (Pendulum: scale 2, bias 0); zero noise gives the deterministic action."""
    _, _, io = export.load_policy(sac_checkpoint(tmp_path / "ckpt.pt"), stochastic=True)
    outputs = torch.tensor([[0.3, 0.0], [-1.2, 0.5]])  # (mean, raw log_std) per row
    noise = torch.tensor([[1.0], [-0.5]])
    by_hand = []
    for (mean, raw), (eps,) in zip(outputs.double().tolist(), noise.double().tolist()):
        log_std = ghp_sac.LOG_STD_MIN + 0.5 * (ghp_sac.LOG_STD_MAX - ghp_sac.LOG_STD_MIN) * (np.tanh(raw) + 1)
        by_hand.append([2.0 * np.tanh(mean + np.exp(log_std) * eps)])  # row 1: 2 tanh(0.3 + e^-1.5) = 0.96054
    # float32 arithmetic of values of size ~1 through exp, tanh and the scale: a few eps each
    assert np.allclose(io.actions(outputs, noise), by_hand, rtol=0, atol=16 * np.finfo(np.float32).eps)
    assert np.array_equal(io.actions(outputs, torch.zeros(2, 1)), io.actions(outputs))
    assert io.score_name == "return of sampled actions"


def test_stochastic_noise_depends_only_on_the_episode_seed(tmp_path):
    """Sampled-action episodes draw their noise from a generator seeded by the episode's seed: the same
    scores in another arch order and in a second call; other scores than the deterministic actions'.
    (One env and one arch per GHN call, so that the float arithmetic is the same in every order; batched
    rows may differ in the last bits, which chaotic episodes amplify, with or without --stochastic.)"""
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    archs = [(4,), (16, 16), (8, 4, 4, 4)]

    def scores(stochastic, order):
        _, ghn, io = export.load_policy(checkpoint, stochastic=stochastic)
        found = {}
        evaluate.evaluate_archs(
            ghn, io, "Pendulum-v1", [archs[i] for i in order], 2, 1, 3, 1, torch.device("cpu"),
            on_result=lambda arch, per_episode, *_: found.update({arch: per_episode}),
        )  # fmt: skip
        return found

    first = scores(True, [0, 1, 2])
    assert scores(True, [2, 0, 1]) == first and scores(True, [0, 1, 2]) == first
    deterministic = scores(False, [0, 1, 2])
    assert all(first[arch] != deterministic[arch] for arch in archs)


def test_evaluation_prepares_fetch_inputs_and_actions_as_training_does(tmp_path):
    """On a checkpoint of a real ghp_ddpg_her.py run (normalisers of observations and goals that
    differ), evaluate.py's inputs and actions equal those of the training script's PolicyInputs and
    deterministic_action, loaded as --resume loads them."""
    runs = str(tmp_path / "runs")
    run_script(
        *(
            "ghp_ddpg_her.py --no-cuda --threads 1 --epochs 1 --cycles-per-epoch 2 --updates-per-cycle 2 --meta-batch 2 "
            "--batch-size 32 --eval-archs 1 --ghn-decoder lowrank --clip-obs 1.5 --runs-dir"
        ).split(),
        runs,
    )
    (path,) = glob.glob(os.path.join(runs, "*", "checkpoint.pt"))
    checkpoint, ghn, io = export.load_policy(path)
    training_inputs = ghp_ddpg_her.PolicyInputs(10, 3, 1.5, 5.0, torch.device("cpu"))
    training_inputs.obs_norm.load_state_dict(checkpoint["obs_norm"])
    training_inputs.goal_norm.load_state_dict(checkpoint["goal_norm"])
    env = export.make_env("FetchReach-v4")
    observations = [env.reset(seed=i)[0] for i in range(5)]
    expected = training_inputs(
        np.stack([o["observation"] for o in observations]), np.stack([o["desired_goal"] for o in observations])
    )
    assert torch.equal(io.inputs(observations), expected)
    outputs = 3 * torch.randn(5, 4)
    np.testing.assert_array_equal(
        io.actions(outputs), ghp_ddpg_her.deterministic_action(outputs, float(env.action_space.high[0])).numpy()
    )


def hopper_checkpoint(path):
    """A just-initialised GHN in ghp_sac.py's checkpoint format for Hopper-v4 (11 obs, 3 actions)."""
    torch.manual_seed(0)
    torch.save(
        {
            "algo": "sac",
            "env_id": "Hopper-v4",
            "obs_dim": 11,
            "act_dim": 3,
            "global_step": 0,
            "args": {},
            "ghn": GHN(11, 6, decoder="lowrank").to_checkpoint(),
        },
        path,
    )
    return str(path)


def test_video_records_every_step_of_the_episodes(tmp_path):
    if not osmesa_renders():
        pytest.skip("MuJoCo cannot render offscreen here (OSMesa missing: apt-get install libosmesa6)")
    import imageio.v2 as imageio

    checkpoint, out = hopper_checkpoint(tmp_path / "ckpt.pt"), str(tmp_path / "export" / "video.mp4")
    flags = ["--checkpoint", checkpoint, *"--arch 16,16 --video 2 --video-size 64 --out-dir".split(), str(tmp_path / "export")]
    result = run_eval("export", *flags, env={"MUJOCO_GL": "osmesa"})
    scores = []  # the same episodes played by evaluate.py's run engine
    _, ghn, io = export.load_policy(checkpoint)
    evaluate.evaluate_archs(
        ghn,
        io,
        "Hopper-v4",
        [(16, 16)],
        2,
        1,
        0,
        1,
        torch.device("cpu"),
        on_result=lambda arch, per_episode, *_: scores.extend(per_episode),
    )
    assert f"return per episode {scores[0]:.2f}, {scores[1]:.2f}" in result.stdout
    frames = imageio.mimread(out, memtest=False)
    steps = int(result.stdout.split("wrote ")[1].split(": ")[1].split(" frames")[0])
    assert len(frames) == steps and frames[0].shape == (64, 64, 3)
    assert np.std(frames[0]) > 0 and not np.array_equal(frames[0], frames[-1])  # a picture, and it moves


def test_video_without_a_renderer_is_a_one_line_error(tmp_path):
    checkpoint = hopper_checkpoint(tmp_path / "ckpt.pt")
    result = run_eval(
        "export",
        "--checkpoint",
        checkpoint,
        "--arch",
        "16,16",
        "--video",
        "1",
        "--out-dir",
        str(tmp_path / "x"),
        check=False,
        env={"MUJOCO_GL": "glfw", "DISPLAY": None, "WAYLAND_DISPLAY": None},
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "cannot render with MUJOCO_GL=glfw" in result.stderr.strip().splitlines()[-1]
    assert "MUJOCO_GL=osmesa" in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["run", "--checkpoint", "/nonexistent.pt"], "no checkpoint file '/nonexistent.pt'"),
        (["run", "--checkpoint", "CORRUPT"], "cannot read checkpoint"),
        (["run", "--checkpoint", "CKPT", "--archs", "16,1024"], "outside the space"),
        (["run", "--checkpoint", "CKPT", "--archs", "16,x"], "bad architecture '16,x'"),
        (["run", "--checkpoint", "CKPT", "--archs", "random:0"], "bad --archs 'random:0'"),
        (["run"], "run needs --checkpoint PATH"),
        (
            ["budget", "--checkpoint", "CKPT", "--params", "10"],
            "no architecture fits a budget of 10 parameters: the smallest has 21",
        ),
        (["run", "--checkpoint", "CKPT", "--shard", "2/2"], "bad --shard '2/2'"),
        (["run", "--checkpoint", "CKPT", "--seed", "-1"], "--seed and --cutoffs at least 0"),  # before: a traceback from numpy
        (
            ["run", "--checkpoint", "CKPT", "--cutoffs", "-1"],
            "--seed and --cutoffs at least 0",
        ),  # before: a traceback from numpy
        (["run", "--checkpoint", "EMPTY"], "cannot read checkpoint"),  # before: IndexError (EOFError's empty message)
        (["export", "--checkpoint", "EMPTY", "--arch", "4"], "cannot read checkpoint"),
        (["run", "--checkpoint", "NAN"], "its policy weights hold NaN or inf"),  # before: StopIteration in the report
        (["export", "--checkpoint", "NAN", "--arch", "4", "--int8"], "its policy weights hold NaN or inf"),
        (["export", "--checkpoint", "NAN", "--arch", "4"], "its policy weights hold NaN or inf"),  # before: nanf in policy.h
        (["merge", "--csvs", "/nonexistent.csv", "--out-dir", "OUT"], "no CSV file"),
        (["export", "--checkpoint", "CKPT", "--arch", "4;8"], "--arch takes one architecture"),
        (["export", "--checkpoint", "CKPT"], "--arch takes one architecture, e.g. --arch 16,16 (got '')"),
        (["export", "--checkpoint", "CKPT", "--arch", "16,x"], "--arch: bad architecture '16,x'"),
        (["export", "--checkpoint", "CKPT", "--arch", "16", "--video", "-1"], "bad --video -1"),
        (["curves", "--checkpoints", "CKPT"], "curves needs --checkpoints with at least two checkpoints"),
        (["run", "--checkpoint", "HER", "--stochastic"], "from ghp_ddpg_her.py, whose policy is deterministic"),
    ],
)
def test_bad_input_is_a_one_line_error(tmp_path, flags, message):
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "empty.pt").write_bytes(b"")
    diverged = torch.load(checkpoint, weights_only=True)
    next(iter(diverged["ghn"]["state_dict"].values())).view(-1)[0] = float("nan")
    torch.save(diverged, tmp_path / "nan.pt")
    replace = {
        "CKPT": checkpoint,
        "EMPTY": str(tmp_path / "empty.pt"),
        "NAN": str(tmp_path / "nan.pt"),
        "HER": her_checkpoint(tmp_path / "her.pt"),
        "CORRUPT": str(tmp_path / "corrupt.pt"),
        "OUT": str(tmp_path / "out"),
    }
    result = run_eval(*[replace.get(f, f) for f in flags], check=False)
    assert result.returncode != 0
    assert message in result.stderr.strip().splitlines()[-1] and "Traceback" not in result.stderr


def test_the_authors_flags_act_as_in_training(tmp_path):
    """Checkpoints of runs with the flags that give the authors' behaviour (docs/method.md S3, S4, D1) are played as
    trained: unscaled tanh actions, log-std clamped to [-6, 0], the raw DDPG output (clipped to the bounds, as the
    env clips it); export refuses the raw actor, whose C code would need another output transform."""
    outputs = torch.tensor([[10.0, 5.0]])  # Pendulum (bounds +-2): mean 10, log-std 5; tanh(10) is 1.0 in float32
    for flags, action in (({}, 2.0), ({"unscaled_actions": True}, 1.0)):
        io = export.load_policy(sac_checkpoint(tmp_path / "sac.pt", **flags))[2]
        assert io.actions(outputs).tolist() == [[action]]
    noise, outputs = torch.tensor([[1.0]]), torch.tensor([[-3.0, 5.0]])
    for flags, std in (({}, math.exp(-5 + 3.5 * (math.tanh(5) + 1))), ({"log_std_clamp": True}, 1.0)):  # 7.39 or exp(0)
        io = export.load_policy(sac_checkpoint(tmp_path / "sac.pt", **flags), stochastic=True)[2]
        np.testing.assert_allclose(io.actions(outputs, noise), [[2 * math.tanh(-3 + std)]], rtol=1e-6)
    path = her_checkpoint(tmp_path / "her.pt", raw_actor=True)
    io = export.load_policy(path)[2]
    assert io.actions(torch.tensor([[3.0, -0.5, 0.25, -7.0]])).tolist() == [[1.0, -0.5, 0.25, -1.0]]
    result = run_eval("export", "--checkpoint", path, "--arch", "4,4", "--out-dir", str(tmp_path / "export"), check=False)
    assert result.returncode != 0 and "--raw-actor run" in result.stderr.strip().splitlines()[-1]


def test_fetch_rows_hold_the_success_at_any_step_beside_the_final_one(tmp_path):
    env_id = goal_reached_midway()  # 5 steps; the goal counts as reached at step 2 only
    torch.manual_seed(0)
    norm = {"sum": torch.zeros(1), "sumsq": torch.ones(1), "count": 1}
    state = dict(algo="ddpg_her", env_id=env_id, obs_dim=1, goal_dim=1, act_dim=1, epoch=1, env_steps=0, obs_norm=norm)
    state |= dict(args={"clip_obs": 200.0, "clip_norm": 5.0}, ghn=GHN(2, 1, decoder="lowrank").to_checkpoint(), goal_norm=norm)
    torch.save(state, tmp_path / "goal.pt")
    _, ghn, io = export.load_policy(str(tmp_path / "goal.pt"))
    found = {}
    evaluate.evaluate_archs(
        ghn, io, env_id, [(4,), (8, 8)], 3, 2, 0, 2, torch.device("cpu"), lambda arch, *scores: found.update({arch: scores})
    )
    assert found == {(4,): ((0.0,) * 3, (1.0,) * 3), (8, 8): ((0.0,) * 3, (1.0,) * 3)}  # (final step, any step) per episode
    csv_path = str(tmp_path / "old.csv")  # a CSV from before the column: read, its any-step values unknown
    with open(csv_path, "w") as f:
        f.write(",".join(evaluate.CSV_FIELDS[:-1]) + '\n"4,4",2,96,68,2,0.5,0.5,1.0000;0.0000\n')
    assert evaluate.read_results(csv_path)[(4, 4)]["any_step_score"] is None
    row = dict(evaluate.read_results(csv_path)[(4, 4)], any_step_score=1.0)
    evaluate.write_results(csv_path, {(4, 4): row})  # rewritten (as a resumed evaluation does): the new header
    assert rows(csv_path)[0]["any_step_score"] == "1.0" and evaluate.read_results(csv_path)[(4, 4)]["any_step_score"] == 1.0
    with open(csv_path, "a") as f:  # a new row cut before its last field is damaged, not read as unknown
        f.write('"8,8",2,216,148,2,1.0,0.0,1.0000;1.0000\n')
    assert list(evaluate.read_results(csv_path)) == [(4, 4)]
    evaluate.make_report(evaluate.read_results(csv_path), str(tmp_path), env_id, io.score_name, 10, 0, "goal.pt")
    report = open(tmp_path / "report.md").read()
    assert "score = success rate at the final step" in report
    assert "at any step (the authors' measure): max 1.00, 90% 1.00, 80% 1.00." in report


def test_merge_refuses_a_shard_that_is_running_short_or_of_other_archs(tmp_path):
    """Before, merge took a shard still being written (some of its rows), a shard its run left short, and shards of
    different --archs, each with exit 0."""
    import fcntl

    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    out = tmp_path / "eval"
    for shard in ("0/2", "1/2"):
        run_eval(
            "run",
            "--checkpoint",
            checkpoint,
            "--archs",
            "random:6",
            "--episodes",
            "1",
            "--shard",
            shard,
            "--out-dir",
            str(out),
        )
    shards = [str(out / f"results-shard{i}of2.csv") for i in (0, 1)]
    with open(shards[1] + ".lock", "w") as held:  # what a shard's run holds while it writes
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result = run_eval("merge", "--csvs", *shards, "--out-dir", str(tmp_path / "merged"), check=False)
    assert result.returncode != 0 and "another evaluate.py is writing" in result.stderr.strip().splitlines()[-1]
    lines = open(shards[1]).read().splitlines()
    open(shards[1], "w").write("\n".join(lines[:-1]) + "\n")  # its last row never written: the run was killed
    result = run_eval("merge", "--csvs", *shards, "--out-dir", str(tmp_path / "merged"), check=False)
    assert result.returncode != 0 and "lacks 1 of its 3 archs" in result.stderr.strip().splitlines()[-1]
    other = tmp_path / "other"
    run_eval(
        "run", "--checkpoint", checkpoint, "--archs", "random:5", "--episodes", "1", "--shard", "1/2", "--out-dir", str(other)
    )
    result = run_eval(
        "merge", "--csvs", shards[0], str(other / "results-shard1of2.csv"), "--out-dir", str(tmp_path / "m"), check=False
    )
    assert result.returncode != 0 and "archs 'random:5' vs 'random:6'" in result.stderr.strip().splitlines()[-1]
