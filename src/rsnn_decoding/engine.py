"""Fast training path and compiled streaming inference for RSNN (same numbers as model.reference_run).

Training: `fast_run(model, x)` runs the whole sequence inside ONE custom autograd Function with a
hand-written backward-through-time (SuperSpike surrogate, detached reset, gradients of the decay
factors of hidden and readout units, spike counts differentiable). Dropout masks come from
model.dropout_masks (same draws as the reference). Two backends:

- "numba" (default on CPU, float32/float64; batch-major buffers): one parallel numba kernel runs
  the forward recursion and sums only the weight columns of non-zero inputs and spikes (the input
  projection and the recurrent/readout products are exact sparse sums). The backward product
  through [W_rec; W_out] is dense: a per-sample mat-vec in one parallel kernel for H <= 128, a BLAS
  matmul per step plus a fused elementwise kernel above. The recurrent, readout and input weight
  gradients sum only over the active (sample, step, neuron / channel) entries.
- "torch" (any device, any dtype; time-major buffers): the input projection of all steps is one
  matmul, the recursion uses fused in-place torch ops per step, the weight gradients are chunked
  matmuls over all steps.

The numba backend keeps its big state and adjoint buffers in a per-model `Workspace` between
calls (taken by a forward call, given back by its backward), which saves the page faults of
fresh memory on every training step. `hash_keep_numba` fills the dropout keep-masks of
model.draw_dropout_masks (counter-based hash, parallel, same bits as the torch implementation).

Streaming: `StreamingDecoder` copies the weights and decay factors to numpy and runs the step of
`RSNN.step` in a numba-compiled loop (batch 1, float32 or float64); float16 (numba has no float16
arithmetic on CPU) and CUDA use the model's own torch step on a converted copy.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rsnn_decoding.model import (
    MASK_BITS,
    MASK_GAMMA,
    MASK_MIX1,
    MASK_MIX2,
    RSNN,
    RunOutput,
    apply_keep,
    head_mean,
)

try:  # numba is a dependency, but keep the torch path usable without it
    import numba
    from numba import njit, prange

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only without numba
    numba = None
    HAVE_NUMBA = False

# Up to this hidden size the backward mat-vec runs per sample inside one parallel numba kernel;
# above it a BLAS matmul per step (weights reused across the batch) is faster.
FUSED_MAX_HIDDEN = 128
# From this many (sample, neuron) pairs on, the per-step backward kernel runs in parallel.
PARALLEL_STEP_ELEMENTS = 1 << 16
# Elements per chunk of the big vectorised backward operations.
CHUNK_ELEMENTS = 1 << 22


# ----------------------------------------------------------------------------- numba kernels


def _identity_decorator(*_args: Any, **_kwargs: Any) -> Any:
    """Stand-in for numba.njit when numba is missing (kernels are then never called)."""

    def wrap(fn: Any) -> Any:
        return fn

    return wrap


if HAVE_NUMBA:
    _jit = njit
    _prange = prange
else:  # pragma: no cover
    _jit = _identity_decorator
    _prange = range


@_jit(parallel=True, cache=True)
def _forward_sequence(x, in_keep, w_in_t, w_t, a_m, oma, a_s, b_m, omb, b_s, hid_keep, use_keep, consts, mem, syn, spk, outs, syno, counts):  # noqa: ANN001, ANN202, E501
    """Whole forward recursion (SPEC 3), parallel over samples; sums only non-zero inputs and spikes.

    Batch-major arrays: x, in_keep (B, T, C); hid_keep, spk (B, T, H); mem, syn (B, T + 1, H);
    outs, syno (B, T + 1, K); counts (B, H). w_in_t (C, H) = W_in^T; w_t (H, H + K) = [W_rec; W_out]^T;
    consts = [input keep scale, beta, 1, 0, readout start, hidden keep scale].
    """
    batch, steps, n_in = x.shape
    hidden = w_in_t.shape[1]
    width = w_t.shape[1]
    k2 = width - hidden
    sc, one, zero, sc_h = consts[0], consts[2], consts[3], consts[5]
    for b in _prange(batch):
        pend = np.zeros(width, dtype=w_t.dtype)  # pending inputs: hidden [:H], readout [H:]
        mem_b, syn_b, spk_b, cnt = mem[b], syn[b], spk[b], counts[b]
        outs_b, syno_b, x_b = outs[b], syno[b], x[b]
        for i in range(hidden):
            mem_b[0, i] = zero
            syn_b[0, i] = zero
            cnt[i] = zero
        for k in range(k2):
            syno_b[0, k] = zero
            outs_b[0, k] = consts[4]
        for t in range(steps):
            # (a) populations update from the pending inputs
            for i in range(hidden):
                m = mem_b[t, i]
                sy = syn_b[t, i]
                s = m > one
                spk_b[t, i] = s
                cnt[i] += one if s else zero
                syn_b[t + 1, i] = a_s[i] * sy + pend[i]
                m_new = a_m[i] * m + oma[i] * sy
                mem_b[t + 1, i] = zero if s else m_new
            for k in range(k2):
                so = syno_b[t, k]
                outs_b[t + 1, k] = b_m[k] * outs_b[t, k] + omb[k] * so
                syno_b[t + 1, k] = b_s[k] * so + pend[hidden + k]
            # (b) connections deliver for the next step: W_in x_t + [W_rec; W_out] s_t, summing
            # only the columns of non-zero inputs and spikes
            pend[:] = zero
            for c in range(n_in):
                v = x_b[t, c]
                if v != 0:
                    if not use_keep:
                        for i in range(hidden):
                            pend[i] += v * w_in_t[c, i]
                    elif in_keep[b, t, c]:
                        v = v * sc
                        for i in range(hidden):
                            pend[i] += v * w_in_t[c, i]
            for j in range(hidden):
                if spk_b[t, j]:
                    if not use_keep:
                        for k in range(width):
                            pend[k] += w_t[j, k]
                    elif hid_keep[b, t, j]:
                        for k in range(width):
                            pend[k] += sc_h * w_t[j, k]


@_jit(cache=True, inline="always")
def _adjoint_row(dd, gc, keep_r, use_keep, consts, spk_r, mem_r, syn_r, a_m, oma, a_s, gm, g_r, g_r1, acc_m, acc_s):  # noqa: ANN001, ANN202, E501
    """One sample, one reverse step of the hidden adjoints (all arguments are rows of length H).

    dd = dL/d(propagated spikes of step t); gm in: dL/dmem_{t+1}, out: dL/dmem_t;
    g_r1 = dL/dsyn_{t+1} (read), g_r = dL/dsyn_t (written); acc_* accumulate dL/da_mem, dL/da_syn.
    """
    beta, one, zero, sc = consts[1], consts[2], consts[3], consts[5]
    for i in range(mem_r.shape[0]):
        kf = (sc if keep_r[i] else zero) if use_keep else one
        q = zero if spk_r[i] else gm[i]  # the reset factor (1 - s) is detached
        m = mem_r[i]
        sy = syn_r[i]
        gs1 = g_r1[i]
        acc_m[i] += q * (m - sy)
        acc_s[i] += gs1 * sy
        v = beta * abs(m - one) + one  # SuperSpike: ds/dmem = 1 / v^2
        gm[i] = (gc[i] + dd[i] * kf) / (v * v) + a_m[i] * q
        g_r[i] = a_s[i] * gs1 + oma[i] * q


@_jit(cache=True)
def _backward_step(dd, gc, keep_t, use_keep, consts, spk_t, mem_t, syn_t, a_m, oma, a_s, gm, g_t, g_t1, acc_m, acc_s):  # noqa: ANN001, ANN202, E501
    """One reverse step for the whole batch after a BLAS product (arrays are (B, .) step slices);
    acc_m / acc_s (1, H) are shared by all samples (they stay in cache)."""
    hidden = dd.shape[1]
    for b in range(dd.shape[0]):
        _adjoint_row(
            dd[b], gc[b], keep_t[b], use_keep, consts, spk_t[b], mem_t[b], syn_t[b], a_m, oma, a_s,
            gm[b], g_t[b, :hidden], g_t1[b, :hidden], acc_m[0], acc_s[0],
        )


@_jit(parallel=True, cache=True)
def _backward_step_par(dd, gc, keep_t, use_keep, consts, spk_t, mem_t, syn_t, a_m, oma, a_s, gm, g_t, g_t1, acc_m, acc_s):  # noqa: ANN001, ANN202, E501
    """_backward_step parallel over sample blocks (block p accumulates into acc_m[p], acc_s[p])."""
    batch, hidden = dd.shape
    parts = acc_m.shape[0]
    for p in _prange(parts):
        for b in range(p * batch // parts, (p + 1) * batch // parts):
            _adjoint_row(
                dd[b], gc[b], keep_t[b], use_keep, consts, spk_t[b], mem_t[b], syn_t[b], a_m, oma, a_s,
                gm[b], g_t[b, :hidden], g_t1[b, :hidden], acc_m[p], acc_s[p],
            )


@_jit(parallel=True, cache=True)
def _backward_fused(w_cat, gc, hid_keep, use_keep, consts, spk, mem, syn, a_m, oma, a_s, g, acc_m, acc_s):  # noqa: ANN001, ANN202, E501
    """Whole hidden reverse pass, parallel over samples (each sample's BPTT is independent); the
    product through w_cat (H + K, H) is a per-sample mat-vec, which pays off for small H."""
    batch, steps, hidden = spk.shape
    width = w_cat.shape[0]
    zero = consts[3]
    for b in _prange(batch):
        gm = np.zeros(hidden, dtype=w_cat.dtype)
        dd = np.zeros(hidden, dtype=w_cat.dtype)
        g_b = g[b]
        for t in range(steps - 1, -1, -1):
            dd[:] = zero
            for k in range(width):
                gk = g_b[t + 2, k]
                for i in range(hidden):
                    dd[i] += gk * w_cat[k, i]
            _adjoint_row(
                dd, gc[b], hid_keep[b, t], use_keep, consts, spk[b, t], mem[b, t], syn[b, t], a_m, oma, a_s,
                gm, g_b[t, :hidden], g_b[t + 1, :hidden], acc_m[b], acc_s[b],
            )


@_jit(parallel=True, cache=True)
def _readout_backward(g_outs, b_m, omb, b_s, outs, syno, go, g, hidden, acc):  # noqa: ANN001, ANN202
    """Readout adjoints per sample (batch-major): go[:, t] = dL/dout_t, g[:, t, H:] = dL/dsyn_out_t;
    acc[b] (2, K) receives the per-sample gradients of b_mem (row 0) and b_syn (row 1)."""
    batch, steps, k2 = g_outs.shape
    for b in _prange(batch):
        go_b, g_b, o_b, so_b, gy = go[b], g[b], outs[b], syno[b], g_outs[b]
        for k in range(k2):
            go_b[steps, k] = gy[steps - 1, k]
            g_b[steps, hidden + k] = 0.0
            g_b[steps + 1, hidden + k] = 0.0
        for t in range(steps - 1, -1, -1):
            for k in range(k2):
                g1 = go_b[t + 1, k]
                so = so_b[t, k]
                acc[b, 0, k] += g1 * (o_b[t, k] - so)
                acc[b, 1, k] += g_b[t + 1, hidden + k] * so
                g_b[t, hidden + k] = b_s[k] * g_b[t + 1, hidden + k] + omb[k] * g1
                v = b_m[k] * g1
                if t >= 1:
                    v += gy[t - 1, k]
                go_b[t, k] = v


@_jit(parallel=True, cache=True)
def _spike_weight_grad(spk, hid_keep, use_keep, consts, g, out):  # noqa: ANN001, ANN202
    """out[p] += sum over samples b of block p and steps t of d[b, t, j] * g[b, t + 2, :] (rows j).

    spk, hid_keep (B, T, H); d = spikes (* keep * scale); g (B, T + 2, W); out (P, H, W).
    """
    batch, steps, hidden = spk.shape
    width = g.shape[2]
    parts = out.shape[0]
    sc = consts[5]
    for p in _prange(parts):
        acc = out[p]
        for b in range(p * batch // parts, (p + 1) * batch // parts):
            for t in range(steps):
                for j in range(hidden):
                    if spk[b, t, j]:
                        if not use_keep:
                            for k in range(width):
                                acc[j, k] += g[b, t + 2, k]
                        elif hid_keep[b, t, j]:
                            for k in range(width):
                                acc[j, k] += sc * g[b, t + 2, k]


@_jit(parallel=True, cache=True)
def _input_weight_grad(x, in_keep, use_keep, consts, g, hidden, out):  # noqa: ANN001, ANN202
    """out[p] += sum over (b, t) of block p of x_prop[b, t, c] * g[b, t + 2, :hidden] (rows c)."""
    batch, steps, n_in = x.shape
    parts = out.shape[0]
    sc = consts[0]
    for p in _prange(parts):
        acc = out[p]
        for b in range(p * batch // parts, (p + 1) * batch // parts):
            for t in range(steps):
                for c in range(n_in):
                    v = x[b, t, c]
                    if v != 0 and (not use_keep or in_keep[b, t, c]):
                        if use_keep:
                            v = v * sc
                        for k in range(hidden):
                            acc[c, k] += v * g[b, t + 2, k]


_U64_GAMMA = np.uint64(MASK_GAMMA)
_U64_MIX1 = np.uint64(MASK_MIX1)
_U64_MIX2 = np.uint64(MASK_MIX2)


@_jit(parallel=True, cache=True)
def _hash_keep_kernel(base, thr, out):  # noqa: ANN001, ANN202
    """out[r, c] = top-24 bits of splitmix64(base + (r * cols + c) * GAMMA) >= thr (model.hash_keep_torch)."""
    rows, cols = out.shape
    s30, s27, s31, s40 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(64 - MASK_BITS)
    for r in _prange(rows):
        z = base + np.uint64(r) * np.uint64(cols) * _U64_GAMMA
        row = out[r]
        for c in range(cols):
            v = (z ^ (z >> s30)) * _U64_MIX1
            v = (v ^ (v >> s27)) * _U64_MIX2
            v = v ^ (v >> s31)
            row[c] = (v >> s40) >= thr
            z += _U64_GAMMA


def hash_keep_numba(shape: tuple[int, ...], base: int, threshold: int) -> Tensor:
    """CPU keep-mask of one hash stream (same bits as model.hash_keep_torch), parallel over rows."""
    out = torch.empty(shape, dtype=torch.bool)
    if out.numel() == 0:
        return out
    flat = out.numpy().reshape(shape[0] if len(shape) > 1 else 1, -1)
    _hash_keep_kernel(np.uint64(base), np.uint64(threshold), flat)
    return out


@_jit(cache=True)
def _stream_steps(xs, w_in_t, w_rec_t, w_out_t, dec, state, ys):  # noqa: ANN001, ANN202
    """Advance the streaming state over xs (T, C), writing predictions into ys (T, 2).

    dec rows: a_mem, 1-a_mem, a_syn (H); out: a_mem, 1-a_mem, a_syn (K) padded into (6, max(H, K)).
    state rows: syn, mem, pending hidden input (H); syn_out, out, pending readout input (K).
    """
    hidden = w_rec_t.shape[0]
    k2 = w_out_t.shape[1]
    n_inputs = w_in_t.shape[0]
    spk = np.zeros(hidden, dtype=np.bool_)
    zero = w_rec_t.dtype.type(0)
    for t in range(xs.shape[0]):
        # (a) populations update from the pending inputs (old state)
        for i in range(hidden):
            mem = state[1, i]
            syn = state[0, i]
            s = mem > 1.0
            spk[i] = s
            state[0, i] = dec[2, i] * syn + state[2, i]
            m = dec[0, i] * mem + dec[1, i] * syn
            state[1, i] = zero if s else m
        for k in range(k2):
            syn = state[3, k]
            state[4, k] = dec[3, k] * state[4, k] + dec[4, k] * syn
            state[3, k] = dec[5, k] * syn + state[5, k]
        # prediction: mean over heads of the readout outputs
        n_heads = k2 // 2
        for c in range(2):
            acc = zero
            for h in range(n_heads):
                acc += state[4, 2 * h + c]
            ys[t, c] = acc / n_heads
        # (b) connections deliver the inputs for the next step
        for i in range(hidden):
            state[2, i] = zero
        for k in range(k2):
            state[5, k] = zero
        for c in range(n_inputs):
            v = xs[t, c]
            if v != 0:
                for i in range(hidden):
                    state[2, i] += v * w_in_t[c, i]
        for j in range(hidden):
            if spk[j]:
                for i in range(hidden):
                    state[2, i] += w_rec_t[j, i]
                for k in range(k2):
                    state[5, k] += w_out_t[j, k]


# ----------------------------------------------------------------------------- helpers


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


def _consts(model: RSNN, dtype: torch.dtype, device: torch.device) -> Tensor:
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


# ----------------------------------------------------------------------------- torch backend


class _TorchSequenceFn(torch.autograd.Function):
    """Hidden + readout recursion over a sequence with plain torch ops (any device), hand-written BPTT."""

    @staticmethod
    def forward(
        ctx: Any, u: Tensor, w_rec: Tensor, w_out: Tensor, a_mem: Tensor, a_syn: Tensor, b_mem: Tensor,
        b_syn: Tensor, keep: Tensor | None, consts: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """u (B, T, H) dropped-out input projections, keep (B, T, H) -> outs (T, B, K), counts (B, H)."""
        batch, steps, hidden = u.shape
        k2 = w_out.shape[0]
        dt = u.dtype
        w_cat = torch.cat([w_rec, w_out], dim=0)  # (H + K, H)
        w_cat_t = w_cat.t().contiguous()
        sv = _state_buffers(steps, batch, hidden, k2, u)
        mem, syn, spk, outs, syno = (sv[k] for k in ("mem", "syn", "spk", "outs", "syno"))
        mem[0].zero_()
        syn[0].zero_()
        syno[0].zero_()
        outs[0] = consts[4]
        one_m_a, one_m_b = 1 - a_mem, 1 - b_mem
        pend_i = torch.zeros(batch, hidden, dtype=dt, device=u.device)
        pend_o = torch.zeros(batch, k2, dtype=dt, device=u.device)
        chunk = _chunk_len(steps, batch * hidden)
        hs = None
        for t in range(steps):
            # (a) populations update from the pending inputs
            torch.gt(mem[t], 1.0, out=spk[t])
            torch.addcmul(pend_i, a_syn, syn[t], out=syn[t + 1])
            torch.mul(a_mem, mem[t], out=mem[t + 1])
            mem[t + 1].addcmul_(one_m_a, syn[t]).masked_fill_(spk[t], 0.0)
            torch.mul(b_mem, outs[t], out=outs[t + 1])
            outs[t + 1].addcmul_(one_m_b, syno[t])
            torch.addcmul(pend_o, b_syn, syno[t], out=syno[t + 1])
            # (b) connections deliver for the next step
            if keep is None:
                d = spk[t].to(dt)
            else:
                if t % chunk == 0:
                    hs = keep[:, t : t + chunk].transpose(0, 1).to(dt) * consts[5]
                d = spk[t] * hs[t % chunk]
            r = d @ w_cat_t
            pend_i = u[:, t] + r[:, :hidden]
            pend_o = r[:, hidden:]
        counts = spk.sum(dim=0, dtype=dt)
        ctx.save_for_backward(mem, syn, spk, outs, syno, w_cat, a_mem, a_syn, b_mem, b_syn, keep, consts)
        return outs[1:], counts

    @staticmethod
    def backward(ctx: Any, g_outs: Tensor | None, g_counts: Tensor | None) -> tuple[Any, ...]:
        """Reverse pass: readout adjoints, hidden adjoints (dense product per step), weight gradients."""
        mem, syn, spk, outs, syno, w_cat, a_mem, a_syn, b_mem, b_syn, keep, consts = ctx.saved_tensors
        steps, batch, hidden = spk.shape
        k2 = outs.shape[2]
        width = hidden + k2
        dt, dev = mem.dtype, mem.device
        g_outs, g_counts = _zero_grads(g_outs, g_counts, spk, k2, dt)
        g = _adjoint_buffer(steps, batch, width, mem)
        g_b_mem, g_b_syn = _readout_grads(g_outs, outs, syno, b_mem, b_syn, g)
        scale, beta = consts[5], float(consts[1])
        one_m_a = 1 - a_mem
        g_h = g[..., :hidden]
        g_a_mem = torch.zeros(hidden, dtype=dt, device=dev)
        g_a_syn = torch.zeros(hidden, dtype=dt, device=dev)
        gm = torch.zeros(batch, hidden, dtype=dt, device=dev)
        chunk = _chunk_len(steps, batch * hidden)
        t_end = steps
        while t_end > 0:
            t0 = max(0, t_end - chunk)
            sg = _surrogate(mem[t0:t_end], beta)
            not_s = (~spk[t0:t_end]).to(dt)
            hs = None if keep is None else keep[:, t0:t_end].transpose(0, 1).to(dt) * scale
            q = torch.empty(t_end - t0, batch, hidden, dtype=dt, device=dev)
            for t in range(t_end - 1, t0 - 1, -1):
                i = t - t0
                dd = g[t + 2] @ w_cat  # dL/dd_t (B, H): dense product through W_rec and W_out
                ds = dd.add_(g_counts) if hs is None else torch.addcmul(g_counts, dd, hs[i])
                torch.mul(gm, not_s[i], out=q[i])
                gm = ds.mul_(sg[i]).addcmul_(a_mem, q[i])
                torch.mul(a_syn, g_h[t + 1], out=g_h[t])
                g_h[t].addcmul_(one_m_a, q[i])
            g_a_mem += (q * (mem[t0:t_end] - syn[t0:t_end])).sum(dim=(0, 1))
            g_a_syn += (g_h[t0 + 1 : t_end + 1] * syn[t0:t_end]).sum(dim=(0, 1))
            t_end = t0
        # weights: dL/dW_cat = sum_t g[t+2]^T d_t (d_t = propagated spikes of step t)
        g_next = g[2:]
        g_w_cat = torch.zeros(width, hidden, dtype=dt, device=dev)
        for t0 in range(0, steps, chunk):
            t1 = min(steps, t0 + chunk)
            d = spk[t0:t1].to(dt)
            if keep is not None:
                d = d * (keep[:, t0:t1].transpose(0, 1).to(dt) * scale)
            g_w_cat.addmm_(g_next[t0:t1].reshape(-1, width).t(), d.reshape(-1, hidden))
        g_u = g[2:, :, :hidden].transpose(0, 1)
        return g_u, g_w_cat[:hidden], g_w_cat[hidden:], g_a_mem, g_a_syn, g_b_mem, g_b_syn, None, None


# ----------------------------------------------------------------------------- numba backend


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


def workspace(model: RSNN) -> Workspace:
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


def fast_run(model: RSNN, x: Tensor, backend: str | None = None) -> RunOutput:
    """Whole sequence x (B, T, C) -> RunOutput, same numbers and dropout draws as reference_run.

    backend: "numba" (CPU kernels, default on CPU) or "torch" (plain torch ops, any device).
    """
    x, in_keep, hid_keep, dec = model.prepare_run(x)
    consts = _consts(model, x.dtype, x.device)
    weights = (model.fc_rec.weight, model.fc_out.weight, dec.mem, dec.syn, dec.mem_out, dec.syn_out)
    if pick_backend(x.device, backend, x.dtype) == "numba":
        inputs = (x, model.fc_in.weight, *weights)
        release = not (torch.is_grad_enabled() and any(t.requires_grad for t in inputs))
        outs, counts = _NumbaSequenceFn.apply(*inputs, in_keep, hid_keep, consts, workspace(model), release)
        return RunOutput(head_mean(outs), counts)
    u = F.linear(apply_keep(x, in_keep, model.in_dropout.p), model.fc_in.weight)  # (B, T, H): all steps at once
    outs, counts = _TorchSequenceFn.apply(u, *weights, hid_keep, consts)
    return RunOutput(head_mean(outs.transpose(0, 1)), counts)


# ----------------------------------------------------------------------------- streaming


def _half_safe_copy(model: RSNN, dtype: torch.dtype) -> RSNN:
    """A detached copy of the model in dtype (decays then computed from the converted parameters)."""
    m = copy.deepcopy(model).to(dtype)
    m.eval()
    return m


class StreamingDecoder:
    """Batch-1 streaming inference, one 4 ms step per call; numba on CPU (float32/64), else torch."""

    def __init__(self, model: RSNN, dtype: torch.dtype | None = None, backend: str | None = None) -> None:
        """Copy weights and decay factors of model (converted to dtype) for streaming."""
        dtype = model.dtype if dtype is None else dtype
        m = _half_safe_copy(model, dtype)
        with torch.no_grad():
            dec = m.decays()
            w_in, w_rec, w_out = (w.detach() for w in m.weight_matrices())
        self.dtype = dtype
        self.hidden = m.hidden_size
        self.n_inputs = m.n_inputs
        self.k2 = 2 * m.n_heads
        self.readout_init = m.cfg.readout_init
        numba_ok = HAVE_NUMBA and dtype in (torch.float32, torch.float64) and m.device.type == "cpu"
        self.backend = backend or ("numba" if numba_ok else "torch")
        if self.backend == "numba" and not numba_ok:
            raise ValueError("numba streaming needs numba, a CPU model and float32/float64")
        if self.backend == "numba":
            width = max(self.hidden, self.k2)
            d = np.zeros((6, width), dtype=torch.empty(0, dtype=dtype).numpy().dtype)
            for row, v in enumerate(
                (dec.mem, 1 - dec.mem, dec.syn, dec.mem_out, 1 - dec.mem_out, dec.syn_out)
            ):
                d[row, : v.numel()] = v.numpy()
            self._dec = d
            self._w_in_t = np.ascontiguousarray(w_in.t().numpy())
            self._w_rec_t = np.ascontiguousarray(w_rec.t().numpy())
            self._w_out_t = np.ascontiguousarray(w_out.t().numpy())
            self._np_dtype = d.dtype
            self._y1 = np.zeros((1, 2), dtype=d.dtype)
        else:
            self._model = m
        self.reset()

    def reset(self) -> None:
        """Return to the initial state (zeros, readout out at readout_init)."""
        if self.backend == "numba":
            s = np.zeros((6, max(self.hidden, self.k2)), dtype=self._np_dtype)
            s[4, : self.k2] = self._np_dtype.type(self.readout_init)
            self._state = s
        else:
            self._tstate = self._model.init_state(1)

    def _as_array(self, x: Any) -> np.ndarray:
        """Input as a (T, C) contiguous numpy array in the decoder dtype."""
        if isinstance(x, Tensor):
            x = x.detach().cpu().numpy()
        x = np.asarray(x)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ValueError(f"expected input (T, {self.n_inputs}) or ({self.n_inputs},), got {x.shape}")
        return np.ascontiguousarray(x, dtype=self._np_dtype)

    def step(self, x_t: Any) -> np.ndarray:
        """One step: x_t (C,) -> y_t (2,)."""
        if self.backend == "numba":
            xs = self._as_array(x_t)
            _stream_steps(xs, self._w_in_t, self._w_rec_t, self._w_out_t, self._dec, self._state, self._y1)
            return self._y1[0].copy()
        return self._torch_steps(torch.as_tensor(np.asarray(x_t)).reshape(1, -1))[0].numpy()

    def run(self, x: Any) -> np.ndarray:
        """Continue streaming over a whole sequence x (T, C) -> (T, 2)."""
        if self.backend == "numba":
            xs = self._as_array(x)
            ys = np.empty((xs.shape[0], 2), dtype=self._np_dtype)
            _stream_steps(xs, self._w_in_t, self._w_rec_t, self._w_out_t, self._dec, self._state, ys)
            return ys
        return self._torch_steps(torch.as_tensor(np.asarray(x))).numpy()

    @torch.no_grad()
    def _torch_steps(self, x: Tensor) -> Tensor:
        """Plain-torch steps of model._advance (used for float16 and CUDA)."""
        m = self._model
        x = x.to(device=m.device, dtype=self.dtype)
        ys = torch.empty(x.shape[0], 2, dtype=self.dtype)
        state = self._tstate
        for t in range(x.shape[0]):
            y, state = m.step(x[t : t + 1], state)
            ys[t] = y[0].cpu()
        self._tstate = state
        return ys


def numba_threads() -> int:
    """Number of threads numba kernels use (0 without numba)."""
    return int(numba.get_num_threads()) if HAVE_NUMBA else 0


__all__ = ["HAVE_NUMBA", "StreamingDecoder", "fast_run", "numba_threads"]
