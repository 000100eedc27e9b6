"""Torch backend of the fast engine: the recursion with fused in-place torch ops per step and a hand-written
BPTT with chunked weight-gradient matmuls (any device, any dtype; time-major buffers)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rsnn_decoding.network.engine.common import (
    _adjoint_buffer,
    _chunk_len,
    _readout_grads,
    _state_buffers,
    _surrogate,
    _zero_grads,
)


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
