"""Flags added after runs were saved: a checkpoint without the flag resumes as the run ran."""

import sys
from dataclasses import asdict

import pytest
import torch

import ghp_ddpg_her
import ghp_sac


@pytest.mark.parametrize(
    "script, algo, flag, former, given",
    [
        (ghp_ddpg_her, "ddpg_her", "steps_per_arch", 0, 2),  # before the flag every cycle trained one meta-batch
        (ghp_ddpg_her, "ddpg_her", "rollouts_per_cycle", 1, 3),  # before the flag every cycle collected one rollout
        (ghp_ddpg_her, "ddpg_her", "ghn_code_slope", 0.0, 0.2),  # before the flag the GHN's codes ended in a plain ReLU
        (ghp_sac, "sac", "ghn_code_slope", 0.0, 0.2),
    ],
)
def test_a_checkpoint_older_than_a_changed_default_resumes_as_it_ran(tmp_path, monkeypatch, script, algo, flag, former, given):
    """Without the flag in the checkpoint: the former behaviour, unless the flag is given. With the flag
    in the checkpoint: its saved value, whatever today's default."""
    default = getattr(script.Args(), flag)
    assert default != former and script.FORMER_DEFAULTS[flag] == former
    option = "--" + flag.replace("_", "-")
    saved = asdict(script.Args())
    del saved[flag]
    path = str(tmp_path / "old.pt")
    torch.save({"algo": algo, "args": saved, "rng": {}, "global_step": 0, "epoch": 0}, path)
    for command_line, expected in (([], former), ([option, str(given)], given)):
        monkeypatch.setattr(sys, "argv", [script.__name__ + ".py", "--resume", path, *command_line])
        args = script.Args(resume=path, **({flag: given} if command_line else {}))  # as tyro parses the command line
        script.load_resume_checkpoint(args)
        assert getattr(args, flag) == expected
    torch.save({"algo": algo, "args": {**saved, flag: given}, "rng": {}, "global_step": 0, "epoch": 0}, path)
    monkeypatch.setattr(sys, "argv", [script.__name__ + ".py", "--resume", path])
    args = script.Args(resume=path)
    script.load_resume_checkpoint(args)
    assert getattr(args, flag) == given


def test_the_changed_defaults():
    assert ghp_ddpg_her.Args().steps_per_arch == 4  # the authors' steps_per_arc in every Fetch config
    assert ghp_ddpg_her.Args().rollouts_per_cycle == 8  # the authors' MAX_EPISODES in main_ddpg.py since 2022-08-31
    assert ghp_sac.Args().ghn_code_slope == ghp_ddpg_her.Args().ghn_code_slope == 0.1


@pytest.mark.parametrize("script, algo", [(ghp_sac, "sac"), (ghp_ddpg_her, "ddpg_her")])
def test_a_checkpoint_older_than_rng_states_is_not_called_a_snapshot(tmp_path, monkeypatch, script, algo):
    """Checkpoints from before exact resume had no RNG states and no replay buffer, but always optimizer states;
    a GHN snapshot has none of them."""
    saved = asdict(script.Args())
    cases = {
        "old.pt": ({"policy_optimizer": {}}, "without RNG states"),
        "ghn_1000.pt": ({}, "a GHN snapshot (for evaluate.py)"),
    }
    for name, (extra, message) in cases.items():
        path = str(tmp_path / name)
        torch.save({"algo": algo, "args": saved, "ghn": {"config": {}}, **extra}, path)
        monkeypatch.setattr(sys, "argv", [script.__name__ + ".py", "--resume", path])
        with pytest.raises(SystemExit, match=message.replace("(", r"\(").replace(")", r"\)")):
            script.load_resume_checkpoint(script.Args(resume=path))
