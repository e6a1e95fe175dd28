"""End to end, once per training script: a real tiny run -> `evaluate.py run` on two archs -> `export.py` -> the
exported ONNX policy (onnxruntime) acts as evaluate.py's deterministic policy does, within float32 rounding. The
checkpoints are the training scripts' own, not dicts built by hand: a change to what they save that evaluate.py or
export.py do not follow fails here."""

import glob
import json
from types import SimpleNamespace

import numpy as np
import onnxruntime
import pytest
import torch
from conftest import run_script
from test_export import float32_pipeline_bound, tanh_tolerance

import evaluate
import export
from ghn import mlp_forward

TRAIN = {
    "ghp_sac.py": "--env-id Pendulum-v1 --meta-batch 2 --total-timesteps 40 --learning-starts 20 --buffer-size 100 "
    "--batch-size 8 --eval-every 0",
    "ghp_ddpg_her.py": "--epochs 1 --cycles-per-epoch 1 --rollouts-per-cycle 1 --updates-per-cycle 2 --meta-batch 2 "
    "--batch-size 32 --eval-archs 1",
}


@pytest.mark.parametrize("script", TRAIN)
def test_a_trained_checkpoint_is_evaluated_and_exported_as_it_acts(tmp_path, script):
    flags = [*TRAIN[script].split(), "--ghn-decoder", "lowrank", "--threads", "1", "--no-cuda"]
    run_script(script, *flags, "--runs-dir", str(tmp_path / "runs"))
    (checkpoint,) = glob.glob(str(tmp_path / "runs" / "*" / "checkpoint.pt"))
    out, arch = tmp_path / "eval", (16, 8)
    run_script("evaluate.py", "run", "--checkpoint", checkpoint, "--archs", "16,8;4,4", "--episodes", "1", "--threads", "1",
               "--out-dir", str(out))  # fmt: skip
    assert set(evaluate.read_results(str(out / "results.csv"))) == {(16, 8), (4, 4)}
    assert json.loads((out / "report.json").read_text())["archs_evaluated"] == 2
    run_script("export.py", "--checkpoint", checkpoint, "--arch", "16,8", "--out-dir", str(tmp_path / "export"))

    checkpoint_dict, ghn, io = export.load_policy(checkpoint)
    env = export.make_env(checkpoint_dict["env_id"])
    observations = [env.reset(seed=seed)[0] for seed in range(20)]  # as the episodes of an evaluation start
    observations += [env.step(env.action_space.sample())[0] for _ in range(20)]  # and go on
    with torch.no_grad():
        params = ghn([arch])[0]
        evaluation = io.actions(mlp_forward(params, io.inputs(observations if io.goal_env else np.stack(observations))))
    raw = np.stack([np.concatenate([o["observation"], o["desired_goal"]]) if io.goal_env else o for o in observations])
    session = onnxruntime.InferenceSession(str(tmp_path / "export" / "policy.onnx"), providers=["CPUExecutionProvider"])
    (onnx_actions,) = session.run(None, {"input": raw.astype(np.float32)})

    # both are float32 evaluations of the same pipeline: within twice the rounding bound of the exact one before the
    # tanh (1-Lipschitz), each tanh, product and sum within tanh_tolerance
    mlp = ghn.to_mlp(arch, out_rows=io.act_dim)
    inputs = io.inputs(observations if io.goal_env else np.stack(observations)).numpy()
    _, bound = float32_pipeline_bound(SimpleNamespace(io=io, observations=observations, mlp=mlp, inputs=inputs))
    tolerance = np.abs(io.action_scale) * 2 * bound + 2 * tanh_tolerance(io)
    assert onnx_actions.shape == evaluation.shape == (40, checkpoint_dict["act_dim"])
    assert np.all(np.abs(onnx_actions - evaluation) <= tolerance)
    assert np.any(np.abs(onnx_actions - np.roll(evaluation, 1, axis=0)) > tolerance)  # the check can fail
