from conftest import run_script
from torch.utils.tensorboard import SummaryWriter


def write_run(folder, values):
    writer = SummaryWriter(folder)
    for step, value in values:
        writer.add_scalar("eval/return_4-4", value, step)
        writer.add_scalar("losses/qf_loss", 1.0, step)
    writer.close()


def test_curves_are_grouped_by_experiment_and_seed(tmp_path):
    write_run(tmp_path / "Hopper-v4__ghp__1__100", [(5000, 10.0), (10000, 30.0)])
    write_run(tmp_path / "Hopper-v4__ghp__2__100", [(5000, 20.0), (10000, 50.0)])
    out = tmp_path / "plots" / "curves.png"
    result = run_script(
        "docs/plot_curves.py",
        "--runs",
        str(tmp_path / "Hopper-v4__ghp__1__100"),
        str(tmp_path / "Hopper-v4__ghp__2__100"),
        "--tags",
        "eval/",
        "--out",
        str(out),
    )
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ghp |")]
    assert rows == [
        "| ghp | eval/return_4-4 | 1 | 5k: 10.00, 10k: 30.00 |",
        "| ghp | eval/return_4-4 | 2 | 5k: 20.00, 10k: 50.00 |",
    ]  # losses/ not selected
    assert out.stat().st_size > 0


def test_max_step_keeps_only_the_first_steps(tmp_path):
    write_run(tmp_path / "Hopper-v4__ghp__1__100", [(5000, 10.0), (10000, 30.0), (15000, 40.0)])
    write_run(tmp_path / "Hopper-v4__full__1__100", [(5000, 20.0)])
    result = run_script(
        "docs/plot_curves.py",
        "--runs",
        str(tmp_path / "Hopper-v4__ghp__1__100"),
        str(tmp_path / "Hopper-v4__full__1__100"),
        *"--tags eval/ --max-step 10000 --out".split(),
        str(tmp_path / "curves.png"),
    )
    rows = [line for line in result.stdout.splitlines() if line.startswith(("| ghp |", "| full |"))]
    assert rows == ["| full | eval/return_4-4 | 1 | 5k: 20.00 |", "| ghp | eval/return_4-4 | 1 | 5k: 10.00, 10k: 30.00 |"]
    result = run_script(
        "docs/plot_curves.py", "--runs", str(tmp_path / "Hopper-v4__ghp__1__100"), "--max-step", "-1", check=False
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == ["--max-step -1: must be >= 0 (0 plots every step)"]


def test_bad_run_folder_is_a_one_line_error(tmp_path):
    (tmp_path / "not_a_run").mkdir()
    result = run_script("docs/plot_curves.py", "--runs", str(tmp_path / "not_a_run"), check=False)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"bad run folder {str(tmp_path / 'not_a_run')!r}: expected a name <env>__<exp-name>__<seed>__<time>"
    ]


def test_levels_give_the_first_step_each_curve_reaches(tmp_path):
    write_run(tmp_path / "Humanoid-v4__ghp__1__100", [(10000, 500.0), (20000, 1200.0), (30000, 900.0), (40000, 3100.0)])
    write_run(tmp_path / "Humanoid-v4__baseline__1__100", [(10000, 400.0), (20000, 800.0), (30000, 1000.0), (40000, 2000.0)])
    result = run_script(
        "docs/plot_curves.py",
        "--runs",
        str(tmp_path / "Humanoid-v4__ghp__1__100"),
        str(tmp_path / "Humanoid-v4__baseline__1__100"),
        *"--tags eval/ --levels 1000 3000 --out".split(),
        str(tmp_path / "curves.png"),
    )
    lines = result.stdout.splitlines()
    assert "| experiment | curve | seed | first step >= 1000 | first step >= 3000 |" in lines
    assert "| baseline | eval/return_4-4 | 1 | 30k | not reached |" in lines  # 1000 reached exactly at 30k
    assert "| ghp | eval/return_4-4 | 1 | 20k | 40k |" in lines


def test_bin_averages_each_window_and_a_dollar_tag_matches_exactly(tmp_path):
    folder = tmp_path / "Humanoid-v4__baseline__1__100"
    writer = SummaryWriter(folder)
    for step, value in [(3000, 100.0), (9000, 300.0), (10000, 500.0), (10001, 1000.0), (25000, 40.0)]:
        writer.add_scalar("charts/episodic_return", value, step)
        writer.add_scalar("charts/episodic_return_env0", 7.0, step)
    writer.close()
    result = run_script(
        "docs/plot_curves.py", "--runs", str(folder), *"--tags charts/episodic_return$ --bin 10000 --out".split(),
        str(tmp_path / "curves.png"),
    )  # fmt: skip
    rows = [line for line in result.stdout.splitlines() if line.startswith("| baseline |")]
    # (0, 10k]: mean of 100, 300, 500; (10k, 20k]: 1000; (20k, 30k]: 40; the _env0 tag is not matched
    assert rows == ["| baseline | charts/episodic_return | 1 | 10k: 300.00, 20k: 1000.00, 30k: 40.00 |"]
