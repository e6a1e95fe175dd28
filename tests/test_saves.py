"""Checkpoints and GHN snapshots of both training scripts are never left half-written (a kill during a
write, a full disk)."""

import glob
import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, run_script

SCRIPTS = ["ghp_sac", "ghp_ddpg_her"]

KILLED_WRITE = """
import os, signal, sys
import torch
import {script} as script
script.save_atomically({{"step": 1, "weights": torch.ones(1000)}}, sys.argv[1])  # a complete first file
real_save = torch.save
def save_then_die(state, path):  # writes half of the file, then the process is killed
    real_save(state, path)
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    os.kill(os.getpid(), signal.SIGKILL)
script.torch.save = save_then_die
script.save_atomically({{"step": 2, "weights": torch.zeros(1000)}}, sys.argv[1])
"""


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_write_killed_halfway_leaves_the_previous_file_intact(tmp_path, script):
    """Both checkpoint.pt and the GHN snapshots (ghn_<step>.pt, ghn_epoch<k>.pt) go through save_atomically.
    Written straight to their names, a kill mid-write left an unreadable snapshot that --resume never rewrote."""
    path = str(tmp_path / "ghn_1000.pt")
    result = subprocess.run([sys.executable, "-c", KILLED_WRITE.format(script=script), path], cwd=ROOT, capture_output=True)
    assert result.returncode == -9  # SIGKILL, during the second write
    saved = torch.load(path, weights_only=True)
    assert saved["step"] == 1 and torch.equal(saved["weights"], torch.ones(1000))
    assert os.path.getsize(path + ".tmp") < os.path.getsize(path)  # the partial write, beside it; the next save replaces it


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB tmpfs (needs root and mount permission: skipped elsewhere)."""
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    if (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here (needs root and mount permission)")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


@pytest.mark.parametrize(
    "script, flags",
    [
        (
            "ghp_sac.py",
            (
                "--env-id Pendulum-v1 --meta-batch 2 --total-timesteps 20 --learning-starts 10 --buffer-size 100 "
                "--eval-every 0"
            ).split(),
        ),
        (
            "ghp_ddpg_her.py",
            (
                "--epochs 1 --cycles-per-epoch 1 --rollouts-per-cycle 1 --updates-per-cycle 1 --meta-batch 2 --batch-size 32 "
                "--eval-archs 1"
            ).split(),
        ),
    ],
)
def test_a_full_disk_is_a_one_line_error_and_leaves_no_partial_file(small_disk, script, flags):
    """The lowrank GHN's checkpoint (~25 MB with Adam's moments) cannot fit on 1 MB: before, torch's zip writer
    raised a RuntimeError traceback and left checkpoint.pt.tmp filling the disk."""
    result = run_script(
        script, "--no-cuda", "--threads", "1", *flags, "--ghn-decoder", "lowrank", "--runs-dir", str(small_disk), check=False
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"cannot write {small_disk}") and ".pt (" in last_line  # the GHN snapshot, written first
    assert "MB free" in last_line and "the last checkpoint is unchanged" in last_line
    assert glob.glob(os.path.join(small_disk, "*", "*.tmp")) == []
