"""What the test files share: one runner for the project's scripts (pyproject.toml puts the repository
root on sys.path, so tests import ghn, archspace and the scripts directly)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(script, *flags, check=True, env=None):
    """Runs `python <script> <flags>` from the repository root (with `env` added to the environment,
    a value None removing that variable); with check, a failed run raises AssertionError with the tail
    of its output."""
    cmd = [sys.executable, os.path.join(ROOT, script), *flags]
    environment = {key: value for key, value in {**os.environ, **(env or {})}.items() if value is not None}
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600, env=environment)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def osmesa_renders():
    """Whether MuJoCo renders offscreen with OSMesa on this machine (asked in a fresh process: mujoco
    reads MUJOCO_GL when it is imported)."""
    probe = (
        "import gymnasium as gym; e = gym.make('Hopper-v4', render_mode='rgb_array', width=16, height=16); "
        "e.reset(); e.render()"
    )
    return (
        subprocess.run(
            [sys.executable, "-c", probe], env={**os.environ, "MUJOCO_GL": "osmesa"}, capture_output=True
        ).returncode
        == 0
    )


class RunsCode:
    """An object whose unpickling runs a command: what a stranger's checkpoint could hold."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))
