"""`rsnn-decoding bench-eval`: time evaluate_network per mode (batched vs per_step) on a session's test part.

The networks are a bigRSNN (float32) and a tinyRSNN converted to float16, both with the fluctuation-driven
initialisation on the session's test spikes (or checkpoints given with --checkpoint). The per-step path
can be timed on the first N test steps only (--per-step-steps) and scaled linearly to the full sequence;
the output says which figures are scaled. Where both modes ran on the same steps, their metrics are
compared (the largest relative difference of Dense / MACs / ACs is printed).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from typing import Any

import numpy as np
import torch

from rsnn_decoding.data.preprocess import Preprocessed, load_preprocessed
from rsnn_decoding.errors import UserError
from rsnn_decoding.evaluation.half_emulation import HalfStepper
from rsnn_decoding.evaluation.loading import load_any
from rsnn_decoding.evaluation.neurobench import eval_sequence, evaluate_network
from rsnn_decoding.evaluation.steps import run_steps
from rsnn_decoding.network.config import big_config, tiny_config
from rsnn_decoding.network.rsnn import RSNN
from rsnn_decoding.training.init import fluctuation_init

COMPARED = ("r2", "footprint", "connection_sparsity", "activation_sparsity", "dense", "macs", "acs")


def bench_networks(pre: Preprocessed, big_hidden: int = 1024, seed: int = 0) -> dict[str, RSNN]:
    """bigRSNN-<big_hidden> float32 and tinyRSNN float16 with the fluctuation-driven init on the test spikes."""
    x = torch.from_numpy(np.ascontiguousarray(pre.spikes[pre.test_index])).float()[None]
    nets = {}
    for label, cfg, dtype in ((f"bigRSNN-{big_hidden}", big_config(big_hidden), torch.float32),
                              ("tinyRSNN", tiny_config(), torch.float16)):
        torch.manual_seed(seed)
        model = RSNN(pre.n_channels, cfg).eval()
        fluctuation_init(model, x)
        nets[f"{label} {str(dtype).removeprefix('torch.')}"] = model.to(dtype)
    return nets


def head_slice(pre: Preprocessed, steps: int | None) -> Preprocessed:
    """The session with its test part cut to the first `steps` test steps (None: unchanged)."""
    if steps is None or steps >= len(pre.test_index):
        return pre
    return dataclasses.replace(pre, test_index=np.asarray(pre.test_index)[:steps])


def time_mode(model: RSNN, pre: Preprocessed, mode: str, batch_steps: int,
              device: str) -> tuple[float, float, dict[str, Any]]:
    """Wall and CPU (process) seconds of one evaluate_network call, and its metrics."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = evaluate_network(model, pre, batch_steps=batch_steps, mode=mode, device=device)
    return time.perf_counter() - t0, time.process_time() - c0, out


def max_rel_diff(a: dict[str, Any], b: dict[str, Any], keys: tuple[str, ...] = ("dense", "macs", "acs")) -> float:
    """Largest relative difference of the given metrics (0 when both are 0)."""
    worst = 0.0
    for k in keys:
        x, y = float(a[k]), float(b[k])
        if x != y:
            worst = max(worst, abs(x - y) / max(abs(x), abs(y)))
    return worst


def bench_eval(session_h5: str, per_step_steps: int | None = None, batch_steps: int = 10000,
               big_hidden: int = 1024, device: str = "cpu", seed: int = 0,
               modes: tuple[str, ...] = ("batched", "per_step"), networks: tuple[str, ...] = ("bigRSNN", "tinyRSNN"),
               ) -> list[dict[str, Any]]:
    """Time both modes on the bench networks whose names start with one of `networks`; a row per (network, mode)."""
    pre = load_preprocessed(session_h5)
    n_test = len(pre.test_index)
    rows = []
    for label, model in bench_networks(pre, big_hidden, seed).items():
        if not label.startswith(networks):
            continue
        outs: dict[str, dict[str, Any]] = {}
        for mode in modes:
            part = head_slice(pre, per_step_steps if mode == "per_step" else None)
            steps = len(part.test_index)
            seconds, cpu, out = time_mode(model, part, mode, batch_steps, device)
            outs[mode] = out
            row = {"network": label, "mode": mode, "device": out["device"], "steps": steps,
                   "seconds": round(seconds, 2), "full_seconds": round(seconds * n_test / steps, 2),
                   "cpu_seconds": round(cpu, 2), "full_cpu_seconds": round(cpu * n_test / steps, 2),
                   "scaled": steps != n_test, "us_per_step": round(1e6 * seconds / steps, 1)}
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
        if "per_step" in outs and "batched" in outs:
            same = outs["batched"]
            if per_step_steps is not None and per_step_steps < n_test:
                _, _, same = time_mode(model, head_slice(pre, per_step_steps), "batched", batch_steps, device)
            rows[-1]["max_rel_diff_synops"] = max_rel_diff(same, outs["per_step"])
            rows[-1]["identical_metrics"] = all(same[k] == outs["per_step"][k] for k in COMPARED)
            rows[-1]["speedup"] = round(rows[-1]["full_seconds"] / rows[-2]["full_seconds"], 1)
            rows[-1]["cpu_speedup"] = round(rows[-1]["full_cpu_seconds"] / rows[-2]["full_cpu_seconds"], 1)
    return rows


def _handler(args: argparse.Namespace) -> int:
    """Handler of `rsnn-decoding bench-eval`."""
    torch.set_num_threads(args.threads)
    rows = bench_eval(args.session, args.per_step_steps, args.batch_steps, args.big_hidden, args.device,
                      args.seed, tuple(args.modes.split(",")), tuple(args.networks.split(",")))
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    for r in rows:
        extra = ""
        if "speedup" in r:
            extra = (f"  speedup {r['speedup']}x (CPU time {r['cpu_speedup']}x), "
                     f"metrics identical: {r['identical_metrics']}, "
                     f"max rel diff Dense/MACs/ACs {r['max_rel_diff_synops']:.1e}")
        scaled = f" (scaled from {r['steps']} steps)" if r["scaled"] else ""
        print(f"{r['network']:<22} {r['mode']:<9} {r['device']:<5} {r['full_seconds']:9.1f} s wall,"
              f" {r['full_cpu_seconds']:9.1f} s CPU{scaled}"
              f" [{r['us_per_step']} us/step]{extra}")
    return 0


def register_cli(subparsers: Any) -> None:
    """Add the `bench-eval` subcommand."""
    p = subparsers.add_parser(
        "bench-eval", help="time NeuroBench evaluation (batched vs per_step) of a bigRSNN and a float16 tinyRSNN",
        description="Time evaluate_network on the test part of a preprocessed session, both modes.",
    )
    p.add_argument("--session", required=True, help="preprocessed session .h5")
    p.add_argument("--per-step-steps", type=int, default=None,
                   help="time the per_step mode on the first N test steps only and scale linearly")
    p.add_argument("--batch-steps", type=int, default=10000, help="evaluation.batch_steps (default 10000)")
    p.add_argument("--big-hidden", type=int, default=1024, help="hidden size of the bigRSNN (default 1024)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the evaluate rule)")
    p.add_argument("--modes", default="batched,per_step", help="comma-separated modes (default both)")
    p.add_argument("--networks", default="bigRSNN,tinyRSNN", help="comma-separated networks (default both)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON on stdout")
    p.set_defaults(func=_handler)
    register_half_check(subparsers)


# ----------------------------------------------------------------------------- float16 emulation check


def half_check_one(model: RSNN, pre: Preprocessed, batch_steps: int = 10000) -> dict[str, Any]:
    """HalfStepper vs the torch ops over the session's whole test sequence, batch by batch, state carried."""

    x = eval_sequence(pre, model.dtype)[0]
    stepper = HalfStepper(model)
    ref_state = emu_state = model.init_state(1)
    same = True
    t_ref = t_emu = 0.0
    n_spikes = 0
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_steps):
            part = x[start : start + batch_steps]
            t0 = time.process_time()
            ref = run_steps(model, part, ref_state)
            t1 = time.process_time()
            emu = stepper.run(part, emu_state)
            t2 = time.process_time()
            t_ref, t_emu = t_ref + t1 - t0, t_emu + t2 - t1
            ref_state, emu_state = ref[3], emu[3]
            leaves = [*ref[:3], *torch.utils._pytree.tree_leaves(ref_state)]
            emu_leaves = [*emu[:3], *torch.utils._pytree.tree_leaves(emu_state)]
            same = same and all(torch.equal(a.view(torch.int16), b.view(torch.int16))
                                for a, b in zip(leaves, emu_leaves, strict=True))
            n_spikes += int(ref[1].sum())
    return {"steps": int(x.shape[0]), "bit_identical": same, "fallback_steps": stepper.fallback_steps,
            "hidden_spikes": n_spikes, "torch_cpu_s": round(t_ref, 2), "emulated_cpu_s": round(t_emu, 2)}


def half_check(checkpoints: list[str], sessions: list[str], batch_steps: int = 10000) -> list[dict[str, Any]]:
    """half_check_one for every float16 checkpoint on the session with its channel count."""
    pres = {p.n_channels: p for p in (load_preprocessed(s) for s in sessions)}
    rows = []
    for path in checkpoints:
        model, _ = load_any(path)
        pre = pres.get(model.n_inputs)
        if pre is None:
            raise UserError(f"{path}: no session with {model.n_inputs} channels given; "
                                     "pass one with --session")
        row = {"checkpoint": str(path), "session": pre.session, **half_check_one(model, pre, batch_steps)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def _half_handler(args: argparse.Namespace) -> int:
    """Handler of `rsnn-decoding half-check`."""
    torch.set_num_threads(args.threads)
    rows = half_check(args.checkpoints, args.session, args.batch_steps)
    bad = [r["checkpoint"] for r in rows if not r["bit_identical"]]
    print(f"{len(rows) - len(bad)} of {len(rows)} networks bit-identical"
          + (f"; differ: {', '.join(bad)}" if bad else ""))
    return 1 if bad else 0


def register_half_check(subparsers: Any) -> None:
    """Add the `half-check` subcommand."""
    p = subparsers.add_parser(
        "half-check", help="check float16 emulation against torch's float16 ops over whole test sequences",
        description="Run float16 checkpoints over a session's test sequence with torch's float16 ops and with "
                    "half_emulation.HalfStepper; report whether states, spikes and outputs are bit-identical.",
    )
    p.add_argument("checkpoints", nargs="+", help="float16 checkpoints (ours or published tinyRSNN-<seed>.pth)")
    p.add_argument("--session", action="append", required=True,
                   help="preprocessed session .h5 (repeat: one per channel count)")
    p.add_argument("--batch-steps", type=int, default=10000)
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(func=_half_handler)
