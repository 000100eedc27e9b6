"""Helpers shared by the engine's backends: backend choice, constants vector, buffers, readout adjoints."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rsnn_decoding.network.dropout import apply_keep
from rsnn_decoding.network.jit import HAVE_NUMBA

# Elements per chunk of the big vectorised backward operations.
CHUNK_ELEMENTS = 1 << 22

BACKENDS = ("numba", "torch")


def pick_backend(device: torch.device, backend: str | None = None, dtype: torch.dtype = torch.float32) -> str:
    """The training backend: "numba" (CPU kernels, float32/float64) when possible, else "torch" (any device)."""
    numba_ok = device.type == "cpu" and HAVE_NUMBA and dtype in (torch.float32, torch.float64)
    if backend is None:
        return "numba" if numba_ok else "torch"
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "numba" and not numba_ok:
        raise ValueError("the numba backend needs numba, CPU tensors and float32 or float64")
    return backend


def _consts(model: Any, dtype: torch.dtype, device: torch.device) -> Tensor:
    """[input keep scale, beta, 1, 0, readout start, hidden keep scale] in dtype.

    The keep scales 1 / (1 - p) are computed with model.apply_keep, so they round as there.
    """
    one = torch.ones(1, dtype=dtype, device=device)
    keep = torch.ones(1, dtype=torch.bool, device=device)
    sc_in = apply_keep(one, keep, model.in_dropout.p)
    sc_hid = apply_keep(one, keep, model.hid_dropout.p)
    rest = torch.tensor([model.spike.beta, 1.0, 0.0, model.cfg.readout_init], dtype=dtype, device=device)
    return torch.cat([sc_in, rest, sc_hid])


def _chunk_len(steps: int, per_step: int) -> int:
    """Number of time steps per vectorised chunk."""
    return max(1, min(steps, CHUNK_ELEMENTS // max(1, per_step)))


def _surrogate(mem: Tensor, beta: float) -> Tensor:
    """SuperSpike derivative 1 / (beta |mem - 1| + 1)^2, as in model.SuperSpike."""
    return 1.0 / (beta * (mem - 1.0).abs() + 1.0) ** 2


def _state_buffers(steps: int, batch: int, hidden: int, k2: int, like: Tensor) -> dict[str, Tensor]:
    """Time-major state trajectories (T + 1, B, .) and spikes (T, B, H)."""
    kw = {"dtype": like.dtype, "device": like.device}
    return {
        "mem": torch.empty(steps + 1, batch, hidden, **kw),
        "syn": torch.empty(steps + 1, batch, hidden, **kw),
        "spk": torch.empty(steps, batch, hidden, dtype=torch.bool, device=like.device),
        "outs": torch.empty(steps + 1, batch, k2, **kw),
        "syno": torch.empty(steps + 1, batch, k2, **kw),
    }


def _readout_grads(
    g_outs: Tensor, outs: Tensor, syno: Tensor, b_mem: Tensor, b_syn: Tensor, g: Tensor
) -> tuple[Tensor, Tensor]:
    """Readout adjoints (time-major) into g[..., H:] = dL/dsyn_out_t; returns (dL/db_mem, dL/db_syn)."""
    steps, batch, k2 = g_outs.shape
    hidden = g.shape[2] - k2
    go = torch.empty(steps + 1, batch, k2, dtype=g.dtype, device=g.device)
    g_o = g[..., hidden:]
    one_m_b = 1 - b_mem
    go[steps] = g_outs[steps - 1]
    for t in range(steps - 1, -1, -1):
        torch.mul(b_syn, g_o[t + 1], out=g_o[t])
        g_o[t].addcmul_(one_m_b, go[t + 1])
        if t >= 1:
            torch.addcmul(g_outs[t - 1], b_mem, go[t + 1], out=go[t])
        else:
            torch.mul(b_mem, go[t + 1], out=go[t])
    g_b_mem = ((outs[:steps] - syno[:steps]) * go[1:]).sum(dim=(0, 1))
    g_b_syn = (g_o[1 : steps + 1] * syno[:steps]).sum(dim=(0, 1))
    return g_b_mem, g_b_syn


def _zero_grads(g_outs: Tensor | None, g_counts: Tensor | None, spk: Tensor, k2: int, dtype: torch.dtype):  # noqa: ANN202
    """Replace missing output gradients by zeros."""
    steps, batch, hidden = spk.shape
    if g_outs is None:
        g_outs = torch.zeros(steps, batch, k2, dtype=dtype, device=spk.device)
    if g_counts is None:
        g_counts = torch.zeros(batch, hidden, dtype=dtype, device=spk.device)
    return g_outs, g_counts


def _adjoint_buffer(steps: int, batch: int, width: int, like: Tensor) -> Tensor:
    """g[t] = [dL/dsyn_t | dL/dsyn_out_t], (T + 2, B, H + K); rows T and T + 1 are zero (unused)."""
    g = torch.empty(steps + 2, batch, width, dtype=like.dtype, device=like.device)
    g[steps:].zero_()
    return g
