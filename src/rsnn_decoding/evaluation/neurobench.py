"""NeuroBench 2.3.0 evaluation of a network checkpoint or the ridge baseline on a session's test sequence.

The test block is one continuous sequence (METHOD.md §2). It is fed the way NeuroBench's
primate-reaching examples do: a DataLoader over the test steps (shuffle=False) yields batches
(steps, 1, C); `StreamingNet` loops over dimension 0 one step at a time through `RSNN.step`,
carrying the network state across steps and batches, and returns (steps, 2). Every connection
(fc_in, fc_rec, fc_out) is an nn.Linear called once per step, so NeuroBench's SynapticOperations
hooks see one input per step; the spike module (`model.SpikeFn`) is registered with
`add_activation_module`, so ActivationSparsity sees the hidden spikes of every step. That is the
audit path (mode "per_step"); the default mode "batched" (evaluation/batched.py) gives the same numbers
with one hooked call per layer and batch.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import math
import time
from typing import Any

import numpy as np
import torch
from neurobench.benchmarks import Benchmark
from neurobench.metrics.static import ConnectionSparsity, Footprint, ParameterCount
from neurobench.metrics.workload import R2, ActivationSparsity, SynapticOperations
from neurobench.models import TorchModel
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from rsnn_decoding.data.preprocess import Preprocessed
from rsnn_decoding.errors import UserError
from rsnn_decoding.evaluation.batched import describe, neurobench_model_batched
from rsnn_decoding.metrics import r2_per_output
from rsnn_decoding.network.functional import NetState
from rsnn_decoding.network.rsnn import RSNN, SpikeFn
from rsnn_decoding.runtime import resolve_device

log = logging.getLogger("rsnn_decoding.evaluate")

BATCH_STEPS = 4096
EVAL_MODES = ("batched", "per_step")
DEFAULT_MODE = "batched"
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


def eval_sequence(pre: Preprocessed, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    """Test inputs (steps, 1, C) in `dtype` and targets (steps, 2) float32, in time order."""
    idx = np.asarray(pre.test_index, dtype=np.int64)
    if idx.size == 0:
        raise UserError(f"{pre.path or pre.session}: empty test split; check the preprocessed session")
    x = torch.from_numpy(np.ascontiguousarray(pre.spikes[idx])).to(dtype).unsqueeze(1)
    y = torch.from_numpy(np.ascontiguousarray(pre.velocity[idx], dtype=np.float32))
    return x, y


def eval_loader(pre: Preprocessed, dtype: torch.dtype, batch_steps: int = BATCH_STEPS) -> DataLoader:
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


def run_benchmark(rsnn: RSNN, pre: Preprocessed, batch_steps: int = BATCH_STEPS,
                  mode: str = DEFAULT_MODE) -> tuple[dict[str, Any], Tensor]:
    """NeuroBench Benchmark run on the test sequence; (raw results, streamed predictions (steps, 2))."""
    if mode not in EVAL_MODES:
        raise UserError(f"config key 'evaluation.mode': {mode!r} is not one of {', '.join(EVAL_MODES)}")
    was_training = rsnn.training
    # TorchModel puts the network in eval mode
    nb_model, net = neurobench_model(rsnn) if mode == "per_step" else neurobench_model_batched(rsnn)
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


def evaluate_network(model: RSNN, pre: Preprocessed | None, batch_steps: int = BATCH_STEPS,
                     static_only: bool = False, mode: str = DEFAULT_MODE,
                     device: str | torch.device | None = None) -> dict[str, Any]:
    """NeuroBench metrics of a network on the session's test sequence (or only the static ones).

    mode: "batched" (hook calls once per batch) or "per_step" (once per step, for audits); device:
    where to run (auto | cpu | cuda or a torch.device; None: where the model is), in its dtype.
    """
    if static_only:
        t0 = time.perf_counter()
        out = static_metrics(model)
        out["evaluation_seconds"] = time.perf_counter() - t0
        return out
    if pre is None:
        raise ValueError("evaluate_network: a session is needed unless static_only=True")
    return benchmark_network(model, pre, batch_steps, mode, device)[0]


def benchmark_network(model: RSNN, pre: Preprocessed, batch_steps: int = BATCH_STEPS, mode: str = DEFAULT_MODE,
                      device: str | torch.device | None = None) -> tuple[dict[str, Any], Tensor]:
    """NeuroBench metrics of a network on the test sequence and its predictions (steps, 2) float32."""
    t0 = time.perf_counter()
    if device is not None and resolve_device(device) != model.device:
        model = copy.deepcopy(model).to(resolve_device(device))  # the caller's model stays put
    if model.n_inputs != pre.n_channels:
        raise UserError(f"{pre.path or pre.session}: has {pre.n_channels} channels but the model expects "
                        f"{model.n_inputs}; use a model of the same monkey")
    results, preds = run_benchmark(model, pre, batch_steps, mode)
    synops = results.get("SynapticOperations")
    if not isinstance(synops, dict):
        raise MetricError(f"NeuroBench returned {synops!r} for SynapticOperations")
    _, y = eval_sequence(pre)
    r2x, r2y = r2_per_output(y.numpy(), preds.numpy()).tolist()
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
        "evaluation_mode": mode,
        **describe(model),
    }
    log.info("%s on %s: R2 %.4f, ACs %.1f, %.1f s", model.cfg.name, pre.session, out["r2"], out["acs"],
             out["evaluation_seconds"])
    return out, preds


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


