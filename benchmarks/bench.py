"""Benchmarks that print numbers: GHN generation cost, and GHP-SAC updates/s vs the baseline.

    python benchmarks/bench.py                       # everything, CPU
    python benchmarks/bench.py --parts ghn --cuda    # GHN generation only, on the GPU

Prints a table and writes benchmarks/results-<device>.json. Each number is the median of repeats.
"""

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
import tyro
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import archspace  # noqa: E402
from ghn import GHN, mlp_forward  # noqa: E402

LEARNING_STARTS = 1024  # random env steps before the timed updates of the SAC benchmark


@dataclass
class Args:
    parts: tuple[str, ...] = ("ghn", "stages", "sac", "eval", "deploy")
    """which benchmarks to run: ghn (one GHN step per decoder and generation path), stages (where the time of
    one GHN step goes, per stage), sac (ghp_sac.py updates/s), eval (evaluate.py env steps/s vs random actions),
    deploy (the exported C policy's time per action, float32 and int8, with its flash and RAM bytes)"""
    cuda: bool = False
    """run on the GPU"""
    threads: int = 2
    """torch CPU threads (the project's CI machines have 2 cores)"""
    meta_batch: int = 8
    """architectures per generation call / per SAC step"""
    repeats: int = 10
    """timed repeats (median reported) for the GHN benchmark"""
    env_id: str = "Hopper-v4"
    """environment for the SAC benchmark (sets in_dim/out_dim of the GHN benchmark too)"""
    sac_steps: int = 800
    """env steps (= gradient updates) timed in each ghp_sac.py run, after LEARNING_STARTS random steps"""
    eval_archs: int = 128
    """random architectures played by the eval benchmark"""
    eval_episodes: int = 5
    """episodes per architecture in the eval benchmark (evaluate.py's default)"""
    eval_envs: int = 16
    """env copies of the eval benchmark"""
    deploy_archs: str = "4,4;8,4,4,4;16,16;64,64;256,256;512,512,512,512"
    """architectures of the deploy benchmark"""
    out: str = ""
    """JSON output path (default benchmarks/results-<device>.json)"""


class OpCounter(TorchDispatchMode):
    """Counts the aten ops dispatched (forward, backward and optimizer alike): a device-free proxy
    for the number of kernels a step launches."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


def ghn_step(ghn, optimizer, path, archs, x):
    """One GHN training step: generate the meta-batch's policies, run input chunk b through policy b,
    backward of a loss on the outputs, fused Adam."""
    if path == "static":
        outputs = ghn.batched(ghn.arch_ids(archs))(x)
    else:
        outputs = torch.stack([mlp_forward(params, x[b]) for b, params in enumerate(ghn(archs, naive_decode=path == "naive"))])
    optimizer.zero_grad(set_to_none=True)
    outputs.square().mean().backward()
    optimizer.step()


def bench_ghn(args, device, in_dim, out_dim):
    """Per decoder and generation path: median ms of a GHN step, aten ops per step (CPU dispatch), and
    on a GPU the CUDA kernels per step (torch.profiler)."""
    rng = np.random.default_rng(0)
    space = archspace.all_archs()
    archs_per_repeat = [archspace.sample_archs(rng, args.meta_batch, space) for _ in range(args.repeats + 2)]
    x = torch.randn(args.meta_batch, 256 // args.meta_batch, in_dim, device=device)
    rows = []
    for decoder, path in (
        ("full", "cropped"),
        ("full", "naive"),
        ("full", "static"),
        ("lowrank", "reference"),
        ("lowrank", "static"),
    ):
        torch.manual_seed(0)
        ghn = GHN(in_dim, out_dim, decoder=decoder).to(device)
        optimizer = torch.optim.Adam(ghn.param_groups(1e-5), lr=1e-3, fused=True)
        times = []
        for archs in archs_per_repeat[:-1]:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            ghn_step(ghn, optimizer, path, archs, x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        counter = OpCounter()
        with counter:
            ghn_step(ghn, optimizer, path, archs_per_repeat[-1], x)
        kernels = None
        if device.type == "cuda":
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as profile:
                ghn_step(ghn, optimizer, path, archs_per_repeat[-1], x)
                torch.cuda.synchronize()
            kernels = sum(1 for event in profile.events() if event.device_type == torch.autograd.DeviceType.CUDA)
        rows.append(
            {
                "decoder": decoder,
                "path": path,
                "ms": float(np.median(times[1:])) * 1e3,
                "aten_ops": counter.count,
                "cuda_kernels": kernels,
                "ghn_params": sum(p.numel() for p in ghn.parameters()),
            }
        )
    return rows


def bench_stages(args, device, in_dim, out_dim):
    """Where one GHN step's time goes (median ms per stage, eager), for the path training uses with each
    decoder: the GNN (encoder, GRU sweeps, LayerNorm), decoding the layers, running the policies,
    backward, Adam; and, for the lowrank decoder, its two factor heads' forward + backward alone."""

    def timed(fn):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return out, (time.perf_counter() - start) * 1e3

    rng = np.random.default_rng(0)
    space = archspace.all_archs()
    x = torch.randn(args.meta_batch, 256 // args.meta_batch, in_dim, device=device)
    rows = []
    for decoder in ("full", "lowrank"):
        torch.manual_seed(0)
        ghn = GHN(in_dim, out_dim, decoder=decoder).to(device)
        optimizer = torch.optim.Adam(ghn.param_groups(1e-5), lr=1e-3, fused=True)
        static = decoder == "lowrank" or device.type == "cuda"
        stage_ms = []
        for _ in range(args.repeats + 1):
            archs = archspace.sample_archs(rng, args.meta_batch, space)
            if static:
                ids = ghn.arch_ids(archs)
                tables = ghn._space_tables()
                _, gnn = timed(lambda: ghn._embed(tables["features"][ids], tables["lengths"][ids]))
                policies, generate = timed(lambda: ghn.batched(ids))
            else:
                _, gnn = timed(lambda: ghn.embed(archs))
                params, generate = timed(lambda: ghn(archs))
                policies = lambda inputs: torch.stack([mlp_forward(p, chunk) for p, chunk in zip(params, inputs)])  # noqa: E731
            outputs, run = timed(lambda: policies(x))
            optimizer.zero_grad(set_to_none=True)
            _, backward = timed(lambda: outputs.square().mean().backward())
            _, adam = timed(optimizer.step)
            stage_ms.append([gnn, generate - gnn, run, backward, adam])
        median = np.median(stage_ms[1:], axis=0)
        row = {
            "decoder": decoder,
            "path": "static" if static else "cropped",
            **dict(zip(("gnn", "decode", "policies", "backward", "adam"), map(float, median))),
        }
        if decoder == "lowrank":
            codes = torch.randn(args.meta_batch * (ghn.max_depth + 1), 128, device=device)
            heads_ms = []
            for _ in range(args.repeats + 1):

                def heads():
                    out = ghn.row_head(codes).sum() + ghn.col_head(codes).sum()
                    out.backward()

                heads_ms.append(timed(heads)[1])
            row["heads_forward_backward"] = float(np.median(heads_ms[1:]))
        rows.append(row)
    return rows


def bench_sac(args, device_flag):
    """Run ghp_sac.py as a subprocess in GHP and baseline mode, eager and --compile, and read its
    update rate (measured after the first updates, which compile) and the compile time."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "ghp_sac.py")
    # glibc returns freed blocks over 32 MB to the OS, so each step's fresh 134 MB gradient of the paper's
    # decoder is page-faulted in anew; these settings keep freed memory for reuse (see README)
    keep_memory = {"MALLOC_MMAP_THRESHOLD_": "4000000000", "MALLOC_TRIM_THRESHOLD_": "4000000000"}
    modes = [
        ("ghp (full decoder)", ["--ghn-decoder", "full"], {}),
        ("ghp (full), malloc kept", ["--ghn-decoder", "full"], keep_memory),
        ("ghp (lowrank decoder)", ["--ghn-decoder", "lowrank"], {}),
        ("ghp (lowrank, rank 4)", ["--ghn-decoder", "lowrank", "--ghn-rank", "4"], {}),
        ("baseline 256,256", ["--baseline-arch", "256,256"], {}),
    ]
    rows = []
    for compiled in (False, True):
        for mode, extra, env in modes:
            if compiled and ("full" in mode or "rank 4" in mode) and device_flag == "--no-cuda":
                continue  # compiled, the paper's decoder takes the padded static path: 2x slower on CPU (GHN table)
            cmd = [
                sys.executable,
                script,
                "--env-id",
                args.env_id,
                "--meta-batch",
                str(args.meta_batch),
                "--total-timesteps",
                str(LEARNING_STARTS + args.sac_steps),
                "--learning-starts",
                str(LEARNING_STARTS),
                "--log-every",
                str(LEARNING_STARTS + args.sac_steps),
                "--eval-every",
                "0",
                "--save-every",
                "0",
                "--runs-dir",
                "/tmp/ghp-bench-runs",
                "--exp-name",
                "bench",
                device_flag,
                "--threads",
                str(args.threads),
                *extra,
                *(["--compile"] if compiled else []),
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})
            if out.returncode != 0:
                raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
            updates = re.findall(r"updates/s=([\d.]+)", out.stdout)
            compile_s = re.findall(r"--compile: the first \d+ updates took (\d+) s", out.stdout)
            rows.append(
                {
                    "mode": mode,
                    "compiled": compiled,
                    "updates_per_s": float(updates[-1]) if updates else float("nan"),
                    "compile_s": int(compile_s[0]) if compile_s else None,
                }
            )
    return rows


def sac_policy_io(env_id):
    """export.py's PolicyIO (evaluate.py's) for ghp_sac.py policies of env_id, with its obs and action dims."""
    import export

    env = export.make_env(env_id)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    io = export.PolicyIO({"algo": "sac", "act_dim": act_dim, "obs_dim": obs_dim}, env.action_space)
    env.close()
    return io, obs_dim, act_dim


def bench_eval(args, device):
    """evaluate.py's engine on random archs of a fresh GHN vs the same number of env copies stepped
    with random actions (both: a Python loop over gymnasium envs, resets included)."""
    import evaluate

    io, obs_dim, act_dim = sac_policy_io(args.env_id)
    torch.manual_seed(0)
    ghn = GHN(obs_dim, 2 * act_dim).to(device).eval()
    archs = archspace.sample_archs(np.random.default_rng(0), args.eval_archs, archspace.all_archs())
    steps, seconds = evaluate.evaluate_archs(
        ghn, io, args.env_id, archs, args.eval_episodes, args.eval_envs, 0, 64, device, on_result=lambda arch, scores: None
    )
    envs = [evaluate.make_env(args.env_id) for _ in range(args.eval_envs)]
    for i, e in enumerate(envs):
        e.reset(seed=i)
        e.action_space.seed(i)
    random_steps, start = 0, time.perf_counter()
    while random_steps < steps:
        for e in envs:
            _, _, terminated, truncated, _ = e.step(e.action_space.sample())
            if terminated or truncated:
                e.reset()
            random_steps += 1
    random_seconds = time.perf_counter() - start
    return {
        "archs": args.eval_archs,
        "episodes": args.eval_episodes,
        "envs": args.eval_envs,
        "env_steps": steps,
        "evaluate_steps_per_s": steps / seconds,
        "random_steps_per_s": random_steps / random_seconds,
    }


def bench_deploy(args):
    """export.py's C headers (float32 and int8) of a fresh GHN's policies, each timed by
    export.c_time_per_action: cc -O2, median of 101 samples; with the flash and RAM bytes."""
    import tempfile

    import export

    io, obs_dim, act_dim = sac_policy_io(args.env_id)
    torch.manual_seed(0)
    ghn = GHN(obs_dim, 2 * act_dim)
    rows = []
    for arch in [archspace.parse_arch(text) for text in args.deploy_archs.split(";")]:
        params = archspace.num_params(arch, obs_dim, act_dim)
        with tempfile.TemporaryDirectory() as folder, torch.no_grad():
            export.export_policy(ghn, io, arch, folder, int8=True)
            for precision, header in (("float32", "policy.h"), ("int8", "policy_int8.h")):
                seconds = export.c_time_per_action(os.path.join(folder, header), max(1, 2_000_000 // params))
                flash, ram = archspace.policy_bytes(arch, export.policy_dims(io), precision == "int8")
                rows.append(
                    {
                        "arch": list(arch),
                        "params": params,
                        "weights": precision,
                        "flash_bytes": flash,
                        "ram_bytes": ram,
                        "us_per_action": None if seconds is None else seconds * 1e6,
                    }
                )
    return rows


if __name__ == "__main__":
    args = tyro.cli(Args)
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.cuda else "cpu")
    if args.cuda and not torch.cuda.is_available():
        raise SystemExit("--cuda given but torch.cuda.is_available() is False")
    import gymnasium as gym

    probe_env = gym.make(args.env_id)
    in_dim, out_dim = probe_env.observation_space.shape[0], 2 * probe_env.action_space.shape[0]
    name = torch.cuda.get_device_name() if args.cuda else f"cpu x{args.threads} threads"
    results = {"device": name, "torch": torch.__version__, "env_id": args.env_id, "meta_batch": args.meta_batch}
    print(f"device: {name}, torch {torch.__version__}, {args.env_id} (in {in_dim}, out {out_dim})")

    if "ghn" in args.parts:
        rows = bench_ghn(args, device, in_dim, out_dim)
        results["ghn"] = rows
        print(
            f"\nGHN step (generate {args.meta_batch} random archs, policy forward of {256 // args.meta_batch} samples each, "
            f"backward, fused Adam), median of {args.repeats}"
        )
        print(f"{'decoder':8s} {'path':10s} {'ms':>8s} {'aten ops':>9s} {'CUDA kernels':>13s} {'GHN params':>12s}")
        for row in rows:
            kernels = "-" if row["cuda_kernels"] is None else str(row["cuda_kernels"])
            print(
                f"{row['decoder']:8s} {row['path']:10s} {row['ms']:8.1f} {row['aten_ops']:9d} {kernels:>13s} "
                f"{row['ghn_params']:12,d}"
            )

    if "stages" in args.parts:
        rows = bench_stages(args, device, in_dim, out_dim)
        results["stages"] = rows
        print(f"\nGHN step by stage (eager, the path training takes), median ms of {args.repeats}")
        print(
            f"{'decoder':8s} {'path':8s} {'GNN':>6s} {'decode':>7s} {'policies':>9s} {'backward':>9s} "
            f"{'Adam':>6s} {'total':>7s}"
        )
        for row in rows:
            total = sum(row[key] for key in ("gnn", "decode", "policies", "backward", "adam"))
            print(
                f"{row['decoder']:8s} {row['path']:8s} {row['gnn']:6.2f} {row['decode']:7.2f} {row['policies']:9.2f} "
                f"{row['backward']:9.2f} {row['adam']:6.2f} {total:7.2f}"
            )
            if "heads_forward_backward" in row:
                print(
                    f"  of which the lowrank factor heads (128 -> 512 x 16, two of them), forward + backward alone: "
                    f"{row['heads_forward_backward']:.2f} ms"
                )

    if "sac" in args.parts:
        rows = bench_sac(args, "--cuda" if args.cuda else "--no-cuda")
        results["sac"] = rows
        print(
            f"\nghp_sac.py, {args.env_id}, meta-batch {args.meta_batch}: {args.sac_steps} env steps with one "
            f"update each, after {LEARNING_STARTS} random steps (--compile: rate after the first, compiling, updates)"
        )
        print(f"{'mode':24s} {'compiled':>8s} {'updates/s':>9s} {'/ baseline':>10s} {'compile s':>9s}")
        for row in rows:
            base = next(r for r in rows if r["mode"].startswith("baseline") and r["compiled"] == row["compiled"])
            compile_s = "-" if row["compile_s"] is None else str(row["compile_s"])
            print(
                f"{row['mode']:24s} {'yes' if row['compiled'] else 'no':>8s} {row['updates_per_s']:9.1f} "
                f"{row['updates_per_s'] / base['updates_per_s']:10.2f} {compile_s:>9s}"
            )

    if "eval" in args.parts:
        row = bench_eval(args, device)
        results["eval"] = row
        print(
            f"\nevaluate.py engine: {row['archs']} random archs x {row['episodes']} episodes "
            f"on {row['envs']} {args.env_id} copies "
            f"({row['env_steps']} env steps)"
        )
        print(f"evaluate (generate + policies + envs) {row['evaluate_steps_per_s']:9.0f} env steps/s")
        print(f"random actions, same env copies       {row['random_steps_per_s']:9.0f} env steps/s")
        print(f"ratio {row['evaluate_steps_per_s'] / row['random_steps_per_s']:.2f}")

    if "deploy" in args.parts:
        rows = bench_deploy(args)
        results["deploy"] = rows
        print(f"\nexported C policy ({args.env_id} dims), cc -O2 on this CPU, one action per call, median of 101 samples")
        print(f"{'arch':22s} {'params':>8s} {'weights':>8s} {'flash B':>9s} {'RAM B':>7s} {'us/action':>10s}")
        for row in rows:
            timing = "no cc" if row["us_per_action"] is None else f"{row['us_per_action']:.3f}"
            print(
                f"{str(row['arch']):22s} {row['params']:8d} {row['weights']:>8s} {row['flash_bytes']:9d} "
                f"{row['ram_bytes']:7d} {timing:>10s}"
            )

    path = args.out or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), f"results-{'cuda' if args.cuda else 'cpu'}.json"
    )
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nwrote {path}")
