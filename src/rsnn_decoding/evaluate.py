"""NeuroBench 2.3.0 evaluation of a network checkpoint or the ridge baseline on a session's test sequence.

The test block is one continuous sequence (SPEC section 2). It is fed the way NeuroBench's
primate-reaching examples do: a DataLoader over the test steps (shuffle=False) yields batches
(steps, 1, C); `StreamingNet` loops over dimension 0 one step at a time through `RSNN.step`,
carrying the network state across steps and batches, and returns (steps, 2). Every connection
(fc_in, fc_rec, fc_out) is an nn.Linear called once per step, so NeuroBench's SynapticOperations
hooks see one input per step; the spike module (`model.SpikeFn`) is registered with
`add_activation_module`, so ActivationSparsity sees the hidden spikes of every step.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import os
import pickle
import re
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from neurobench.benchmarks import Benchmark
from neurobench.metrics.static import ConnectionSparsity, Footprint, ParameterCount
from neurobench.metrics.workload import R2, ActivationSparsity, SynapticOperations
from neurobench.models import TorchModel
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from . import baseline, checkpoint, data, published
from .errors import UserError
from .fsutil import atomic_output, read_json, sha256_file, write_json
from .model import RSNN, NetState, SpikeFn

log = logging.getLogger("rsnn_decoding.evaluate")

BATCH_STEPS = 4096
EVAL_KEYS = (
    "r2", "r2_x", "r2_y", "footprint", "connection_sparsity", "activation_sparsity",
    "dense", "macs", "acs", "checkpoint_sha256", "session", "model", "seed", "evaluation_seconds",
)
STATIC_KEYS = ("footprint", "connection_sparsity", "parameter_count")


class MetricError(RuntimeError):
    """NeuroBench failed to compute a metric (it reports such failures only on stdout)."""


# ----------------------------------------------------------------------------- NeuroBench wrapper


class StreamingNet(nn.Module):
    """(steps, 1, C) -> (steps, 2): one `RSNN.step` per time step, state carried across calls."""

    def __init__(self, rsnn: RSNN) -> None:
        """Wrap the network; the wrapper adds no parameters or buffers."""
        super().__init__()
        self.rsnn = rsnn
        self._state: NetState | None = None

    def reset(self) -> None:
        """Start the next call from the network's initial state."""
        self._state = None

    def forward(self, x: Tensor) -> Tensor:
        """Stream x (steps, 1, C) through the network in its dtype; predictions (steps, 2) in float32."""
        if x.dim() != 3 or x.shape[1] != 1 or x.shape[2] != self.rsnn.n_inputs:
            raise ValueError(f"expected input (steps, 1, {self.rsnn.n_inputs}), got {tuple(x.shape)}")
        rsnn = self.rsnn
        x = x.to(device=rsnn.device, dtype=rsnn.dtype)
        state = self._state if self._state is not None else rsnn.init_state(1)
        ys = []
        with torch.no_grad():
            for t in range(x.shape[0]):
                y, state = rsnn.step(x[t], state)
                ys.append(y)
        self._state = state
        return torch.cat(ys, dim=0).float()


def neurobench_model(rsnn: RSNN) -> tuple[TorchModel, StreamingNet]:
    """NeuroBench TorchModel around a StreamingNet, with the spike module registered as activation."""
    net = StreamingNet(rsnn)
    nb_model = TorchModel(net)
    nb_model.add_activation_module(SpikeFn)
    return nb_model, net


def eval_sequence(pre: data.Preprocessed, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """Test inputs (steps, 1, C) in `dtype` and targets (steps, 2) float32, in time order."""
    idx = np.asarray(pre.test_index, dtype=np.int64)
    if idx.size == 0:
        raise UserError(f"{pre.path or pre.session}: empty test split; check the preprocessed session")
    x = torch.from_numpy(np.ascontiguousarray(pre.spikes[idx])).to(dtype).unsqueeze(1)
    y = torch.from_numpy(np.ascontiguousarray(pre.velocity[idx], dtype=np.float32))
    return x, y


def eval_loader(pre: data.Preprocessed, dtype: torch.dtype, batch_steps: int = BATCH_STEPS) -> DataLoader:
    """DataLoader over the test steps, shuffle=False: batches (steps, 1, C) and (steps, 2)."""
    x, y = eval_sequence(pre, dtype)
    return DataLoader(TensorDataset(x, y), batch_size=batch_steps, shuffle=False)


@contextlib.contextmanager
def _captured_output() -> Any:
    """Capture what NeuroBench prints (its only report of failed metrics) and its progress bar."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        yield out
    log.debug("neurobench output:\n%s", out.getvalue())


def _check_neurobench_output(text: str) -> None:
    """Raise MetricError for every failure NeuroBench reported instead of raising."""
    failures = [line.strip() for line in text.splitlines() if line.strip().startswith("Error running")]
    if failures:
        raise MetricError("NeuroBench failed to compute a metric: " + " | ".join(failures[:3]))


def _require_number(results: dict[str, Any], key: str) -> float:
    """A finite number from NeuroBench's results, else MetricError."""
    value = results.get(key)
    if value is None or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise MetricError(f"NeuroBench returned {value!r} for {key}")
    return value


def static_metrics(rsnn: RSNN) -> dict[str, Any]:
    """NeuroBench Footprint, ConnectionSparsity and ParameterCount of a network."""
    was_training = rsnn.training
    nb_model, _ = neurobench_model(rsnn)  # TorchModel puts the network in eval mode
    out = {}
    try:
        for key, metric in (("footprint", Footprint), ("connection_sparsity", ConnectionSparsity),
                            ("parameter_count", ParameterCount)):
            try:
                value = metric()(nb_model)
            except Exception as exc:  # noqa: BLE001 - any NeuroBench failure is an error, never a null
                raise MetricError(f"NeuroBench {metric.__name__} failed: {exc}") from exc
            out[key] = _require_number({key: value}, key)
    finally:
        rsnn.train(was_training)
    out["footprint"] = int(out["footprint"])
    out["parameter_count"] = int(out["parameter_count"])
    out["connection_sparsity"] = float(out["connection_sparsity"])
    return out


def run_benchmark(rsnn: RSNN, pre: data.Preprocessed, batch_steps: int = BATCH_STEPS
                  ) -> tuple[dict[str, Any], Tensor]:
    """NeuroBench Benchmark run on the test sequence; (raw results, streamed predictions (steps, 2))."""
    was_training = rsnn.training
    nb_model, net = neurobench_model(rsnn)  # TorchModel puts the network in eval mode
    loader = eval_loader(pre, rsnn.dtype, batch_steps)
    preds: list[Tensor] = []
    bench = Benchmark(
        nb_model, loader, [], [lambda p: preds.append(p.detach().clone()) or p],
        [[Footprint, ConnectionSparsity], [R2, ActivationSparsity, SynapticOperations]],
    )
    net.reset()
    try:
        with torch.no_grad(), _captured_output() as text:
            results = bench.run(quiet=False)
    finally:
        rsnn.train(was_training)
        nb_model.cleanup_hooks()
    _check_neurobench_output(text.getvalue())
    return results, torch.cat(preds, dim=0)


def evaluate_network(model: RSNN, pre: data.Preprocessed | None, batch_steps: int = BATCH_STEPS,
                     static_only: bool = False) -> dict[str, Any]:
    """NeuroBench metrics of a network on the session's test sequence (or only the static ones)."""
    t0 = time.perf_counter()
    if static_only:
        out = static_metrics(model)
        out["evaluation_seconds"] = time.perf_counter() - t0
        return out
    if pre is None:
        raise ValueError("evaluate_network: a session is needed unless static_only=True")
    if model.n_inputs != pre.n_channels:
        raise UserError(f"{pre.path or pre.session}: has {pre.n_channels} channels but the model expects "
                        f"{model.n_inputs}; use a model of the same monkey")
    results, preds = run_benchmark(model, pre, batch_steps)
    synops = results.get("SynapticOperations")
    if not isinstance(synops, dict):
        raise MetricError(f"NeuroBench returned {synops!r} for SynapticOperations")
    _, y = eval_sequence(pre)
    _, r2x, r2y = baseline.r2_score(y.numpy(), preds.numpy())
    out = {
        "r2": float(_require_number(results, "R2")),
        "r2_x": r2x,
        "r2_y": r2y,
        "footprint": int(_require_number(results, "Footprint")),
        "connection_sparsity": float(_require_number(results, "ConnectionSparsity")),
        "activation_sparsity": float(_require_number(results, "ActivationSparsity")),
        "dense": float(_require_number(synops, "Dense")),
        "macs": float(_require_number(synops, "Effective_MACs")),
        "acs": float(_require_number(synops, "Effective_ACs")),
        "evaluation_seconds": time.perf_counter() - t0,
    }
    log.info("%s on %s: R2 %.4f, ACs %.1f, %.1f s", model.cfg.name, pre.session, out["r2"], out["acs"],
             out["evaluation_seconds"])
    return out


# ----------------------------------------------------------------------------- checkpoints


def _torch_read(p: Path) -> Any:
    """torch.load (weights only) with a one-line UserError for unreadable files."""
    if not p.is_file():
        raise UserError(f"{p}: checkpoint not found; check the path")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile,
            AttributeError, TypeError) as exc:
        reason = " ".join(str(exc).split())[:120]
        raise UserError(f"{p}: not a readable checkpoint (truncated or corrupt: {reason}); "
                        "pass an intact .pt/.pth file") from None


def load_any(path: str | os.PathLike, expect_model: str | None = None,
             expect_inputs: int | None = None) -> tuple[RSNN, dict[str, Any]]:
    """Load our checkpoint (checkpoint.load) or the authors' published one (published.load)."""
    p = Path(path)
    payload = _torch_read(p)
    if isinstance(payload, dict) and payload.get("format") == checkpoint.FORMAT:
        return checkpoint.load(p, expect_model=expect_model, expect_inputs=expect_inputs)
    if not (isinstance(payload, dict) and all(k in payload for k in published.KEY_MAP)):
        raise UserError(f"{p}: neither an rsnn_decoding checkpoint nor a published tinyRSNN state dict; "
                        "pass a checkpoint written by this pipeline or a tinyRSNN-<seed>.pth file")
    model = published.load(p)
    match = re.search(r"-(\d+)\.pth?$", p.name)
    meta = {"model": model.cfg.name, "seed": int(match.group(1)) if match else None,
            "stage": "published", "sessions": []}
    if expect_model is not None and meta["model"] != expect_model:
        raise UserError(f"{p}: holds a {meta['model']} model, expected {expect_model}; "
                        "check the model name in the rule or command")
    if expect_inputs is not None and model.n_inputs != expect_inputs:
        raise UserError(f"{p}: model has {model.n_inputs} input channels but the data has "
                        f"{expect_inputs}; use a checkpoint of the same monkey")
    return model, meta


def evaluate_checkpoint(checkpoint_path: str | os.PathLike, session_h5: str | os.PathLike | None = None,
                        static_only: bool = False, batch_steps: int = BATCH_STEPS,
                        expect_model: str | None = None) -> dict[str, Any]:
    """Evaluate any network checkpoint (ours or published) on a session's test sequence."""
    p = Path(checkpoint_path)
    if session_h5 is None and not static_only:
        raise UserError(f"{p}: no session given; pass --session results/preprocessed/<session>.h5 "
                        "or --static-only")
    pre = data.load_preprocessed(session_h5) if session_h5 is not None else None
    model, meta = load_any(p, expect_model, None if pre is None else pre.n_channels)
    try:
        metrics = evaluate_network(model, pre, batch_steps=batch_steps, static_only=static_only)
    except MetricError as exc:
        raise UserError(f"{p}: {exc}; check the model and the neurobench installation") from None
    sessions = meta.get("sessions") or []
    identity = {
        "checkpoint_sha256": sha256_file(p),
        "session": pre.session if pre is not None else (sessions[0] if len(sessions) == 1 else None),
        "model": meta.get("model", model.cfg.name),
        "seed": meta.get("seed"),
    }
    if static_only:
        return {**{k: metrics[k] for k in STATIC_KEYS}, **identity,
                "evaluation_seconds": metrics["evaluation_seconds"]}
    out = {**metrics, **identity}
    return {k: out[k] for k in EVAL_KEYS}


# ----------------------------------------------------------------------------- ridge baseline


def fit_ridge_model(session_h5: str | os.PathLike, out_json: str | os.PathLike) -> None:
    """Fit the ridge (Wiener filter) baseline (train, alpha on val); save its JSON atomically."""
    pre = data.load_preprocessed(session_h5)
    decoder = baseline.fit_ridge(pre)
    write_json(out_json, {"session": pre.session, "data_sha256": pre.sha256, **decoder.to_dict()})


def load_ridge(path: str | os.PathLike) -> tuple[baseline.RidgeDecoder, dict[str, Any]]:
    """Ridge decoder and its JSON payload; UserError naming the file when unreadable."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: ridge model not found; run the ridge fitting step")
    try:
        payload = read_json(p)
    except (ValueError, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split())[:120]
        raise UserError(f"{p}: not valid JSON ({reason}); delete it and rerun the ridge fit") from None
    if not isinstance(payload, dict) or payload.get("model") != "ridge":
        raise UserError(f"{p}: not a ridge model JSON; delete it and rerun the ridge fit")
    try:
        decoder = baseline.RidgeDecoder.from_dict(payload)
    except UserError as exc:
        raise UserError(f"{p}: {exc}") from None
    return decoder, payload


def ridge_footprint(decoder: baseline.RidgeDecoder) -> int:
    """Bytes of the ridge coefficients (weights and intercept, as stored: float64)."""
    return int(np.asarray(decoder.coef).nbytes + np.asarray(decoder.intercept).nbytes)


def ridge_macs(decoder: baseline.RidgeDecoder) -> int:
    """Multiply-adds per step: one per coefficient (intercept additions are not synaptic operations)."""
    return int(np.asarray(decoder.coef).size)


def neurobench_r2(y_true: np.ndarray, y_pred: np.ndarray, batch_steps: int = BATCH_STEPS) -> float:
    """NeuroBench's R2 metric, accumulated over batches of the sequence as in a Benchmark run."""
    metric = R2()
    metric.reset()
    yt = torch.from_numpy(np.ascontiguousarray(y_true, dtype=np.float32))
    yp = torch.from_numpy(np.ascontiguousarray(y_pred, dtype=np.float32))
    value = float("nan")
    for start in range(0, len(yt), batch_steps):
        sl = slice(start, start + batch_steps)
        value = metric(None, yp[sl], (yp[sl], yt[sl]))
    return float(value)


def evaluate_ridge(ridge_json: str | os.PathLike, session_h5: str | os.PathLike,
                   batch_steps: int = BATCH_STEPS) -> dict[str, Any]:
    """Ridge metrics on the test sequence: R2 by NeuroBench's metric, compute from its coefficients."""
    t0 = time.perf_counter()
    decoder, payload = load_ridge(ridge_json)
    pre = data.load_preprocessed(session_h5)
    if decoder.n_inputs != pre.n_channels:
        raise UserError(f"{ridge_json}: ridge model has {decoder.n_inputs} channels but {session_h5} has "
                        f"{pre.n_channels}; fit it on this session")
    if payload.get("session") not in (None, pre.session):
        raise UserError(f"{ridge_json}: fitted on {payload['session']}, not on {pre.session}; "
                        "fit it on this session")
    _, y = eval_sequence(pre)
    preds = decoder.predict(pre.spikes[pre.test_index])
    _, r2x, r2y = baseline.r2_score(y.numpy(), preds)
    coef = np.asarray(decoder.coef)
    macs = float(ridge_macs(decoder))
    out = {
        "r2": neurobench_r2(y.numpy(), preds, batch_steps),
        "r2_x": r2x,
        "r2_y": r2y,
        "footprint": ridge_footprint(decoder),
        "connection_sparsity": float(np.count_nonzero(coef == 0) / coef.size),
        "activation_sparsity": None,
        "dense": macs,
        "macs": macs,
        "acs": 0.0,
        "checkpoint_sha256": sha256_file(ridge_json),
        "session": pre.session,
        "model": "ridge",
        "seed": 0,
        "evaluation_seconds": time.perf_counter() - t0,
    }
    return {k: out[k] for k in EVAL_KEYS}


def evaluate_to_json(model_name: str, model_path: str | os.PathLike, session_h5: str | os.PathLike,
                     out_json: str | os.PathLike, seed: int | None = None,
                     batch_steps: int = BATCH_STEPS) -> None:
    """Workflow entry: evaluate a network checkpoint or the ridge JSON and write the result atomically."""
    if model_name == "ridge":
        result = evaluate_ridge(model_path, session_h5, batch_steps=batch_steps)
    else:
        result = evaluate_checkpoint(model_path, session_h5, batch_steps=batch_steps, expect_model=model_name)
        if seed is not None and result["seed"] is not None and int(result["seed"]) != int(seed):
            raise UserError(f"{model_path}: holds seed {result['seed']}, expected seed {seed}; "
                            "rerun the stage that writes it")
        if result["seed"] is None:
            result["seed"] = seed
    write_json(out_json, result)


# ----------------------------------------------------------------------------- CLI


def _cli_evaluate(args: argparse.Namespace) -> int:
    """Handler of `rsnn-decoding evaluate`."""
    result = evaluate_checkpoint(args.checkpoint, args.session, static_only=args.static_only)
    text = json.dumps(result, indent=2)
    if args.out:
        with atomic_output(args.out) as tmp:
            tmp.write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add the `evaluate` subcommand."""
    p = subparsers.add_parser(
        "evaluate", help="NeuroBench evaluation of a checkpoint (ours or the authors' published ones)",
        description="Evaluate a network checkpoint on a session's test sequence with NeuroBench 2.3.0.",
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint (.pt of this pipeline or published .pth)")
    p.add_argument("--session", default=None, help="preprocessed session .h5 (results/preprocessed/X.h5)")
    p.add_argument("--static-only", action="store_true",
                   help="only footprint, connection sparsity and parameter count (no data needed)")
    p.add_argument("--out", default=None, help="output JSON (default: stdout)")
    p.set_defaults(func=_cli_evaluate)
