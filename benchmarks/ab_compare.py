"""ab_compare.py BEFORE_DIR AFTER_DIR: issue 37's A/B. For each run kind, the final checkpoint.pt of both: every
network, optimizer, normaliser and replay-buffer tensor bit-identical; and the log lines identical once timings
(SPS, updates/s, ETA, compile seconds, MB, run dirs) are masked."""

import glob
import re
import sys

import numpy as np
import torch


def arrays(obj, prefix=""):
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(arrays(v, f"{prefix}/{k}"))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out.update(arrays(v, f"{prefix}[{i}]"))
    elif isinstance(obj, torch.Tensor):
        out[prefix] = obj.detach().cpu().numpy()
    elif isinstance(obj, np.ndarray) and obj.dtype != object:
        out[prefix] = obj
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[prefix] = np.asarray(obj)
    return out


def normalise(ckpt):
    keep = {}
    for key in (
        "ghn",
        "baseline_state",
        "qf1",
        "qf2",
        "qf1_target",
        "qf2_target",
        "qf",
        "qf_target",
        "obs_norm",
        "goal_norm",
        "log_alpha",
        "alpha",
        "global_step",
        "grad_steps",
        "epoch",
        "env_steps",
    ):
        if ckpt.get(key) is not None:
            keep[key] = ckpt[key]
    for key in ("q_optimizer", "policy_optimizer", "alpha_optimizer"):
        if ckpt.get(key) and ckpt[key]["state"]:
            keep[key] = {i: {k: v for k, v in s.items()} for i, s in ckpt[key]["state"].items()}
    buf = ckpt.get("buffer")
    if buf is not None:
        keep["buffer"] = {
            k: np.asarray(v)
            for k, v in buf.items()
            if k in ("obs", "next_obs", "actions", "rewards", "dones", "achieved", "goals", "pos", "full", "num_episodes")
        }
    flat = arrays(keep)
    return flat


def masked_log(path):
    lines = []
    for line in open(path):
        if "Warn" in line or "deprecation" in line or "Adroit" in line:
            continue
        line = re.sub(r"(SPS|updates/s)=[\d.]+", r"\1=*", line)
        line = re.sub(r" ?ETA \S+", "", line)
        line = re.sub(r"took \d+ s.*", "took *", line)
        line = re.sub(r"\(\d+ MB", "(* MB", line)
        line = re.sub(r"/\S*runs\S*", "RUN", line)
        line = re.sub(r"(step|epoch)=(\d+)/\d+", r"\1=\2", line).rstrip()  # the new progress lines show the total
        lines.append(line.rstrip())
    return lines


before, after = sys.argv[1], sys.argv[2]
ok = True
for kind in ("full", "lowrank_compile", "baseline", "reach"):
    a = torch.load(glob.glob(f"{before}/{kind}/*/checkpoint.pt")[0], weights_only=False)
    b = torch.load(glob.glob(f"{after}/{kind}/*/checkpoint.pt")[0], weights_only=False)
    fa, fb = normalise(a), normalise(b)
    missing = sorted(set(fa) ^ set(fb))
    differ = [k for k in fa if k in fb and not (fa[k].shape == fb[k].shape and np.array_equal(fa[k], fb[k]))]
    print(
        f"{kind}: {len(fa)} tensors before, {len(fb)} after, {len(set(fa) & set(fb))} compared, "
        f"{len(differ)} differ, keys in one only: {missing[:6]}{'...' if len(missing) > 6 else ''}"
    )
    for k in differ[:5]:
        print("   differs:", k)
    la, lb = masked_log(f"{before}/{kind}.log"), masked_log(f"{after}/{kind}.log")
    diff = [(x, y) for x, y in zip(la, lb) if x != y]
    print(f"   log: {len(la)} / {len(lb)} lines, {len(diff)} differ after masking timings")
    for x, y in diff[:4]:
        print("   -", x, "\n   +", y)
    ok &= not differ
print("A/B:", "bit-identical" if ok else "DIFFERENT")
