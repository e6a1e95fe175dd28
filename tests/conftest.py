"""What the test files share: one runner for the project's scripts (pyproject.toml puts the repository
root on sys.path, so tests import ghn, archspace and the scripts directly)."""

import os
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest -n N: one thread per worker (and its scripts), N workers on N cores
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


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


class GoalReachedMidway(gym.Env):
    """A goal-conditioned env of 5-step episodes (1-d observation, goal and action) whose goal counts as reached at
    step 2 only: its success is 1 at some step and 0 at the final one (the two Fetch measures of docs/method.md D2)."""

    box = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    observation_space = gym.spaces.Dict(dict(observation=box, achieved_goal=box, desired_goal=box))
    action_space = box

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation(), {}

    def observation(self):
        value = np.array([self.t / 10], np.float32)
        return dict(observation=value, achieved_goal=value, desired_goal=np.zeros(1, np.float32))

    def step(self, action):
        self.t += 1
        return self.observation(), 0.0, False, self.t == 5, {"is_success": float(self.t == 2)}

    def compute_reward(self, achieved, goal, info):
        return -np.ones(len(achieved), np.float32)


def goal_reached_midway():
    """The id of GoalReachedMidway, registered with gymnasium in this process."""
    if "GoalReachedMidway-v0" not in gym.registry:
        gym.register("GoalReachedMidway-v0", entry_point=GoalReachedMidway, max_episode_steps=5)
    return "GoalReachedMidway-v0"


@pytest.fixture
def small_disk(tmp_path, request):
    """A tmpfs of request.param bytes (a small, fillable disk), unmounted after the test; skips where no tmpfs can be
    mounted (needs root and mount permission)."""
    mount = tmp_path / "small"
    mount.mkdir()
    size = f"size={request.param // 1024}k"
    if subprocess.run(["mount", "-t", "tmpfs", "-o", size, "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root and mount permission)")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)
