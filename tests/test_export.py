"""export.py: the float32 C header, the int8 C header, policy.onnx, their byte counts, and
the int8 policies that `run --int8` evaluates. Each exported artefact is checked against the
arithmetic it claims to compute, within bounds derived from float32 rounding."""

import copy
import json
import os
import re
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from conftest import RunsCode
from float32_bound import UNIT_ROUNDOFF, mlp_float32_error_bound
from test_evaluate import her_checkpoint, rows, run_eval, sac_checkpoint

import archspace
import evaluate
import export

EXPORT_ARCH = (16, 8, 32, 8)


def compile_and_run(folder, raw, int8=False):
    """Compiles the export's own policy_main.c (-O2, no FMA contraction, every warning an error), around policy.h or with
    -DINT8 policy_int8.h, feeds it the rows of `raw` as CSV and returns the actions it prints."""
    binary = folder / ("main_int8" if int8 else "main")
    flags = ["-DINT8"] if int8 else []
    subprocess.run(
        ["cc", "-std=c99", "-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror", *flags, str(folder / "policy_main.c")]
        + ["-o", str(binary), "-lm"],
        check=True,
    )
    stdin = "\n".join(",".join(f"{v:.9g}" for v in row) for row in raw) + "\n"
    printed = subprocess.run([str(binary)], input=stdin, capture_output=True, text=True, check=True).stdout
    return np.array([[float(v) for v in line.split(",")] for line in printed.strip().splitlines()])


@pytest.fixture(scope="module", params=["sac", "her"])
def exported(request, tmp_path_factory):
    """A checkpoint exported with --int8, both C headers compiled and run on 20 random raw inputs."""
    if shutil.which("cc") is None:
        pytest.skip("needs a C compiler")
    tmp_path = tmp_path_factory.mktemp(request.param)
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt") if request.param == "sac" else her_checkpoint(tmp_path / "ckpt.pt")
    out = tmp_path / "export"
    arch = ",".join(map(str, EXPORT_ARCH))
    result = run_eval("export", "--checkpoint", checkpoint, "--arch", arch, "--out-dir", str(out), "--int8")
    _, ghn, io = export.load_policy(checkpoint)
    with torch.no_grad():
        mlp = ghn.to_mlp(EXPORT_ARCH, out_rows=io.act_dim)
    mlp.load_state_dict(torch.load(out / "policy.pt"))  # the exported state_dict loads into a plain Sequential
    raw = np.random.default_rng(0).normal(1.0, 1.0, (20, io.in_dim)).astype(np.float32)
    observations = [{"observation": r[:10], "desired_goal": r[10:]} for r in raw] if io.goal_env else raw
    return SimpleNamespace(
        io=io,
        mlp=mlp,
        raw=raw,
        observations=observations,
        inputs=c_inputs(io, observations),
        c_actions=compile_and_run(out, raw),
        c_int8_actions=compile_and_run(out, raw, int8=True),
        out=out,
        stdout=result.stdout,
        checkpoint=checkpoint,
    )


def c_inputs(io, observations):
    """The exported C code's input preparation replayed in numpy float32, in its order: Fetch inputs
    clipped to +-clip_obs, minus the float32 mean, over the float32 std, clipped to +-clip_norm."""
    if not io.goal_env:
        return np.asarray(observations, np.float32)
    raw = np.stack([np.concatenate([o["observation"], o["desired_goal"]]) for o in observations]).astype(np.float32)
    raw = np.clip(raw, np.float32(-io.clip_obs), np.float32(io.clip_obs))
    return np.clip((raw - io.input_mean) / io.input_std, np.float32(-io.clip_norm), np.float32(io.clip_norm))


def linears(mlp):
    return [
        (layer.weight.detach().numpy(), layer.bias.detach().numpy()) for layer in mlp if isinstance(layer, torch.nn.Linear)
    ]


def c_pre_tanh_outputs(mlp, inputs):
    """The exported C code's float32 arithmetic replayed in numpy, in its order: per output,
    acc = b, then acc += w_i * x_i for i = 0, 1, ... (each product and sum rounded to float32, no
    FMA: the test compiles with -ffp-contract=off). IEEE float32 + and * are correctly rounded on
    every x86 CPU, so this equals the C program's pre-tanh outputs bit for bit."""
    x = np.asarray(inputs, np.float32)
    layers = linears(mlp)
    for k, (weight, bias) in enumerate(layers):
        acc = np.repeat(bias[None], len(x), 0)
        for i in range(weight.shape[1]):
            acc = acc + x[:, i : i + 1] * weight[:, i]
        x = np.maximum(acc, np.float32(0)) if k < len(layers) - 1 else acc
    return x


def int8_rows(matrix, levels=127):
    """Symmetric int8 (levels 127; int16: 32767) per row, written out independently of evaluate.py:
    scale max|row| / levels in float32 (1 for a zero row), q = rint(row / scale) (half to even, as C's
    lrintf) in [-levels, levels]."""
    matrix = np.asarray(matrix, np.float32)
    maxabs = np.abs(matrix).max(1)
    scale = np.where(maxabs > 0, maxabs / np.float32(levels), np.float32(1)).astype(np.float32)
    return np.clip(np.rint(matrix / scale[:, None]), -levels, levels).astype(np.int64), scale


def c_int8_pre_tanh_outputs(mlp, inputs):
    """policy_int8.h's arithmetic in numpy: the first layer's weights divided by their column's max|w|
    and the observation multiplied by it (float32), the observation quantised per vector to int16,
    each hidden layer's output to int8, int64 sums of the integer products (exact, as C's int32 ones),
    then float32 (float)acc * (w_scale * x_scale) + b, each operation rounded once as in C without
    FMA. Equals the C program's pre-tanh outputs bit for bit."""
    layers = linears(mlp)
    column_max = np.abs(layers[0][0]).max(0)
    column_scale = np.where(column_max > 0, column_max, np.float32(1)).astype(np.float32)
    x = np.asarray(inputs, np.float32) * column_scale
    for k, (weight, bias) in enumerate(layers):
        q, w_scale = int8_rows(weight / column_scale if k == 0 else weight)
        xq, x_scale = int8_rows(x, 32767 if k == 0 else 127)
        acc = (xq @ q.T).astype(np.float32)
        x = acc * (w_scale[None, :] * x_scale[:, None]) + bias
        x = np.maximum(x, np.float32(0)) if k < len(layers) - 1 else x
    return x


def actions_from(io, pre_tanh):
    return np.tanh(pre_tanh.astype(np.float64)) * io.action_scale + io.action_bias


def tanh_tolerance(io):
    """C's tanhf(out) * scale + bias in float32 against the same in float64 from the same float32 out:
    tanhf is within 2 ulp (glibc), i.e. 4u of a result below 1; the product and the sum add u of
    their results. 6u |scale| + u |bias| in all; 8u (|scale| + |bias|) covers it."""
    return 8 * UNIT_ROUNDOFF * (np.abs(io.action_scale) + np.abs(io.action_bias))


def test_export_c_header_is_exactly_the_policy(exported):
    """The C program computes the exported policy's own float32 arithmetic: a tolerance of a few
    roundings of the final tanh, on any x86 CPU."""
    io = exported.io
    expected = actions_from(io, c_pre_tanh_outputs(exported.mlp, exported.inputs))
    assert exported.c_actions.shape == expected.shape == (20, io.act_dim)
    assert np.all(np.abs(exported.c_actions - expected) <= tanh_tolerance(io)), np.abs(exported.c_actions - expected).max()
    # neither zero nor saturated, so that the checks here and below see the tanh's slope: every action inside (-0.99,
    # 0.99) of its range (before the GHN's codes were normalised, 94% of the Fetch fixture's sat at exactly +-1)
    squashed = (exported.c_actions - io.action_bias) / io.action_scale
    assert np.abs(exported.c_actions).max() > 1e-3 and np.abs(squashed).max() < 0.99


@pytest.mark.parametrize("defect", ["weight", "bias", "normaliser", "no tanh"])
def test_export_check_fails_for_a_wrong_export(exported, defect):
    """The check above catches a slightly wrong weight, bias, normaliser or action transform."""
    io, mlp, inputs = copy.deepcopy(exported.io), copy.deepcopy(exported.mlp), exported.inputs  # the fixture is shared
    with torch.no_grad():
        if defect == "weight":  # one output weight 0.1% off, on the hidden unit that is most active
            hidden = mlp[:-1](torch.as_tensor(inputs))
            mlp[-1].weight[0, hidden.mean(0).argmax()] *= 1.001
        elif defect == "bias":
            mlp[-1].bias[0] += 1e-4
    if defect == "normaliser":
        if not io.goal_env:
            pytest.skip("SAC policies take raw observations")
        io.input_mean[0] += 1e-3 * io.input_std[0]  # a normalised input off by 0.001
        inputs = c_inputs(io, exported.observations)
    wrong = actions_from(io, c_pre_tanh_outputs(mlp, inputs))
    if defect == "no tanh":
        wrong = c_pre_tanh_outputs(mlp, inputs) * io.action_scale + io.action_bias
    assert np.any(np.abs(exported.c_actions - wrong) > tanh_tolerance(io))


def float32_pipeline_bound(exported):
    """(exact normalised inputs, bound) for any float32 evaluation of the exported pipeline:
    - inputs: C and ONNX compute x - mean and / std in float32 from float32 mean and std: u |mean| / std
      for the rounded mean, then three relative roundings (subtraction, std, division): 3.01 u |x|;
      evaluate.py normalises in float64 and rounds once (u |x|). Clipping is 1-Lipschitz.
    - MLP: any float32 evaluation order stays within tests/float32_bound.py's bound, input errors
      included; two pipelines differ by at most twice it."""
    io, observations = exported.io, exported.observations
    if io.goal_env:
        norms = (io.policy_inputs.obs_norm, io.policy_inputs.goal_norm)
        mean, std = np.concatenate([n.mean for n in norms]), np.concatenate([n.std for n in norms])
        raw = np.stack([np.concatenate([o["observation"], o["desired_goal"]]) for o in observations]).astype(np.float64)
        unclipped = (np.clip(raw, -io.clip_obs, io.clip_obs) - mean) / std
        exact = np.clip(unclipped, -io.clip_norm, io.clip_norm)
        input_error = UNIT_ROUNDOFF * (1.01 * np.abs(mean) / std + 3.01 * np.abs(unclipped))
    else:
        exact, input_error = np.asarray(observations, np.float64), 0.0
    assert np.all(np.abs(exported.inputs - exact) <= input_error)
    _, bound = mlp_float32_error_bound(linears(exported.mlp), exact, input_error)
    return exact, bound


def test_evaluation_and_export_agree_within_float32_rounding(exported):
    """evaluate.py's pipeline (the training script's input and action transforms, float32 MLP by BLAS)
    against the C program, both within float32_pipeline_bound of the exact MLP; actions: torch's and
    C's float32 tanh each within 2 ulp (tanh_tolerance), tanh is 1-Lipschitz."""
    io, mlp = exported.io, exported.mlp
    exact, bound = float32_pipeline_bound(exported)
    evaluation_inputs = io.inputs(exported.observations)
    assert np.all(np.abs(evaluation_inputs.double().numpy() - exact) <= UNIT_ROUNDOFF * np.abs(exact))
    with torch.no_grad():
        outputs = mlp(evaluation_inputs)
    assert np.all(np.abs(outputs.double().numpy() - c_pre_tanh_outputs(mlp, exported.inputs)) <= 2 * bound)
    tolerance = np.abs(io.action_scale) * 2 * bound + 2 * tanh_tolerance(io)
    if not io.goal_env:  # the export keeps SAC's mean head; evaluation reads it from the 2a outputs (mean, log_std)
        outputs = torch.cat([outputs, torch.zeros_like(outputs)], 1)
    assert np.all(np.abs(io.actions(outputs) - exported.c_actions) <= tolerance)


def test_onnx_runs_the_whole_pipeline_as_the_c_header(exported):
    """policy.onnx in onnxruntime, fed the raw inputs (Fetch: observation and goal concatenated),
    against the C program: the same pipeline in float32 with its own summation order and tanh. Their
    pre-tanh outputs differ by at most e = twice float32_pipeline_bound; through tanh that is at most
    e * sech^2(|z| - e) around the C program's output z (mean value theorem, tanh' = sech^2 falls
    with |z|), times the action scale, plus both tanh roundings."""
    io = exported.io
    _, bound = float32_pipeline_bound(exported)
    session = onnxruntime.InferenceSession(str(exported.out / "policy.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"] and [o.name for o in session.get_outputs()] == ["action"]
    (onnx_actions,) = session.run(None, {"input": exported.raw})
    assert onnx_actions.shape == (20, io.act_dim) and onnx_actions.dtype == np.float32
    pre_tanh, error = c_pre_tanh_outputs(exported.mlp, exported.inputs).astype(np.float64), 2 * bound
    decay = np.exp(-2 * np.maximum(np.abs(pre_tanh) - error, 0))
    slope = 4 * decay / (1 + decay) ** 2  # sech^2, without overflow
    tolerance = np.abs(io.action_scale) * error * slope + 2 * tanh_tolerance(io)
    assert np.all(np.abs(onnx_actions - exported.c_actions) <= tolerance)
    # the check fails for the actions of other inputs (each row against the next one's)
    assert np.any(np.abs(onnx_actions - np.roll(exported.c_actions, 1, axis=0)) > tolerance)
    # and for outputs 1% off (the fixtures' actions are not saturated: test_export_c_header_is_exactly_the_policy)
    assert np.any(np.abs(onnx_actions - actions_from(io, pre_tanh * 1.01)) > tolerance)


def test_int8_c_header_is_exactly_the_quantised_arithmetic(exported):
    """policy_int8.h against its arithmetic replayed in numpy: integer sums are exact and every float
    operation is rounded once in the same order, so only the final tanh differs (tanh_tolerance)."""
    io = exported.io
    expected = actions_from(io, c_int8_pre_tanh_outputs(exported.mlp, exported.inputs))
    assert np.all(np.abs(exported.c_int8_actions - expected) <= tanh_tolerance(io))
    # quantisation is visible (the check could fail): the float32 policy's actions are further off
    assert np.any(np.abs(exported.c_int8_actions - exported.c_actions) > tanh_tolerance(io))
    # the header stores the weights as int8
    header = (exported.out / "policy_int8.h").read_text()
    assert "static const int8_t ghp_int8_w0[" in header and "static const float ghp_int8_w0[" not in header


def test_evaluations_int8_forward_is_the_c_arithmetic(exported):
    """run --int8 plays export.int8_forward: bit for bit the numpy replay of the C header."""
    layers = [(torch.as_tensor(w), torch.as_tensor(b)) for w, b in linears(exported.mlp)]
    outputs = export.int8_forward(export.quantise_policy(layers), torch.as_tensor(exported.inputs)).numpy()
    assert np.array_equal(outputs, c_int8_pre_tanh_outputs(exported.mlp, exported.inputs))


def test_int8_policy_keeps_small_inputs_and_weights_next_to_large_ones():
    """Humanoid's observation holds joint readings of ~0.1-1 beside contact forces of ~1000: one int8
    scale per observation (1000 / 127 = 7.9) rounds the small ones to 0, the int16 one (1000 / 32767)
    keeps them. A [1] policy that passes on the second input, by hand: 0.5 -> round(0.5 * 32.767) = 16
    steps of 1000 / 32767 = 0.48829..., exact through the int8 weights (rows of 0 and 127 steps) and the
    int8 hidden layer (its only value is its own scale's 127 steps), to float32 rounding."""
    layers = [(torch.tensor([[0.0, 1.0]]), torch.zeros(1)), (torch.tensor([[1.0]]), torch.zeros(1))]
    observation = torch.tensor([[1000.0, 0.5]])
    assert export.quantise_rows(observation, 127)[0][0, 1] == 0  # one int8 scale: the 0.5 is lost
    output = export.int8_forward(export.quantise_policy(layers), observation)
    expected = 16 * 1000 / 32767
    assert abs(output.item() - expected) <= 8 * np.finfo(np.float32).eps * expected
    # a first-layer row [1, 0.001] on [0.5, 1000] (a joint reading and a contact force, both counting 1/3 and
    # 2/3): one scale per row (1 / 127) rounds the 0.001 to 0; the input scales c = [1, 0.001] give the rows
    # [1, 1] (127 steps each) and the input [0.5, 1] in int16: 16384 (0.5 * 32767, half to even) and 32767
    # steps of 1 / 32767, so the output is (16384 + 32767) / 32767, to float32 rounding
    layers = [(torch.tensor([[1.0, 0.001]]), torch.zeros(1)), (torch.tensor([[1.0]]), torch.zeros(1))]
    output = export.int8_forward(export.quantise_policy(layers), torch.tensor([[0.5, 1000.0]]))
    expected = (16384 + 32767) / 32767
    assert abs(output.item() - expected) <= 8 * np.finfo(np.float32).eps * expected
    # (2^31 - 1) // (32767 * 127) = 516 observation entries keep the first layer's int32 sums exact
    wide = [(torch.zeros(4, 517), torch.zeros(4)), (torch.zeros(1, 4), torch.zeros(1))]
    with pytest.raises(SystemExit, match="517 inputs; the int16 x int8 sums of the first layer fit int32 up to 516"):
        export.quantise_policy(wide)


def test_export_prints_the_bytes_by_hand(exported):
    """Flash and RAM bytes of (16, 8, 32, 8) from the dims by hand. Weights: in*16 + 16*8 + 8*32 + 32*8 + 8*act,
    rows 16 + 8 + 32 + 8 + act; constants: action scale and bias (2 act floats), Fetch's mean and std (2 in)."""
    io = exported.io
    n_in, act = io.in_dim, io.act_dim
    weights = n_in * 16 + 16 * 8 + 8 * 32 + 32 * 8 + 8 * act
    out_rows = 16 + 8 + 32 + 8 + act
    constants = 4 * (2 * act + (2 * n_in if io.goal_env else 0))
    float_flash, int8_flash = 4 * (weights + out_rows) + constants, weights + 8 * out_rows + 4 * n_in + constants
    # buffers: a holds the input and the outputs of layers 2 and 4 (8, 8), b those of layers 1, 3, 5 (16, 32, act)
    float_ram = 4 * (max(n_in, 8) + 32)
    int8_ram = float_ram + 2 * max(n_in, 32)  # int16 buffer for the quantised layer input
    assert f"float32: flash {float_flash} bytes" in exported.stdout and f"RAM {float_ram} bytes" in exported.stdout
    assert f"int8   : flash {int8_flash} bytes" in exported.stdout and f"RAM {int8_ram} bytes" in exported.stdout
    times = [
        float(part.split(" us per action")[0].split(", ")[-1]) for part in exported.stdout.splitlines() if "us per" in part
    ]
    assert len(times) == 2 and all(t > 0 for t in times)  # float32 and int8, each measured
    header = (exported.out / "policy.h").read_text()
    assert f"float a[{max(n_in, 8)}], b[32];" in header


def test_export_folder_records_what_it_is(exported):
    """policy.json and the ONNX model's metadata_props say which env, checkpoint (its policy fingerprint), arch and
    precision the folder holds, with the action bounds and the input layout."""
    meta = json.loads((exported.out / "policy.json").read_text())
    checkpoint = torch.load(exported.checkpoint, weights_only=True)
    assert meta["env_id"] == checkpoint["env_id"] and meta["algo"] == checkpoint["algo"]
    assert meta["checkpoint_fingerprint"] == export.policy_fingerprint(checkpoint)
    assert meta["arch"] == list(EXPORT_ARCH) and meta["params"] == archspace.num_params(
        EXPORT_ARCH, *export.policy_dims(exported.io)[:2]
    )
    assert meta["files"]["policy.h"] == "float32" and meta["files"]["policy_int8.h"].startswith("int8")
    bound = 1.0 if exported.io.goal_env else 2.0  # FetchReach's actions lie in [-1, 1], Pendulum's torque in [-2, 2]
    assert meta["action_low"] == [-bound] * exported.io.act_dim and meta["action_high"] == [bound] * exported.io.act_dim
    layout = "concat(observation[10], desired_goal[3])" if exported.io.goal_env else "observation[3]"
    assert meta["input"].startswith(layout)
    props = {p.key: json.loads(p.value) for p in onnx.load(exported.out / "policy.onnx").metadata_props}
    assert props == meta


def test_nan_input_gives_nan_actions_in_both_headers(exported):
    """Before, the int8 header turned a NaN observation into a full-scale action (lrintf(NaN)); now both headers, as
    the float32 policy and int8_forward, answer NaN."""
    rows = np.vstack([exported.raw[:1], np.full((1, exported.io.in_dim), np.nan, np.float32)])
    rows[0, 0] = np.nan  # one NaN entry among numbers is enough
    for int8 in (False, True):
        assert np.isnan(compile_and_run(exported.out, rows, int8)).all()


def test_policy_main_refuses_a_line_of_the_wrong_length(exported):
    binary = exported.out / "main"  # compiled by the fixture
    result = subprocess.run([str(binary)], input="1,2\n", capture_output=True, text=True)
    assert (
        result.returncode == 1
        and result.stderr == f"policy_main: line 1: expected {exported.io.in_dim} comma-separated numbers\n"
    )


def test_both_headers_and_a_second_prefix_live_in_one_program(tmp_path):
    """policy.h, policy_int8.h and another export's policy.h (--c-prefix small) in one C file, -Wall -Werror: each
    function gives what its own policy_main gives. Before, the headers shared an include guard and their names."""
    if shutil.which("cc") is None:
        pytest.skip("needs a C compiler")
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    run_eval("export", "--checkpoint", checkpoint, "--arch", "16,16", "--out-dir", str(tmp_path / "a"), "--int8")
    run_eval("export", "--checkpoint", checkpoint, "--arch", "8", "--out-dir", str(tmp_path / "b"), "--c-prefix", "small")
    program = tmp_path / "both.c"
    program.write_text(
        '#include <stdio.h>\n#include "a/policy.h"\n#include "a/policy_int8.h"\n#include "b/policy.h"\n'
        "int main(void) {\n  float in[GHP_IN_DIM] = {0.5f, -0.25f, 1.0f}, act[3];\n"
        "  ghp_policy(in, act); ghp_int8_policy(in, act + 1); small_policy(in, act + 2);\n"
        '  printf("%.9g,%.9g,%.9g\\n", act[0], act[1], act[2]);\n  return 0;\n}\n'
    )
    binary = tmp_path / "both"
    subprocess.run(
        ["cc", "-std=c99", "-O2", "-ffp-contract=off", "-Wall", "-Wextra", "-Werror", str(program), "-o", str(binary), "-lm"],
        check=True,
    )
    together = [float(v) for v in subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.split(",")]
    raw = np.array([[0.5, -0.25, 1.0]], np.float32)
    alone = [compile_and_run(tmp_path / "a", raw)[0, 0], compile_and_run(tmp_path / "a", raw, True)[0, 0]]
    alone.append(compile_and_run(tmp_path / "b", raw)[0, 0])
    assert together == alone and len(set(alone)) == 3
    unused = tmp_path / "unused.c"  # a header included and not called: no warning (static inline), before an error
    unused.write_text('#include "a/policy_int8.h"\nint main(void) { return 0; }\n')
    subprocess.run(
        ["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", str(unused), "-o", str(tmp_path / "unused.o")], check=True
    )


def test_export_over_an_earlier_export_leaves_nothing_stale(tmp_path):
    """Exporting [8, 4, 4, 4] without --int8 into the folder of a [16, 16] --int8 export: before, [16, 16]'s
    policy_int8.h stayed beside the new files; now every file of the folder is the new export's (or the user's own)."""
    checkpoint, out = sac_checkpoint(tmp_path / "ckpt.pt"), tmp_path / "deploy"
    run_eval("export", "--checkpoint", checkpoint, "--arch", "16,16", "--out-dir", str(out), "--int8")
    (out / "notes.txt").write_text("mine")
    run_eval("export", "--checkpoint", checkpoint, "--arch", "8,4,4,4", "--out-dir", str(out))
    assert sorted(os.listdir(out)) == ["notes.txt", "policy.h", "policy.json", "policy.onnx", "policy.pt", "policy_main.c"]
    assert json.loads((out / "policy.json").read_text())["arch"] == [8, 4, 4, 4]
    assert "Architecture [8, 4, 4, 4]" in (out / "policy.h").read_text()


@pytest.mark.parametrize("where", ["taken", "taken/below"])
def test_export_into_a_file_is_a_one_line_error(tmp_path, where):
    """--out-dir that is a file, or a path under a file: before, a traceback from os.makedirs."""
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    (tmp_path / "taken").write_text("a file")
    out = str(tmp_path / where)
    result = run_eval("export", "--checkpoint", checkpoint, "--arch", "4", "--out-dir", out, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"cannot write the export to {out!r}" in result.stderr.strip().splitlines()[-1]
    assert (tmp_path / "taken").read_text() == "a file"


def test_budget_in_bytes_picks_under_the_flash_budget(tmp_path):
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")  # Pendulum: 3 inputs, 1 action; constants 8 bytes
    for flags, int8 in (([], False), (["--int8"], True)):
        result = run_eval("budget", "--checkpoint", checkpoint, "--bytes", "2000", *flags)
        pick = archspace.parse_arch(result.stdout.split("Eq. 5 picks [")[1].split("]")[0])
        flash = archspace.flash_bytes(pick, 3, 1, int8) + 8
        assert f"flash {flash} bytes" in result.stdout and flash <= 2000
        expected = archspace.select_under_budget(
            archspace.all_archs(), 2000 - 8, 3, 1, cost=lambda a, i, o: archspace.flash_bytes(a, i, o, int8)
        )
        assert pick == expected


@pytest.mark.parametrize(
    "flags, message",
    [
        (
            ["budget", "--bytes", "50"],
            "--bytes 50: no architecture fits a budget of 50 bytes of flash (float32): the smallest has 92",
        ),
        # (4,): 3*4 + 4 weights, 5 rows, 3 inputs: float32 4 * 21 + 8 constant bytes = 92, int8 16 + 8 * 5 + 4 * 3 + 8 = 76
        (["budget", "--bytes", "50", "--int8"], "50 bytes of flash (int8): the smallest has 76"),
        (["export", "--arch", "16,1024"], "outside the space"),
        (["export", "--arch", "random:1"], "--arch: bad architecture 'random:1'"),  # before: a random arch, exported
        (["export", "--arch", "4", "--c-prefix", "2fast"], "--c-prefix '2fast': allowed a C name"),
    ],
)
def test_bad_budget_and_export_input_is_a_one_line_error(tmp_path, flags, message):
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    result = run_eval(flags[0], "--checkpoint", checkpoint, *flags[1:], check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"params": 100, "bytes": 100}, "budget needs one positive budget, --params N or --bytes N"),
        ({"params": 100, "int8": True}, "--int8 counts bytes: give the budget with --bytes"),
    ],
)
def test_budget_flags_that_do_not_go_together_are_a_one_line_error(flags, message):
    """Checked before the checkpoint is read (in-process: no script start needed)."""
    with pytest.raises(SystemExit, match=re.escape(message)):
        evaluate.command_budget(evaluate.Budget(checkpoint="/nonexistent.pt", **flags))


def test_run_int8_plays_the_int8_policies_into_their_own_results(tmp_path):
    """run --int8 writes eval_<ckpt>_int8/ (meta int8: true), plays the same episode seeds as float32,
    and refuses to add int8 rows to a float32 CSV."""
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    flags = ["--archs", "4;16,16", "--episodes", "2", "--num-envs", "2"]
    run_eval("run", "--checkpoint", checkpoint, *flags)
    run_eval("run", "--checkpoint", checkpoint, *flags, "--int8")
    float_dir, int8_dir = tmp_path / "eval_ckpt", tmp_path / "eval_ckpt_int8"
    assert json.loads((int8_dir / "results.meta.json").read_text())["int8"] is True
    assert "int8" not in json.loads((float_dir / "results.meta.json").read_text())
    float_rows, int8_results = rows(float_dir / "results.csv"), rows(int8_dir / "results.csv")
    assert [r["arch"] for r in float_rows] == [r["arch"] for r in int8_results] == ["4", "16,16"]
    # the int8 policies really played: on the same episodes, the scores differ (quantised actions, another return)
    assert all(f["per_episode"] != i["per_episode"] for f, i in zip(float_rows, int8_results))
    report = (int8_dir / "report.md").read_text()
    assert "| 192 KB | int8 |" in report and "| 32 KB | float32 |" in report
    mixed = run_eval("run", "--checkpoint", checkpoint, *flags, "--int8", "--out-dir", str(float_dir), check=False)
    assert mixed.returncode != 0 and "int8 None vs True" in mixed.stderr.strip().splitlines()[-1]


def test_export_int8_of_a_checkpoint_without_policy_weights_is_a_one_line_error(tmp_path):
    checkpoint = torch.load(sac_checkpoint(tmp_path / "ckpt.pt"), weights_only=False)
    checkpoint["ghn"] = None  # neither a GHN nor a fixed MLP's weights
    torch.save(checkpoint, tmp_path / "empty.pt")
    result = run_eval("export", "--checkpoint", str(tmp_path / "empty.pt"), "--arch", "4,4", "--int8", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "holds neither a GHN nor a fixed MLP's weights" in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("command", ["run", "export"])
def test_a_checkpoint_that_would_run_code_is_refused_without_running_it(tmp_path, command):
    """evaluate.py and export.py load checkpoints with weights_only=True: tensors and plain values only. Before, both
    unpickled anything (a checkpoint could run code); GHP_UNSAFE_LOAD=1 is the way to load an older checkpoint of one's own."""
    marker = tmp_path / "code-ran"
    torch.save({"algo": "sac", "env_id": "Pendulum-v1", "payload": RunsCode(marker)}, tmp_path / "evil.pt")
    flags = ["--checkpoint", str(tmp_path / "evil.pt"), "--arch" if command == "export" else "--archs", "4"]
    result = run_eval(command, *flags, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr and not marker.exists()
    assert "holds more than weights" in result.stderr.strip().splitlines()[-1]
    assert "GHP_UNSAFE_LOAD=1" in result.stderr.strip().splitlines()[-1]


def test_a_video_of_an_env_that_takes_no_frame_size(tmp_path):
    """Pendulum's rgb_array takes no width/height (before: a TypeError traceback): its own frame size is used; without
    pygame (not in requirements.txt) it cannot render at all, which is a one-line error."""
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    result = run_eval(
        "export", "--checkpoint", checkpoint, "--arch", "4", "--out-dir", str(tmp_path / "x"), "--video", "1", check=False
    )
    if result.returncode == 0:
        assert (tmp_path / "x" / "video.mp4").stat().st_size > 0
    else:
        assert "Traceback" not in result.stderr and "a package it needs is missing" in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("small_disk", [96 * 1024], indirect=True)
def test_an_export_on_a_full_disk_leaves_the_earlier_one_whole(tmp_path, small_disk):
    """Before, the earlier export was deleted first and each file written in place: on a full disk policy.json,
    policy.onnx and policy_main.c were 0 bytes, the headers cut at 4096 bytes, and torch.save's error a traceback."""
    checkpoint = sac_checkpoint(tmp_path / "ckpt.pt")
    out = small_disk / "export"
    run_eval("export", "--checkpoint", checkpoint, "--arch", "4", "--out-dir", str(out))
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / "filler").write_bytes(b"x" * (free - 8192))  # room for a few KB of the new export, not all of it
    result = run_eval("export", "--checkpoint", checkpoint, "--arch", "16,16", "--out-dir", str(out), check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "cannot write" in result.stderr.strip().splitlines()[-1]
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before  # the [4] export, whole


def test_int8_on_infinite_huge_and_denormal_inputs_is_the_same_in_c_and_python(exported):
    """Before, inf, -inf or 3e38 in an observation gave a full-scale action in policy_int8.h (lrintf of inf / inf,
    clamped) where the float32 header and int8_forward gave NaN, and a denormal input (1e-45, whose scale underflows
    to 0) 0.0917 in C and NaN in Python. Now: a non-finite input (after Fetch's clipping) gives NaN, a scale that
    underflows is 1 (the input quantises to 0), in both, bit for bit."""
    io = exported.io
    rows = np.repeat(exported.raw[:1], 5, axis=0)
    rows[:, 0] = [np.inf, -np.inf, 3e38, 1e-45, 0.0]
    rows[4, :] = 1e-45  # every input denormal
    c_actions = compile_and_run(exported.out, rows, int8=True)
    observations = [{"observation": r[: io.obs_dim], "desired_goal": r[io.obs_dim :]} for r in rows] if io.goal_env else rows
    layers = [(torch.as_tensor(w), torch.as_tensor(b)) for w, b in linears(exported.mlp)]
    with np.errstate(over="ignore", invalid="ignore"):
        inputs = c_inputs(io, observations)
    pre_tanh = export.int8_forward(export.quantise_policy(layers), torch.as_tensor(inputs)).numpy()
    python_actions = actions_from(io, pre_tanh)
    assert np.array_equal(np.isnan(c_actions), np.isnan(python_actions))
    finite = ~np.isnan(c_actions)
    assert np.all(
        np.abs(c_actions[finite] - python_actions[finite]) <= np.broadcast_to(tanh_tolerance(io), c_actions.shape)[finite]
    )
    if not io.goal_env:  # unclipped SAC inputs: inf and -inf give NaN; the denormal rows a finite action
        assert np.isnan(c_actions[:2]).all() and not np.isnan(c_actions[3:]).any()
