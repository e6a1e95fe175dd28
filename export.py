"""Export one architecture's policy from a checkpoint of ghp_sac.py or ghp_ddpg_her.py: the deployment path.

    python export.py --checkpoint runs/RUN/checkpoint.pt --arch 16,16 --out-dir deploy  # policy.pt/.json/.onnx, policy.h
    python export.py --checkpoint CKPT --arch 16,16 --int8                              # ... and policy_int8.h
    MUJOCO_GL=egl python export.py --checkpoint CKPT --arch 16,16 --video 3            # ... and video.mp4 of 3 episodes

Writes policy.pt (a plain nn.Sequential's state_dict, the action-mean head), policy.json (what the folder holds: env,
checkpoint fingerprint, arch, input layout, action bounds and transforms), policy.onnx (the whole pipeline: input
normalisation, MLP, tanh, action scale; policy.json in its metadata), policy.h (dependency-free C99) and
policy_main.c (an example: CSV observations in, CSV actions out), with --int8 also policy_int8.h (int8 weights,
int16 observation, int8 activations);
prints the flash and RAM bytes and the C policy's time per action. Also the library of evaluate.py: loading a
checkpoint's policy with the training scripts' own input and action transforms (PolicyIO), and the int8
arithmetic that `evaluate.py run --int8` plays.
"""

import hashlib
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import onnx
import torch
import tyro

import archspace
import ghp_ddpg_her  # the training scripts' own input and action transforms (PolicyIO)
import ghp_sac
from ghn import GHN, FixedMLP, mlp_forward, params_to_mlp


@dataclass
class Args:
    """Export one architecture's generated policy (no evaluation)."""

    checkpoint: str = ""
    """checkpoint.pt or ghn_*.pt (or a fixed-MLP checkpoint: its one architecture)"""
    arch: str = ""
    """the architecture, e.g. 16,16 (a fixed-MLP checkpoint: its own, the default)"""
    out_dir: str = ""
    """output folder (default: <checkpoint folder>/export_<arch>/)"""
    int8: bool = False
    """also write policy_int8.h: int8 weights (float32 scales per row and per input), int16 input, int8 activations"""
    c_prefix: str = "ghp"
    """first word of every C name in the headers (<prefix>_policy, <PREFIX>_IN_DIM): two policies in one program need two"""
    video: int = 0
    """also record this many deterministic episodes as <out-dir>/video.mp4 (headless: MUJOCO_GL=egl or osmesa)"""
    seed: int = 0
    """episode e of the video starts from seed + e, as in evaluate.py run"""
    video_size: int = 480
    """width and height of the video's frames in pixels"""


def fail(message):
    raise SystemExit(f"{os.path.basename(sys.argv[0])}: {message}")


def write_files(folder, writers, replaces=()):
    """Each (name, write) of `writers` writes <folder>/<name>.partial (write(path)); only when all are complete do they
    replace the files of those names, and the files named in `replaces` that these writers do not give are removed then.
    A kill or a full disk meanwhile leaves the earlier files as they were, never a partial one (a .partial at most, removed
    at the next write); a failure is a one-line error that names the file."""
    partial = [os.path.join(folder, name + ".partial") for name, _ in writers]
    os.makedirs(folder, exist_ok=True)  # (a file in its place: the caller's OSError)
    try:
        for (name, write), path in zip(writers, partial):
            failing = name
            write(path)
    except (OSError, RuntimeError) as error:  # torch.save reports a full disk as a RuntimeError of its zip writer
        for path in [path for path in partial if os.path.exists(path)]:
            os.remove(path)
        fail(f"cannot write {os.path.join(folder, failing)}: {getattr(error, 'strerror', None) or error}")
    for name in [name for name in replaces if name not in dict(writers)]:
        if os.path.isfile(os.path.join(folder, name)):
            os.remove(os.path.join(folder, name))
    for (name, _), path in zip(writers, partial):
        os.replace(path, os.path.join(folder, name))


def write_text(text):
    """A writer for write_files: `text` into the file."""

    def write(path):
        with open(path, "w", newline="") as f:
            f.write(text)

    return write


def load_checkpoint(path):
    """The checkpoint dict plus its policy network (a GHN, or a FixedMLP); one-line errors for missing or foreign
    files. The keys read: algo, args, env_id, obs_dim, (goal_dim,) act_dim, and ghn or baseline_arch and baseline_state
    (the training scripts' save blocks; evaluate.py's PolicyIO also reads obs_norm and goal_norm of ghp_ddpg_her.py)."""
    if not os.path.isfile(path):
        fail(f"no checkpoint file {path!r}")
    unsafe = os.environ.get("GHP_UNSAFE_LOAD") == "1"  # a checkpoint of commit f694d5f or earlier, of your own
    try:  # weights_only: tensors and plain values only, so loading a stranger's file runs no code
        checkpoint = torch.load(path, map_location="cpu", weights_only=not unsafe)
    except pickle.UnpicklingError as error:
        refused = [line for line in str(error).splitlines() if "GLOBAL" in line]  # an object weights_only refuses
        if not refused:  # cut or foreign bytes
            fail(f"cannot read checkpoint {path!r}: not a torch checkpoint, or a cut one")
        fail(f"{path!r} holds more than weights ({refused[0].strip()[:100]}): a checkpoint of ghp before the "
             "weights-only format? If it is your own, load it with GHP_UNSAFE_LOAD=1 (unpickling can run code)")  # fmt: skip
    except Exception as error:
        reason = (str(error).splitlines() or ["an empty or cut file"])[0][:120]  # an empty file's EOFError says nothing
        fail(f"cannot read checkpoint {path!r} ({type(error).__name__}: {reason})")
    if not isinstance(checkpoint, dict) or checkpoint.get("algo") not in ("sac", "ddpg_her"):
        fail(f"{path!r} is not a checkpoint of ghp_sac.py or ghp_ddpg_her.py")
    state = (checkpoint.get("ghn") or {}).get("state_dict") or checkpoint.get("baseline_state") or {}
    if any(torch.is_tensor(value) and value.is_floating_point() and not value.isfinite().all() for value in state.values()):
        fail(f"{path!r}: its policy weights hold NaN or inf (a run that diverged): nothing to evaluate or export")
    if checkpoint.get("ghn") is not None:
        return checkpoint, GHN.from_checkpoint(checkpoint["ghn"])
    # a fixed MLP (--baseline-arch run, bc_distill.py): the training script's actor, one architecture
    if checkpoint.get("baseline_arch") is None or checkpoint.get("baseline_state") is None:
        fail(f"{path!r} holds neither a GHN nor a fixed MLP's weights")
    sac = checkpoint["algo"] == "sac"  # SAC's policies output (mean, log_std), DDPG's the action from (obs, goal)
    in_dim, out_dim = checkpoint["obs_dim"] + (0 if sac else checkpoint["goal_dim"]), checkpoint["act_dim"] * (2 if sac else 1)
    actor = FixedMLP(checkpoint["baseline_arch"], in_dim, out_dim)
    actor.load_state_dict(checkpoint["baseline_state"])
    return checkpoint, actor


def load_policy(path, stochastic=False):
    """(checkpoint, policy network, PolicyIO) of a checkpoint file. The policy network is a GHN, or for
    a fixed-MLP checkpoint the FixedMLP, which has the GHN's interface for its
    one architecture."""
    checkpoint, ghn = load_checkpoint(path)
    if stochastic and checkpoint["algo"] != "sac":
        fail(f"--stochastic samples a ghp_sac.py policy; {path} is from ghp_ddpg_her.py, whose policy is deterministic")
    env = make_env(checkpoint["env_id"])
    io = PolicyIO(checkpoint, env.action_space, stochastic)
    env.close()
    return checkpoint, ghn, io


def policy_fingerprint(checkpoint):
    """Hex digest of everything that determines the generated policies' actions: algorithm, env,
    dimensions, the GHN's config and weights, and the input normalisers (ghp_ddpg_her.py)."""
    digest = hashlib.sha256()
    for key in ("algo", "env_id", "obs_dim", "goal_dim", "act_dim"):
        digest.update(f"{key}={checkpoint.get(key)};".encode())
    if checkpoint.get("ghn") is not None:
        config, state = checkpoint["ghn"]["config"], checkpoint["ghn"]["state_dict"]
    else:
        config, state = {"baseline_arch": list(checkpoint["baseline_arch"])}, checkpoint["baseline_state"]
    digest.update(json.dumps(config, sort_keys=True).encode())
    for name, tensor in sorted(state.items()):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    for key in ("obs_norm", "goal_norm"):
        if key in checkpoint:
            for field in ("sum", "sumsq", "count"):
                digest.update(np.asarray(checkpoint[key][field], np.float64).tobytes())
    return digest.hexdigest()[:16]


def make_env(env_id, **kwargs):
    """The checkpoint's env (importing ghp_ddpg_her registers the Fetch ids); a one-line error if it cannot be made."""
    try:
        return gym.make(env_id, **kwargs)
    except gym.error.DependencyNotInstalled as error:
        fail(f"env {env_id!r} cannot be made here, a package it needs is missing: {error}")
    except gym.error.Error as error:
        fail(f"unknown env id {env_id!r}: {error}")


class PolicyIO:
    """What happens around a generated MLP: the training script's own input preparation and
    deterministic action transform (ghp_sac.deterministic_action; ghp_ddpg_her.PolicyInputs and
    ghp_ddpg_her.deterministic_action), loaded with the checkpoint's normalisers and clip settings,
    plus the same constants in float32 for the exported C code. With stochastic (SAC), actions are
    sampled from the policy's squashed Gaussian with the noise given to actions()."""

    def __init__(self, checkpoint, action_space, stochastic=False):
        self.goal_env, self.stochastic = checkpoint["algo"] == "ddpg_her", stochastic
        # what an episode's score is
        self.score_name = (
            "success rate at the final step" if self.goal_env else "return of sampled actions" if stochastic else "return"
        )
        self.obs_dim, self.goal_dim, self.act_dim = checkpoint["obs_dim"], checkpoint.get("goal_dim", 0), checkpoint["act_dim"]
        low, high = action_space.low.astype(np.float64), action_space.high.astype(np.float64)
        self.action_low, self.action_high = low, high
        saved = checkpoint.get("args", {})  # the flags that change the transforms: the authors' (docs/method.md S3, S4, D1)
        self.raw_actor, self.log_std_clamp = saved.get("raw_actor", False), saved.get("log_std_clamp", False)
        if self.goal_env:  # ghp_ddpg_her.py: normalised (observation, goal) in, tanh(output) * max_action out
            self.in_dim = checkpoint["obs_dim"] + checkpoint["goal_dim"]
            self.max_action = float(action_space.high[0])
            self.action_scale, self.action_bias = np.full(self.act_dim, high[0]), np.zeros(self.act_dim)
            self.clip_obs, self.clip_norm = saved["clip_obs"], saved["clip_norm"]
            self.policy_inputs = ghp_ddpg_her.PolicyInputs(
                checkpoint["obs_dim"], checkpoint["goal_dim"], self.clip_obs, self.clip_norm, torch.device("cpu")
            )
            self.policy_inputs.obs_norm.load_state_dict(checkpoint["obs_norm"])
            self.policy_inputs.goal_norm.load_state_dict(checkpoint["goal_norm"])
            norms = (self.policy_inputs.obs_norm, self.policy_inputs.goal_norm)
            self.input_mean = np.concatenate([n.mean for n in norms]).astype(np.float32)  # for the C export
            self.input_std = np.concatenate([n.std for n in norms]).astype(np.float32)
        else:  # ghp_sac.py: raw observations in, tanh(mean) scaled to the action bounds (--unscaled-actions: not) out
            self.in_dim = checkpoint["obs_dim"]
            self.action_scale, self.action_bias = (high - low) / 2.0, (high + low) / 2.0
            if saved.get("unscaled_actions"):
                self.action_scale, self.action_bias = np.ones(self.act_dim), np.zeros(self.act_dim)
            self.input_mean = self.input_std = None

    def inputs(self, observations):
        """Observations (an array, or a list of Fetch dicts) -> float32 policy inputs (CPU tensor)."""
        if not self.goal_env:
            return torch.as_tensor(np.asarray(observations, np.float32))
        return self.policy_inputs(
            np.stack([o["observation"] for o in observations]), np.stack([o["desired_goal"] for o in observations])
        )

    def actions(self, outputs, noise=None):
        """Generated network outputs (a tensor) -> env actions (float32 numpy), as in training; with
        standard normal `noise` (rows x act_dim) the SAC policy's sample tanh(mean + std * noise), scaled."""
        outputs = outputs.cpu()
        if self.goal_env:  # (a --raw-actor's action clipped to the bounds here, as the env clips it)
            action = ghp_ddpg_her.deterministic_action(outputs, self.max_action, self.raw_actor)
            return (action.clamp(-self.max_action, self.max_action) if self.raw_actor else action).numpy()
        outputs = outputs[:, : 2 * self.act_dim]  # (mean, log_std)
        scale, bias = torch.tensor(self.action_scale, dtype=torch.float32), torch.tensor(self.action_bias, dtype=torch.float32)
        if noise is None:
            return ghp_sac.deterministic_action(outputs, scale, bias).numpy()
        mean, std = ghp_sac.mean_and_std(outputs, self.log_std_clamp)
        return (torch.tanh(mean + std * noise) * scale + bias).numpy()


def quantise_rows(matrix, levels=127):
    """Symmetric quantisation with one float32 scale per row: scale = max|row| / levels (1 where that is 0: a zero
    row, or one so small that the division underflows, which then quantises to 0) and q = round(row / scale), half to
    even as C's lrintf, in [-levels, levels]: int8 with levels 127, int16 with 32767. A row with an infinite or NaN
    entry gives NaN there (as policy_int8.h). Returns (q as float32, scale)."""
    scale = matrix.abs().amax(1) / levels
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    quantised = torch.round(matrix / scale[:, None]).clamp(-levels, levels)
    return torch.where(matrix.isfinite().all(1, keepdim=True), quantised, torch.nan), scale


INT8_MAX_FAN_IN = 2**24 // (127 * 127)  # 1040: sums of int8 products stay exact in float32 below 2^24
INPUT_LEVELS = 32767  # the observation is quantised to int16 (see quantise_policy)
INPUT_MAX_DIM = (2**31 - 1) // (INPUT_LEVELS * 127)  # 516: the first layer's int16 x int8 sums fit int32


def quantise_policy(params):
    """[(W, b), ...] -> (c, [(q, row scale, b), ...]) of the int8 policy (export --int8). The first
    layer's weights get a float32 scale per input too, c = max|column| (1 for a zero column), folded
    into the observation (x * c), and its rows are quantised as W / c; the observation is quantised to
    int16. Both for Humanoid, whose observation holds joint readings of ~0.1 beside contact forces of
    ~1000: one int8 scale per observation rounds the small readings to 0, and one weight scale per row
    rounds the small weights of the large inputs to 0 (every policy fell, or lost half its return)."""
    if params[0][0].shape[1] > INPUT_MAX_DIM:
        fail(f"int8: {params[0][0].shape[1]} inputs; the int16 x int8 sums of the first layer fit int32 up to {INPUT_MAX_DIM}")
    if any(weight.shape[1] > INT8_MAX_FAN_IN for weight, _ in params[1:]):
        fail(f"int8: a layer with more than {INT8_MAX_FAN_IN} inputs would need int32 sums beyond float32's exact range")
    first = params[0][0].float()
    column_max = first.abs().amax(0)
    column_scale = torch.where(column_max > 0, column_max, torch.ones_like(column_max))
    weights = [first / column_scale] + [weight.float() for weight, _ in params[1:]]
    return column_scale, [(*quantise_rows(weight), bias.float()) for weight, (_, bias) in zip(weights, params)]


def int8_forward(policy, inputs):
    """The int8 C policy's arithmetic (policy from quantise_policy): the observation times the input
    scales, quantised to int16, and every hidden layer's float32 output to int8, each with one scale
    per vector (quantise_rows); integer products summed exactly (the first layer's in float64, the
    others' in float32: |sum| <= 127 * 127 * fan_in < 2^24), the sum rounded to float32 as C's (float)
    of its int32 sum, then sum * (row scale * input scale) + bias in float32, ReLU between layers."""
    column_scale, layers = policy
    x = inputs * column_scale
    for k, (q, scale, bias) in enumerate(layers):
        xq, x_scale = quantise_rows(x, INPUT_LEVELS if k == 0 else 127)
        sums = (xq.double() @ q.double().T).float() if k == 0 else xq @ q.T
        x = sums * (scale * x_scale[:, None]) + bias
        x = torch.relu(x) if k < len(layers) - 1 else x
    return x


def constant_bytes(io):
    """Flash bytes beside the weights: float32 action scale and bias, and a Fetch policy's input mean and std."""
    return 4 * (2 * io.act_dim + (2 * io.in_dim if io.goal_env else 0))


def policy_dims(io):
    """(in_dim, act_dim, constant bytes): what the byte counts of a checkpoint's policies depend on."""
    return io.in_dim, io.act_dim, constant_bytes(io)


def write_onnx(mlp, io, path, metadata):
    """policy.onnx: the whole pipeline as one ONNX graph (opset 17) built node by node: Fetch input
    clipping and normalisation, Gemm and Relu layers, Tanh, action scale and bias. Input "input"
    [batch, in_dim] float32 (raw observation, or observation and desired goal concatenated), output
    "action" [batch, act_dim]. metadata: what policy.json records, as JSON strings in the model's metadata_props."""
    helper, initializers, nodes = onnx.helper, [], []

    def constant(name, value):
        initializers.append(onnx.numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def node(op, inputs, output=None, **attributes):
        output = output or f"{op.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    x = "input"
    if io.goal_env:  # as ghp_ddpg_her.PolicyInputs: clip, normalise, clip
        x = node("Clip", [x, constant("clip_obs_low", -io.clip_obs), constant("clip_obs_high", io.clip_obs)])
        x = node("Div", [node("Sub", [x, constant("input_mean", io.input_mean)]), constant("input_std", io.input_std)])
        x = node("Clip", [x, constant("clip_norm_low", -io.clip_norm), constant("clip_norm_high", io.clip_norm)])
    linears = [layer for layer in mlp if isinstance(layer, torch.nn.Linear)]
    for i, layer in enumerate(linears):
        x = node("Gemm", [x, constant(f"w{i}", layer.weight.detach()), constant(f"b{i}", layer.bias.detach())], transB=1)
        x = node("Relu", [x]) if i < len(linears) - 1 else x
    x = node("Mul", [node("Tanh", [x]), constant("action_scale", io.action_scale)])
    node("Add", [x, constant("action_bias", io.action_bias)], output="action")
    graph = helper.make_graph(
        nodes,
        "ghp_policy",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, ["batch", io.in_dim])],
        [helper.make_tensor_value_info("action", onnx.TensorProto.FLOAT, ["batch", io.act_dim])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="ghp export.py")
    onnx.helper.set_model_props(model, {key: json.dumps(value) for key, value in metadata.items()})
    model.ir_version = 8  # the IR of opset 17's release: loads in onnxruntime >= 1.12 and other runtimes of that age
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


def c_header(mlp, io, arch, int8=False, prefix="ghp"):
    """policy.h (float32) or policy_int8.h: dependency-free C99, `<prefix>_policy(input, action)` (the int8 header's
    names are <prefix>_int8_...: both headers, or two policies of other prefixes, can live in one program). The int8
    header stores int8 weights with a float32 scale per output row and computes int8_forward()."""

    def literal(value):  # a C float literal that round-trips float32: 2 -> 2.0f, 1e-05 -> 1e-05f
        text = f"{float(value):.9g}"
        return (text if any(c in text for c in ".e") else text + ".0") + "f"

    def array(name, values, kind="float"):
        values = np.asarray(values, np.float32).ravel()
        flat = ", ".join(str(int(v)) for v in values) if kind == "int8_t" else ", ".join(literal(v) for v in values)
        return f"static const {kind} {name}[{values.size}] = {{{flat}}};"

    linears = [layer for layer in mlp if isinstance(layer, torch.nn.Linear)]
    widths = [io.in_dim, *arch, io.act_dim]
    flash, ram = archspace.policy_bytes(arch, policy_dims(io), int8)
    lines = [
        "/* Policy generated by a graph hyper network (ghp export.py). C99, no dependencies.",
        f" * Architecture {list(arch)}: {io.in_dim} inputs -> {io.act_dim} actions, "
        f"{archspace.num_params(arch, io.in_dim, io.act_dim)} parameters, "
        + (
            "int8 weights (float32 scales per output row and per input), int16 observation, int8 activations, int32 sums"
            if int8
            else "float32"
        )
        + f": {flash} bytes of constants, {ram} bytes of activation buffers.",
        " * Usage: float action[GHP_ACT_DIM]; ghp_policy(input, action); input as described in policy.json.",
        " * Include it in the one .c file that calls ghp_policy (its weights are static const data of that file). */",
        "#ifndef GHP_POLICY_H",
        "#define GHP_POLICY_H",
        "#include <math.h>",
        *(["#include <stdint.h>"] if int8 else []),
        f"#define GHP_IN_DIM {io.in_dim}",
        f"#define GHP_ACT_DIM {io.act_dim}",
        "",
    ]
    if int8:
        column_scale, quantised = quantise_policy([(layer.weight.detach(), layer.bias.detach()) for layer in linears])
        lines.append(array("ghp_c0", column_scale))
        for i, (q, scale, bias) in enumerate(quantised):
            lines += [array(f"ghp_w{i}", q, "int8_t"), array(f"ghp_s{i}", scale), array(f"ghp_b{i}", bias)]
    else:
        for i, layer in enumerate(linears):
            lines += [array(f"ghp_w{i}", layer.weight.detach()), array(f"ghp_b{i}", layer.bias.detach())]
    lines += [array("ghp_action_scale", io.action_scale), array("ghp_action_bias", io.action_bias)]
    if io.goal_env:
        lines += [array("ghp_input_mean", io.input_mean), array("ghp_input_std", io.input_std)]
    if int8:
        lines += [
            "",
            "/* y = W x + b, W = q * s per row: x quantised with one scale (max|x| / levels: 32767 for the observation,",
            "   int16; 127 for hidden layers, int8; 1 where that is 0, as for a zero x or one so small that the division",
            "   underflows, which then quantises to 0), exact int32 sums. An input that is infinite or NaN gives NaN",
            "   outputs, as the float32 policy and export.py's int8_forward */",
            "static inline void ghp_linear(const int8_t *w, const float *s, const float *b, const float *x, int16_t *xq,",
            "                              float *y, int n_out, int n_in, int relu, float levels) {",
            "    float maxabs = 0.0f;",
            "    for (int i = 0; i < n_in; ++i) {",
            "        if (!isfinite(x[i])) {",
            "            for (int o = 0; o < n_out; ++o) y[o] = NAN;",
            "            return;",
            "        }",
            "        maxabs = fabsf(x[i]) > maxabs ? fabsf(x[i]) : maxabs;",
            "    }",
            "    float sx = maxabs / levels;",
            "    sx = sx > 0.0f ? sx : 1.0f;",
            "    long top = (long)levels;",
            "    for (int i = 0; i < n_in; ++i) {",
            "        long q = lrintf(x[i] / sx);",
            "        xq[i] = (int16_t)(q > top ? top : (q < -top ? -top : q));",
            "    }",
            "    for (int o = 0; o < n_out; ++o) {",
            "        int32_t acc = 0;",
            "        for (int i = 0; i < n_in; ++i) acc += (int32_t)w[o * n_in + i] * xq[i];",
            "        float v = (float)acc * (s[o] * sx) + b[o];",
            "        y[o] = (relu && v < 0.0f) ? 0.0f : v;",
            "    }",
            "}",
        ]
    else:
        lines += [
            "",
            "static inline void ghp_linear(const float *w, const float *b, const float *x, float *y, int n_out, int n_in,",
            "                              int relu) {",
            "    for (int o = 0; o < n_out; ++o) {",
            "        float acc = b[o];",
            "        for (int i = 0; i < n_in; ++i) acc += w[o * n_in + i] * x[i];",
            "        y[o] = (relu && acc < 0.0f) ? 0.0f : acc;",
            "    }",
            "}",
        ]
    # buffer a holds the input and the outputs of layers 2, 4, ...; buffer b those of layers 1, 3, ...
    lines += ["", "static inline void ghp_policy(const float *input, float *action) {"]
    lines.append(f"    float a[{max(widths[0::2])}], b[{max(widths[1::2])}];")
    if int8:
        lines.append(f"    int16_t xq[{max(widths[:-1])}];")
    if io.goal_env:
        clip_obs, clip_norm = literal(io.clip_obs), literal(io.clip_norm)
        lines += [
            "    for (int i = 0; i < GHP_IN_DIM; ++i) {",
            "        float v = input[i];",
            f"        v = v > {clip_obs} ? {clip_obs} : (v < -{clip_obs} ? -{clip_obs} : v);",
            "        v = (v - ghp_input_mean[i]) / ghp_input_std[i];",
            f"        a[i] = v > {clip_norm} ? {clip_norm} : (v < -{clip_norm} ? -{clip_norm} : v);",
            "    }",
        ]
    else:
        lines += ["    for (int i = 0; i < GHP_IN_DIM; ++i) a[i] = input[i];"]
    if int8:
        lines += ["    for (int i = 0; i < GHP_IN_DIM; ++i) a[i] *= ghp_c0[i]; /* the first layer's input scales */"]
    for i, layer in enumerate(linears):
        source, target = "ab"[i % 2], "ab"[(i + 1) % 2]
        weights = f"ghp_w{i}, ghp_s{i}, ghp_b{i}, {source}, xq" if int8 else f"ghp_w{i}, ghp_b{i}, {source}"
        relu = 1 if i < len(linears) - 1 else 0
        levels = f", {INPUT_LEVELS if i == 0 else 127}.0f" if int8 else ""
        lines.append(f"    ghp_linear({weights}, {target}, {layer.out_features}, {layer.in_features}, {relu}{levels});")
    final = "ab"[len(linears) % 2]
    lines += [
        f"    for (int o = 0; o < GHP_ACT_DIM; ++o) action[o] = tanhf({final}[o]) * ghp_action_scale[o] + ghp_action_bias[o];",
        "}",
        "",
        "#endif",
        "",
    ]
    name = f"{prefix}_int8" if int8 else prefix  # every C name of the header starts with it
    return "\n".join(lines).replace("ghp_", f"{name}_").replace("GHP_", f"{name.upper()}_")


def c_time_per_action(header, calls):
    """Median seconds per <prefix>_policy() call of a C header compiled with cc -O2 on this CPU: 101
    samples of `calls` calls each, every action feeding the next input and the last one printed, so
    that no call can be optimised away.
    None where there is no C compiler."""
    if shutil.which("cc") is None:
        return None
    with open(header) as f:
        name = re.search(r"#define (\w+)_IN_DIM ", f.read()).group(1).lower()  # the header's prefix: ghp, ghp_int8, ...
    program = f"""#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "{os.path.abspath(header)}"
static int compare(const void *x, const void *y) {{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}}
int main(void) {{
    float input[{name.upper()}_IN_DIM], action[{name.upper()}_ACT_DIM];
    double samples[101];
    for (int i = 0; i < {name.upper()}_IN_DIM; ++i) input[i] = 0.1f * (float)(i % 7) - 0.3f;
    for (int s = 0; s < 101; ++s) {{
        struct timespec start, end;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (long c = 0; c < {calls}L; ++c) {{
            {name}_policy(input, action);
            input[c % {name.upper()}_IN_DIM] = 0.5f * input[c % {name.upper()}_IN_DIM] + 0.1f * action[0];
        }}
        clock_gettime(CLOCK_MONOTONIC, &end);
        samples[s] = ((double)(end.tv_sec - start.tv_sec) + 1e-9 * (double)(end.tv_nsec - start.tv_nsec)) / {calls}.0;
    }}
    qsort(samples, 101, sizeof(double), compare);
    printf("%.6e %g\\n", samples[50], (double)action[0]);  /* the actions are used: no call is optimised away */
    return 0;
}}
"""
    with tempfile.TemporaryDirectory() as folder:
        source, binary = os.path.join(folder, "time.c"), os.path.join(folder, "time")
        with open(source, "w") as f:
            f.write(program)
        subprocess.run(["cc", "-std=c99", "-O2", source, "-o", binary, "-lm"], check=True, capture_output=True)
        return float(subprocess.run([binary], check=True, capture_output=True, text=True).stdout.split()[0])


EXPORT_FILES = ("policy.pt", "policy.json", "policy.onnx", "policy.h", "policy_int8.h", "policy_main.c", "video.mp4")


def main_c(prefix):
    """policy_main.c: an example program around the headers that reads observations from stdin as CSV, one per line,
    and prints each one's action as CSV; -DINT8 builds it around policy_int8.h."""
    return f"""/* Example: reads inputs from stdin as CSV, one per line, and prints each one's action as CSV.
 *   cc -std=c99 -O2 policy_main.c -o policy -lm                  (float32: policy.h)
 *   cc -std=c99 -O2 -DINT8 policy_main.c -o policy_int8 -lm      (int8: policy_int8.h)
 *   ./policy < observations.csv > actions.csv
 * A line holds IN_DIM numbers: the input that policy.json describes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef INT8
#include "policy_int8.h"
#define IN_DIM {prefix.upper()}_INT8_IN_DIM
#define ACT_DIM {prefix.upper()}_INT8_ACT_DIM
#define POLICY {prefix}_int8_policy
#else
#include "policy.h"
#define IN_DIM {prefix.upper()}_IN_DIM
#define ACT_DIM {prefix.upper()}_ACT_DIM
#define POLICY {prefix}_policy
#endif

int main(void) {{
    static char text[1 << 16];
    float input[IN_DIM], action[ACT_DIM];
    for (long line = 1; fgets(text, sizeof text, stdin); ++line) {{
        char *p = text, *end;
        int n = 0;
        while (n < IN_DIM) {{
            input[n] = strtof(p, &end);
            if (end == p) break; /* not a number */
            p = end + strspn(end, " \\t");
            if (++n < IN_DIM) {{
                if (*p != ',') break;
                ++p;
            }}
        }}
        p += strspn(p, " \\t\\r\\n");
        if (n != IN_DIM || *p != '\\0') {{
            fprintf(stderr, "policy_main: line %ld: expected %d comma-separated numbers\\n", line, IN_DIM);
            return 1;
        }}
        POLICY(input, action);
        for (int o = 0; o < ACT_DIM; ++o) printf(o ? ",%.9g" : "%.9g", action[o]);
        printf("\\n");
    }}
    return 0;
}}
"""


def export_policy(ghn, io, arch, out_dir, int8=False, about=None, prefix="ghp"):
    """policy.pt (state_dict of a plain nn.Sequential, mean head only), policy.json (what the folder holds: the policy,
    its pre/post-processing and `about`: env id, checkpoint fingerprint), policy.onnx (policy.json's entries in its
    metadata_props), policy.h, policy_main.c and with int8 policy_int8.h; the files of an earlier export there that
    this one does not write are removed. Returns the plain nn.Sequential."""
    mlp = params_to_mlp(ghn([arch])[0], out_rows=io.act_dim)  # a GHN or a fixed MLP; SAC's 2a outputs: the mean head
    meta = {
        **(about or {}),
        "arch": list(arch),
        "params": archspace.num_params(arch, io.in_dim, io.act_dim),
        "files": {"policy.pt": "float32", "policy.onnx": "float32", "policy.h": "float32"}
        | ({"policy_int8.h": "int8 weights, int16 input, int8 activations"} if int8 else {}),
        "c_prefix": prefix,
        "in_dim": io.in_dim,
        "act_dim": io.act_dim,
        "input": f"observation[{io.obs_dim}]"
        if not io.goal_env
        else f"concat(observation[{io.obs_dim}], desired_goal[{io.goal_dim}]), clipped to +-clip_obs, minus input_mean, "
        "over input_std, clipped to +-clip_norm",
        "action": "tanh(mlp(input)) * action_scale + action_bias",
        "action_low": io.action_low.tolist(),
        "action_high": io.action_high.tolist(),
        "action_scale": io.action_scale.tolist(),
        "action_bias": io.action_bias.tolist(),
    }
    if io.goal_env:
        meta.update(
            input_mean=io.input_mean.tolist(), input_std=io.input_std.tolist(), clip_obs=io.clip_obs, clip_norm=io.clip_norm
        )
    writers = [
        ("policy.pt", lambda path: torch.save(mlp.state_dict(), path)),
        ("policy.json", write_text(json.dumps(meta, indent=2))),
    ]
    writers += [("policy.onnx", lambda path: write_onnx(mlp, io, path, meta))]
    writers += [
        (name, write_text(c_header(mlp, io, arch, quantised, prefix)))
        for name, quantised in (("policy.h", False), ("policy_int8.h", True))[: 1 + int8]
    ]
    # the new files replace an earlier export's only once all are written; nothing stale stays (a policy_int8.h or
    # video.mp4 of another arch would pass for this one's)
    write_files(out_dir, writers + [("policy_main.c", write_text(main_c(prefix)))], replaces=EXPORT_FILES)
    return mlp


@torch.no_grad()
def record_video(ghn, io, env_id, arch, episodes, seed, size, path):
    """Deterministic episodes (seeds seed, seed + 1, ...) of arch's policy, every step rendered, as one MP4;
    returns (frames, score per episode)."""
    import imageio.v2 as imageio

    try:
        env = make_env(env_id, render_mode="rgb_array", width=size, height=size)
    except TypeError:  # an env that takes no frame size (not MuJoCo, e.g. Pendulum): its own size
        env = make_env(env_id, render_mode="rgb_array")
    params, frames, scores = ghn([arch])[0], [], []
    for episode in range(episodes):
        observation, _ = env.reset(seed=seed + episode)
        try:
            frames.append(env.render())
        except gym.error.DependencyNotInstalled as error:  # a renderer that is not MuJoCo's (Pendulum: pygame)
            fail(f"cannot render {env_id}: a package it needs is missing: {error}")
        except Exception as error:  # no OpenGL context: mujoco and PyOpenGL raise several kinds
            gl = os.environ.get("MUJOCO_GL") or "(unset: glfw, needs a display)"
            fail(f"cannot render with MUJOCO_GL={gl} ({type(error).__name__}): headless, install OSMesa (apt-get install "
                 "libosmesa6) and run with MUJOCO_GL=osmesa, or EGL (a GPU driver's libEGL) with MUJOCO_GL=egl")  # fmt: skip
        total, done = 0.0, False
        while not done:
            action = io.actions(mlp_forward(params, io.inputs([observation] if io.goal_env else observation[None])))[0]
            observation, reward, terminated, truncated, info = env.step(action)
            total, done = total + float(reward), terminated or truncated
            frames.append(env.render())
        scores.append(float(info["is_success"]) if io.goal_env else total)
    env.close()
    fps = env.metadata.get("render_fps", 30)
    write_files(
        os.path.dirname(path),
        [
            (
                os.path.basename(path),
                lambda partial: imageio.mimwrite(partial, frames, format="FFMPEG", fps=fps, macro_block_size=1),
            )
        ],
    )
    return len(frames), scores


def one_arch(spec):
    """The one architecture of the space that --arch names; one-line errors otherwise."""
    if not spec or ";" in spec:
        fail(f"--arch takes one architecture, e.g. --arch 16,16 (got {spec!r})")
    try:
        arch = archspace.parse_arch(spec)
    except ValueError as error:
        fail(f"--arch: {error}")
    if arch not in archspace.all_archs():
        fail(f"architecture {list(arch)} is outside the space: 1..{archspace.MAX_DEPTH} layers of {list(archspace.WIDTHS)}")
    return arch


if __name__ == "__main__":
    args = tyro.cli(Args, description=__doc__.split("\n\n")[0])
    if args.video < 0 or args.video_size < 16:
        fail(f"bad --video {args.video} or --video-size {args.video_size}: allowed 0 or more episodes, 16 or more pixels")
    checkpoint, ghn, io = load_policy(args.checkpoint)
    if io.raw_actor:
        fail(f"{args.checkpoint}: a ghp_ddpg_her.py --raw-actor run (the authors' actor, an ablation): no export of it")
    fixed = not isinstance(ghn, GHN)
    if fixed and args.arch and one_arch(args.arch) != ghn.arch:
        fail(f"{args.checkpoint} holds one fixed MLP, {list(ghn.arch)}: --arch can only be that one")
    arch = ghn.arch if fixed else one_arch(args.arch)
    out_dir = args.out_dir or os.path.join(
        os.path.dirname(os.path.abspath(args.checkpoint)), f"export_{'-'.join(map(str, arch))}"
    )
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", args.c_prefix):
        fail(f"--c-prefix {args.c_prefix!r}: allowed a C name of letters and digits, starting with a letter")
    about = {
        "env_id": checkpoint["env_id"],
        "algo": checkpoint["algo"],
        "checkpoint_fingerprint": policy_fingerprint(checkpoint),
    }
    try:
        with torch.no_grad():
            export_policy(ghn, io, arch, out_dir, args.int8, about, args.c_prefix)
    except OSError as error:  # a file where the folder should be, no permission, a full disk
        fail(f"cannot write the export to {out_dir!r}: {error.strerror or error}")
    files = "policy.pt, policy.json, policy.onnx, policy.h" + (", policy_int8.h" if args.int8 else "") + ", policy_main.c"
    params = archspace.num_params(arch, io.in_dim, io.act_dim)
    print(f"exported {list(arch)} ({params} parameters) to {out_dir}: {files}")
    calls = max(1, 2_000_000 // params)  # about 2 ms of arithmetic per timing sample
    for name, int8 in (("float32", False), ("int8", True)):
        flash, ram = archspace.policy_bytes(arch, policy_dims(io), int8)
        scales = ", row and input scales" if int8 else ""
        line = f"  {name:7s}: flash {flash} bytes (weights, biases{scales}, constants), RAM {ram} bytes"
        if args.int8 or not int8:  # a header written now: its time per action
            seconds = c_time_per_action(os.path.join(out_dir, "policy_int8.h" if int8 else "policy.h"), calls)
            line += f", {seconds * 1e6:.3f} us per action (C, cc -O2, this CPU)" if seconds is not None else ""
        print(line)
    if shutil.which("cc") is None:
        print("  (no C compiler here: no time per action)")
    if args.video:
        path = os.path.join(out_dir, "video.mp4")
        frames, scores = record_video(ghn, io, checkpoint["env_id"], arch, args.video, args.seed, args.video_size, path)
        print(f"wrote {path}: {frames} frames, {io.score_name} per episode " + ", ".join(f"{s:.2f}" for s in scores))
