"""What the test files share: one runner for the project's scripts (pyproject.toml puts the repository
root on sys.path, so tests import ghn, archspace and the scripts directly)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(script, *flags, check=True):
    """Runs `python <script> <flags>` from the repository root; with check, a failed run raises
    AssertionError with the tail of its output."""
    cmd = [sys.executable, os.path.join(ROOT, script), *flags]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result
