"""Numba backend of the fast engine (CPU, float32/float64, batch-major buffers): the sparse forward kernel,
BPTT with fused kernels (per-sample mat-vec for small H, a BLAS matmul per step for large H), and the
per-model `Workspace` of big buffers reused between training steps."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rsnn_decoding.network.engine.kernels import (
    _backward_fused,
    _backward_step,
    _backward_step_par,
    _forward_sequence,
    _input_weight_grad,
    _readout_backward,
    _spike_weight_grad,
)
from rsnn_decoding.network.jit import numba

# Up to this hidden size the backward mat-vec runs per sample inside one parallel numba kernel;
# above it a BLAS matmul per step (weights reused across the batch) is faster.
FUSED_MAX_HIDDEN = 128
# From this many (sample, neuron) pairs on, the per-step backward kernel runs in parallel.
PARALLEL_STEP_ELEMENTS = 1 << 16

class Workspace:
    """Reusable big buffers of one model (numba backend), so that repeated training steps do not
    page-fault on fresh memory: a forward call takes its state buffers, its backward gives them
    (and its adjoint buffer) back once it no longer needs them. Kept on the model instance as
    `_engine_workspace`; deep copies and pickles of the model get an empty one. A backward whose
    buffers were meanwhile taken by another forward call (retain_graph) raises instead of reading
    overwritten values.
    """

    MAX_PER_KEY = 2  # mem and syn share a shape

    def __init__(self) -> None:
        """Empty pool."""
        self._free: dict[tuple[tuple[int, ...], torch.dtype], list[Tensor]] = {}
        self._free_ids: set[int] = set()
        self._owner: dict[int, int] = {}  # id(buffer) -> token of the last call that took it
        self._calls = 0

    def token(self) -> int:
        """A new call token."""
        self._calls += 1
        return self._calls

    def take(self, shape: tuple[int, ...], dtype: torch.dtype, token: int) -> Tensor:
        """A buffer of this shape and dtype (uninitialised) for the call `token`."""
        free = self._free.get((tuple(shape), dtype))
        buf = free.pop() if free else torch.empty(shape, dtype=dtype)
        self._free_ids.discard(id(buf))
        self._owner[id(buf)] = token
        return buf

    def check(self, token: int, *bufs: Tensor) -> None:
        """Raise if a buffer of call `token` was taken by another call since."""
        for b in bufs:
            if self._owner.get(id(b), token) != token:
                raise RuntimeError(
                    "fast_run: a second backward through a graph whose buffers were reused by a later "
                    "forward call; use backend='torch' (or run backward before the next forward)"
                )

    def give(self, *bufs: Tensor) -> None:
        """Return buffers to the pool (a buffer already free is not added twice)."""
        for b in bufs:
            if id(b) in self._free_ids or id(b) not in self._owner:
                continue
            free = self._free.setdefault((tuple(b.shape), b.dtype), [])
            if len(free) < self.MAX_PER_KEY:
                free.append(b)
                self._free_ids.add(id(b))
            else:
                del self._owner[id(b)]

    def clear(self) -> None:
        """Drop all pooled buffers."""
        self.__init__()

    def __deepcopy__(self, memo: dict) -> Workspace:
        """Copies start empty."""
        return Workspace()

    def __getstate__(self) -> dict:
        """Pickles carry no buffers."""
        return {}

    def __setstate__(self, state: dict) -> None:
        """Unpickle to an empty pool."""
        self.__init__()


def workspace(model: nn.Module) -> Workspace:
    """The model's buffer pool (created on first use)."""
    ws = model.__dict__.get("_engine_workspace")
    if ws is None:
        ws = Workspace()
        model.__dict__["_engine_workspace"] = ws
    return ws


class _NumbaSequenceFn(torch.autograd.Function):
    """Whole network over a sequence on CPU (batch-major buffers): sparse numba forward, BPTT with
    fused numba kernels (per-sample mat-vec for small H, a BLAS matmul per step for large H)."""

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, w_in: Tensor, w_rec: Tensor, w_out: Tensor, a_mem: Tensor, a_syn: Tensor,
        b_mem: Tensor, b_syn: Tensor, in_keep: Tensor | None, hid_keep: Tensor | None, consts: Tensor,
        ws: Workspace | None = None, release: bool = False,
    ) -> tuple[Tensor, Tensor]:
        """x (B, T, C), keep-masks (B, T, .) or None -> outs (B, T, K), counts (B, H).

        Big buffers come from ws; release: no backward will follow, give them back at once.
        """
        batch, steps, _ = x.shape
        hidden, k2 = w_rec.shape[0], w_out.shape[0]
        x = x.detach().contiguous()
        w_cat = torch.cat([w_rec, w_out], dim=0).detach()  # (H + K, H)
        kw = {"dtype": x.dtype}
        ws = Workspace() if ws is None else ws
        ctx.ws, ctx.token = ws, ws.token()
        mem = ws.take((batch, steps + 1, hidden), x.dtype, ctx.token)
        syn = ws.take((batch, steps + 1, hidden), x.dtype, ctx.token)
        spk = ws.take((batch, steps, hidden), torch.bool, ctx.token)
        outs = torch.empty(batch, steps + 1, k2, **kw)
        syno = torch.empty(batch, steps + 1, k2, **kw)
        counts = torch.empty(batch, hidden, **kw)
        use_keep = in_keep is not None
        dec = (a_mem, 1 - a_mem, a_syn, b_mem, 1 - b_mem, b_syn)
        _forward_sequence(
            x.numpy(), in_keep.numpy() if use_keep else spk.numpy(), w_in.detach().t().contiguous().numpy(),
            w_cat.t().contiguous().numpy(), *(v.detach().numpy() for v in dec),
            hid_keep.numpy() if use_keep else spk.numpy(), use_keep, consts.numpy(),
            mem.numpy(), syn.numpy(), spk.numpy(), outs.numpy(), syno.numpy(), counts.numpy(),
        )
        if release:
            ws.give(mem, syn, spk)
            return outs[:, 1:], counts
        ctx.save_for_backward(
            x, w_in, mem, syn, spk, outs, syno, w_cat, a_mem, a_syn, b_mem, b_syn, in_keep, hid_keep, consts
        )
        return outs[:, 1:], counts

    @staticmethod
    def backward(ctx: Any, g_outs: Tensor | None, g_counts: Tensor | None) -> tuple[Any, ...]:
        """Reverse pass: readout adjoints, hidden adjoints, sparse weight gradients."""
        (x, w_in, mem, syn, spk, outs, syno, w_cat, a_mem, a_syn, b_mem, b_syn, in_keep, hid_keep,
         consts) = ctx.saved_tensors
        ctx.ws.check(ctx.token, mem, syn, spk)
        batch, steps, hidden = spk.shape
        k2 = outs.shape[2]
        width = hidden + k2
        np_dt = mem.numpy().dtype
        if g_outs is None:
            g_outs = torch.zeros(batch, steps, k2, dtype=mem.dtype)
        if g_counts is None:
            g_counts = torch.zeros(batch, hidden, dtype=mem.dtype)
        c_np = consts.numpy()
        mem_np, syn_np, spk_np = mem.numpy(), syn.numpy(), spk.numpy()
        use_keep = hid_keep is not None
        keep_np = hid_keep.numpy() if use_keep else spk_np
        # g[b, t] = [dL/dsyn_t | dL/dsyn_out_t]; steps T and T + 1 are zero (unused inputs)
        g = ctx.ws.take((batch, steps + 2, width), mem.dtype, ctx.token)
        g[:, steps:, :hidden] = 0.0
        g_np = g.numpy()
        go = np.empty((batch, steps + 1, k2), dtype=np_dt)
        acc_b = np.zeros((batch, 2, k2), dtype=np_dt)
        _readout_backward(
            g_outs.detach().contiguous().numpy(), b_mem.detach().numpy(), (1 - b_mem).detach().numpy(),
            b_syn.detach().numpy(), outs.numpy(), syno.numpy(), go, g_np, hidden, acc_b,
        )
        g_b = torch.from_numpy(acc_b.sum(axis=0))
        # hidden adjoints, reverse in time
        a_m, oma, a_s = (v.detach().numpy() for v in (a_mem, 1 - a_mem, a_syn))
        gc_np = g_counts.detach().contiguous().numpy()
        if hidden <= FUSED_MAX_HIDDEN:
            acc_m = np.zeros((batch, hidden), dtype=np_dt)
            acc_s = np.zeros_like(acc_m)
            _backward_fused(
                w_cat.numpy(), gc_np, keep_np, use_keep, c_np, spk_np, mem_np, syn_np, a_m, oma, a_s, g_np,
                acc_m, acc_s,
            )
        else:
            par = batch * hidden >= PARALLEL_STEP_ELEMENTS and numba.get_num_threads() > 1
            step_kernel = _backward_step_par if par else _backward_step
            acc_m = np.zeros((min(numba.get_num_threads(), batch) if par else 1, hidden), dtype=np_dt)
            acc_s = np.zeros_like(acc_m)
            gm = np.zeros((batch, hidden), dtype=np_dt)
            dd = torch.empty(batch, hidden, dtype=mem.dtype)
            dd_np = dd.numpy()
            for t in range(steps - 1, -1, -1):
                torch.mm(g[:, t + 2], w_cat, out=dd)  # dense: the backward product is not sparse
                step_kernel(
                    dd_np, gc_np, keep_np[:, t], use_keep, c_np, spk_np[:, t], mem_np[:, t], syn_np[:, t],
                    a_m, oma, a_s, gm, g_np[:, t], g_np[:, t + 1], acc_m, acc_s,
                )
        # weight gradients from the non-zero inputs / spikes only
        parts = max(1, min(numba.get_num_threads(), batch))
        acc = np.zeros((parts, hidden, width), dtype=np_dt)
        _spike_weight_grad(spk_np, keep_np, use_keep, c_np, g_np, acc)
        g_w_cat = torch.from_numpy(acc.sum(axis=0)).t()
        acc_in = np.zeros((parts, x.shape[2], hidden), dtype=np_dt)
        _input_weight_grad(
            x.numpy(), in_keep.numpy() if use_keep else spk_np, use_keep, c_np, g_np, hidden, acc_in
        )
        g_w_in = torch.from_numpy(acc_in.sum(axis=0)).t()
        g_x = None
        if ctx.needs_input_grad[0]:
            g_x = g[:, 2:, :hidden] @ w_in
            if use_keep:
                g_x = g_x * in_keep.to(g_x.dtype) * consts[0]
        ctx.ws.give(mem, syn, spk, g)
        return (
            g_x, g_w_in, g_w_cat[:hidden], g_w_cat[hidden:], torch.from_numpy(acc_m.sum(axis=0)),
            torch.from_numpy(acc_s.sum(axis=0)), g_b[0], g_b[1], None, None, None, None, None,
        )
