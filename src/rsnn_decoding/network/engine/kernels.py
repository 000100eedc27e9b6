"""Numba kernels of the fast engine (METHOD.md section 3): the forward recursion, the adjoint steps of the
hand-written BPTT, the sparse weight gradients and the batch-1 streaming loop. Plain numpy arrays in, no torch."""

from __future__ import annotations

import numpy as np

from rsnn_decoding.network.jit import jit, prange


@jit(parallel=True, cache=True)
def _forward_sequence(x, in_keep, w_in_t, w_t, a_m, oma, a_s, b_m, omb, b_s, hid_keep, use_keep, consts, mem, syn, spk, outs, syno, counts):  # noqa: ANN001, ANN202, E501
    """Whole forward recursion (METHOD.md §3), parallel over samples; sums only non-zero inputs and spikes.

    Batch-major arrays: x, in_keep (B, T, C); hid_keep, spk (B, T, H); mem, syn (B, T + 1, H);
    outs, syno (B, T + 1, K); counts (B, H). w_in_t (C, H) = W_in^T; w_t (H, H + K) = [W_rec; W_out]^T;
    consts = [input keep scale, beta, 1, 0, readout start, hidden keep scale].
    """
    batch, steps, n_in = x.shape
    hidden = w_in_t.shape[1]
    width = w_t.shape[1]
    k2 = width - hidden
    sc, one, zero, sc_h = consts[0], consts[2], consts[3], consts[5]
    for b in prange(batch):
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


@jit(cache=True, inline="always")
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


@jit(cache=True)
def _backward_step(dd, gc, keep_t, use_keep, consts, spk_t, mem_t, syn_t, a_m, oma, a_s, gm, g_t, g_t1, acc_m, acc_s):  # noqa: ANN001, ANN202, E501
    """One reverse step for the whole batch after a BLAS product (arrays are (B, .) step slices);
    acc_m / acc_s (1, H) are shared by all samples (they stay in cache)."""
    hidden = dd.shape[1]
    for b in range(dd.shape[0]):
        _adjoint_row(
            dd[b], gc[b], keep_t[b], use_keep, consts, spk_t[b], mem_t[b], syn_t[b], a_m, oma, a_s,
            gm[b], g_t[b, :hidden], g_t1[b, :hidden], acc_m[0], acc_s[0],
        )


@jit(parallel=True, cache=True)
def _backward_step_par(dd, gc, keep_t, use_keep, consts, spk_t, mem_t, syn_t, a_m, oma, a_s, gm, g_t, g_t1, acc_m, acc_s):  # noqa: ANN001, ANN202, E501
    """_backward_step parallel over sample blocks (block p accumulates into acc_m[p], acc_s[p])."""
    batch, hidden = dd.shape
    parts = acc_m.shape[0]
    for p in prange(parts):
        for b in range(p * batch // parts, (p + 1) * batch // parts):
            _adjoint_row(
                dd[b], gc[b], keep_t[b], use_keep, consts, spk_t[b], mem_t[b], syn_t[b], a_m, oma, a_s,
                gm[b], g_t[b, :hidden], g_t1[b, :hidden], acc_m[p], acc_s[p],
            )


@jit(parallel=True, cache=True)
def _backward_fused(w_cat, gc, hid_keep, use_keep, consts, spk, mem, syn, a_m, oma, a_s, g, acc_m, acc_s):  # noqa: ANN001, ANN202, E501
    """Whole hidden reverse pass, parallel over samples (each sample's BPTT is independent); the
    product through w_cat (H + K, H) is a per-sample mat-vec, which pays off for small H."""
    batch, steps, hidden = spk.shape
    width = w_cat.shape[0]
    zero = consts[3]
    for b in prange(batch):
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


@jit(parallel=True, cache=True)
def _readout_backward(g_outs, b_m, omb, b_s, outs, syno, go, g, hidden, acc):  # noqa: ANN001, ANN202
    """Readout adjoints per sample (batch-major): go[:, t] = dL/dout_t, g[:, t, H:] = dL/dsyn_out_t;
    acc[b] (2, K) receives the per-sample gradients of b_mem (row 0) and b_syn (row 1)."""
    batch, steps, k2 = g_outs.shape
    for b in prange(batch):
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


@jit(parallel=True, cache=True)
def _spike_weight_grad(spk, hid_keep, use_keep, consts, g, out):  # noqa: ANN001, ANN202
    """out[p] += sum over samples b of block p and steps t of d[b, t, j] * g[b, t + 2, :] (rows j).

    spk, hid_keep (B, T, H); d = spikes (* keep * scale); g (B, T + 2, W); out (P, H, W).
    """
    batch, steps, hidden = spk.shape
    width = g.shape[2]
    parts = out.shape[0]
    sc = consts[5]
    for p in prange(parts):
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


@jit(parallel=True, cache=True)
def _input_weight_grad(x, in_keep, use_keep, consts, g, hidden, out):  # noqa: ANN001, ANN202
    """out[p] += sum over (b, t) of block p of x_prop[b, t, c] * g[b, t + 2, :hidden] (rows c)."""
    batch, steps, n_in = x.shape
    parts = out.shape[0]
    sc = consts[0]
    for p in prange(parts):
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


@jit(cache=True)
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
