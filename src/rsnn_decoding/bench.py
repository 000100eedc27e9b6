"""`rsnn-decoding bench`: training-step and streaming timings of our engine, the per-step reference
implementation and the snntorch model, measured in one run (compare the ratios, not absolute times).

Training step = forward, backward (RMSE + activity regularizers, train.loss_fn) and one SMORMS3
update, in train mode (dropout), on random binary inputs at 12.5 Hz per channel with the
fluctuation-driven initialisation of train.py (so the hidden activity is sparse, as in training).
Streaming = batch 1, forward only, float32, no NeuroBench hooks.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from rsnn_decoding.fsutil import setup_logging
from rsnn_decoding.network import engine
from rsnn_decoding.network.config import ModelConfig, big_config, tiny_config
from rsnn_decoding.network.rsnn import RSNN, reference_run
from rsnn_decoding.network.snntorch_check import from_rsnn

log = logging.getLogger("rsnn_decoding.bench")

N_INPUTS = 96
INPUT_RATE = 0.05  # spike probability per channel and 4 ms bin (12.5 Hz)
FULL_SEQUENCE = 150_000
ENGINES = ("ours", "reference", "snntorch")


def _optimizer_class() -> tuple[type, str]:
    """SMORMS3 from optim.py (the package's optimizer)."""
    from rsnn_decoding.training.optim import SMORMS3

    return SMORMS3, "rsnn_decoding.training.optim.SMORMS3"


def _inputs(batch: int, steps: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random binary spikes (B, T, 96) and random velocity targets (B, T, 2)."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(batch, steps, N_INPUTS, generator=g) < INPUT_RATE).float()
    y = torch.randn(batch, steps, 2, generator=g)
    return x, y


def _model(cfg: ModelConfig, x: torch.Tensor, seed: int) -> RSNN:
    """An RSNN with the fluctuation-driven initialisation for inputs x."""
    from rsnn_decoding.training.init import fluctuation_init

    torch.manual_seed(seed)
    model = RSNN(N_INPUTS, cfg)
    fluctuation_init(model, x, generator=torch.Generator().manual_seed(seed))
    return model


def _median_time(fn: Callable[[], Any], reps: int, warmup: int = 1) -> float:
    """Median wall time of fn over reps calls after warmup calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _train_step_fn(kind: str, model: RSNN, x: torch.Tensor, target: torch.Tensor) -> tuple[Callable, Callable]:
    """(one training step, spike rate of the last step) for an engine kind."""
    from rsnn_decoding.training.config import TrainConfig
    from rsnn_decoding.training.loss import loss_fn

    smorms3, _ = _optimizer_class()
    tcfg = TrainConfig.for_model(model.cfg.name, epochs=1, t_max=1)
    net: Any
    if kind == "snntorch":
        net = from_rsnn(model)

        def run(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return net.run(v)
    else:
        net = model

        def run(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = engine.fast_run(net, v) if kind == "ours" else reference_run(net, v)
            return out.y, out.spike_counts

    net.train()
    opt = smorms3(net.parameters(), lr=tcfg.lr, eps=tcfg.eps)
    last: dict[str, float] = {}

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        y, counts = run(x)
        loss, _ = loss_fn(y, target, counts, tcfg)
        loss.backward()
        opt.step()
        last["rate"] = float(counts.detach().mean()) / x.shape[1]

    return step, lambda: last.get("rate", float("nan"))


def bench_training(cfg: ModelConfig, batch: int, steps: int, reps: dict[str, int], seed: int = 0) -> dict[str, Any]:
    """Median training-step seconds per engine kind for one shape (fresh copy of the model per kind)."""
    x, target = _inputs(batch, steps, seed)
    base = _model(cfg, x, seed)
    res: dict[str, Any] = {}
    for kind in ENGINES:
        model = _model(cfg, x, seed)
        model.load_state_dict(base.state_dict())
        step, rate = _train_step_fn(kind, model, x, target)
        log.info("training step %s %s H=%d B=%d T=%d ...", kind, cfg.name, cfg.hidden, batch, steps)
        res[kind] = _median_time(step, reps[kind])
        res[f"{kind}_spike_rate"] = rate()
        log.info("  %.3f s (spike rate %.4f)", res[kind], res[f"{kind}_spike_rate"])
    return res


def _stream_fns(kind: str, model: RSNN, dtype: torch.dtype = torch.float32) -> tuple[Callable, Callable]:
    """(step(x_t numpy) -> y, reset()) of a streaming implementation, batch 1, forward only."""
    if kind == "ours":
        dec = engine.StreamingDecoder(model, dtype=dtype)
        return dec.step, dec.reset
    if kind == "ours_run":
        dec = engine.StreamingDecoder(model, dtype=dtype)
        return dec.run, dec.reset
    m = model.to(dtype).eval()
    if kind == "reference":
        def step(x_t: np.ndarray) -> torch.Tensor:
            with torch.no_grad():
                return m.stream(torch.from_numpy(x_t))

        return step, m.reset_stream
    net = from_rsnn(m).eval()
    holder: dict[str, Any] = {}

    def reset() -> None:
        with torch.no_grad():
            net.set_decays()
            holder["s"] = net.init_state(1)

    def snn_step(x_t: np.ndarray) -> torch.Tensor:
        with torch.no_grad():
            y, _, holder["s"] = net.step(torch.from_numpy(x_t)[None], holder["s"])
        return y

    return snn_step, reset


def bench_streaming(model: RSNN, latency_steps: int, seq_steps: int, seed: int = 1) -> dict[str, Any]:
    """Median per-step latency (us) and whole-sequence seconds for each kind; float16 for ours.

    Runs with one torch thread (batch-1 steps are far too small to share between threads).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _bench_streaming(model, latency_steps, seq_steps, seed)
    finally:
        torch.set_num_threads(threads)


def _bench_streaming(model: RSNN, latency_steps: int, seq_steps: int, seed: int) -> dict[str, Any]:
    """bench_streaming's body."""
    g = np.random.default_rng(seed)
    xs = (g.random((max(latency_steps, seq_steps), N_INPUTS)) < INPUT_RATE).astype(np.float32)
    res: dict[str, Any] = {}
    for kind in ENGINES:
        step, reset = _stream_fns(kind, model)
        reset()
        for t in range(min(200, latency_steps)):  # warm-up (and numba compilation)
            step(xs[t])
        reset()
        lat = []
        for t in range(latency_steps):
            t0 = time.perf_counter()
            step(xs[t])
            lat.append(time.perf_counter() - t0)
        res[f"{kind}_step_us"] = statistics.median(lat) * 1e6
        reset()
        log.info("streaming %s: %.1f us/step; full sequence of %d steps ...", kind, res[f"{kind}_step_us"], seq_steps)
        if kind == "ours":
            run, reset_run = _stream_fns("ours_run", model)
            run(xs[:10])
            reset_run()
            t0 = time.perf_counter()
            run(xs[:seq_steps])
        else:
            t0 = time.perf_counter()
            for t in range(seq_steps):
                step(xs[t])
        res[f"{kind}_sequence_s"] = time.perf_counter() - t0
        log.info("  %.2f s", res[f"{kind}_sequence_s"])
    # float16 (no target): torch step of a half() copy; its sequence time is measured on fewer steps
    step16, reset16 = _stream_fns("ours", model, torch.float16)
    reset16()
    for t in range(min(50, latency_steps)):
        step16(xs[t])
    lat16 = []
    n16 = max(1, latency_steps // 4)
    t_all = time.perf_counter()
    for t in range(n16):
        t0 = time.perf_counter()
        step16(xs[t])
        lat16.append(time.perf_counter() - t0)
    res["fp16_step_us"] = statistics.median(lat16) * 1e6
    res["fp16_sequence_steps"] = n16
    res["fp16_sequence_s"] = time.perf_counter() - t_all
    log.info("streaming ours float16 (torch): %.1f us/step", res["fp16_step_us"])
    return res


def run_bench(quick: bool = False) -> dict[str, Any]:
    """Run all timings and return one flat dict (see module doc); quick: tiny shapes, 1 repetition."""
    if quick:
        paper = {"batch": 8, "steps": 40, "tiny": 64, "big": 96}
        demo = {"batch": 4, "steps": 30, "tiny": 64, "big": 48}
        reps_tiny = reps_big = {k: 1 for k in ENGINES}
        latency_steps, seq_steps = 300, 2000
    else:
        paper = {"batch": 250, "steps": 500, "tiny": 64, "big": 1024}
        demo = {"batch": 64, "steps": 500, "tiny": 64, "big": 128}
        reps_tiny = {"ours": 5, "reference": 3, "snntorch": 3}
        reps_big = {"ours": 3, "reference": 2, "snntorch": 2}
        latency_steps, seq_steps = 3000, FULL_SEQUENCE
    t_start = time.perf_counter()
    _, opt_name = _optimizer_class()
    out: dict[str, Any] = {
        "quick": quick,
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "numba_threads": engine.numba_threads(),
        "torch_version": torch.__version__,
        "optimizer": opt_name,
        "paper_shape": paper,
        "demo_shape": demo,
    }
    shapes = [("", paper), ("demo_", demo)]
    for prefix, shape in shapes:
        for name, cfg, reps in (
            ("tiny", tiny_config(hidden=shape["tiny"]), reps_tiny),
            ("big", big_config(hidden=shape["big"]), reps_big),
        ):
            r = bench_training(cfg, shape["batch"], shape["steps"], reps)
            key = f"{prefix}{name}_train_step_s"
            out[key] = r["ours"]
            out[f"reference_{key}"] = r["reference"]
            out[f"snntorch_{key}"] = r["snntorch"]
            out[f"{prefix}{name}_spike_rate"] = r["ours_spike_rate"]
            out[f"{prefix}{name}_speedup_vs_reference"] = r["reference"] / r["ours"]
            out[f"{prefix}{name}_speedup_vs_snntorch"] = r["snntorch"] / r["ours"]
    x, _ = _inputs(8, 500, 0)
    s = bench_streaming(_model(tiny_config(), x, 0).eval(), latency_steps, seq_steps)
    out["stream_step_us"] = s["ours_step_us"]
    out["full_sequence_s"] = s["ours_sequence_s"]
    out["full_sequence_steps"] = seq_steps
    for kind in ("reference", "snntorch"):
        out[f"{kind}_stream_step_us"] = s[f"{kind}_step_us"]
        out[f"{kind}_full_sequence_s"] = s[f"{kind}_sequence_s"]
    for k in ("fp16_step_us", "fp16_sequence_steps", "fp16_sequence_s"):
        out[f"stream_{k}"] = s[k]
    out["stream_speedup_vs_reference"] = s["reference_step_us"] / s["ours_step_us"]
    out["total_bench_s"] = time.perf_counter() - t_start
    return out


def format_report(r: dict[str, Any]) -> str:
    """Human-readable table of a run_bench result."""
    lines = [
        f"cores {r['cpu_count']} (affinity {r['affinity_cpus']}), torch threads {r['torch_threads']}, "
        f"numba threads {r['numba_threads']}, optimizer {r['optimizer']}, quick={r['quick']}",
        f"{'training step [s]':34s}{'ours':>10s}{'reference':>11s}{'snntorch':>10s}{'ref/ours':>10s}{'snn/ours':>10s}",
    ]
    for prefix, shape in (("", r["paper_shape"]), ("demo_", r["demo_shape"])):
        for name in ("tiny", "big"):
            k = f"{prefix}{name}_train_step_s"
            label = f"{prefix}{name} H={shape[name]} B={shape['batch']} T={shape['steps']}"
            lines.append(
                f"{label:34s}{r[k]:10.3f}{r['reference_' + k]:11.3f}{r['snntorch_' + k]:10.3f}"
                f"{r['reference_' + k] / r[k]:10.2f}{r['snntorch_' + k] / r[k]:10.2f}"
            )
    lines.append(
        f"streaming tinyRSNN float32, batch 1: ours {r['stream_step_us']:.1f} us/step, reference "
        f"{r['reference_stream_step_us']:.1f}, snntorch {r['snntorch_stream_step_us']:.1f} (median)"
    )
    lines.append(
        f"{r['full_sequence_steps']}-step sequence: ours {r['full_sequence_s']:.2f} s, reference "
        f"{r['reference_full_sequence_s']:.2f} s, snntorch {r['snntorch_full_sequence_s']:.2f} s"
    )
    lines.append(
        f"float16 (torch step, no target): {r['stream_fp16_step_us']:.1f} us/step, "
        f"{r['stream_fp16_sequence_steps']} steps in {r['stream_fp16_sequence_s']:.2f} s"
    )
    lines.append(f"total {r['total_bench_s']:.0f} s")
    return "\n".join(lines)


def _handler(args: argparse.Namespace) -> int:
    """CLI handler: progress on stderr; --json prints one JSON object on stdout."""
    if not logging.getLogger("rsnn_decoding").handlers:
        setup_logging(None)  # progress on stderr
    result = run_bench(quick=args.quick)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(format_report(result))
    return 0


def register_cli(subparsers: Any) -> None:
    """Add the `bench` subcommand."""
    p = subparsers.add_parser(
        "bench", help="time training steps and streaming: our engine vs the reference and snntorch"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout (progress on stderr)")
    p.add_argument("--quick", action="store_true", help="tiny shapes, one repetition (for tests)")
    p.set_defaults(func=_handler)
