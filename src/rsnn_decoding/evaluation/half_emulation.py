"""float16 network steps on CPU in float64 arithmetic, rounded to float16 exactly as torch's float16 CPU ops.

torch evaluates a float16 network on CPU through emulated float16 kernels (about 200 us per step for a
tinyRSNN). `HalfStepper` runs the same recursion as `steps.run_steps` (the operations of
`RSNN.step`) in one numba loop, with every operation's result rounded to float16:

- elementwise ops (a * b, a + b, a - b of float16 values): computed exactly in float64 (a product of two
  float16 values has 22 significant bits, a sum spans at most 40 bits) and rounded once to float16, round
  half to even, overflow to inf: the correctly rounded result, which is what torch's float16 CPU kernels
  give (they compute each op in float32, where double rounding is innocuous since 24 >= 2 * 11 + 2);
- linear layers: torch's float16 CPU linear accumulates in float32 and rounds the sum once to float16
  (measured on torch 2.13 against exact sums and sequential float16 sums; the equality tests check
  it on whole sequences). The float32 sum equals the exact sum, whatever its order or blocking, when
  every partial sum is exactly representable in float32: all terms w * x are multiples of the smallest
  quantum q of their weights, so it suffices that sum |w * x| < q * 2^24. Otherwise the float32 sum is
  within (n - 1) / 2 float32 ulps of sum |w * x| of the exact one, whatever the order; when that whole
  interval rounds to one float16 value, so does torch's sum. The kernel checks this for every output of
  every step; where both tests fail, that step's three linear outputs are computed by the
  torch ops (F.linear in float16, as RSNN.advance does), so the result is torch's in every case.

Inputs must be whole numbers in [0, 2048] (spike counts): their products with float16 weights are then exact
in float32.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from rsnn_decoding.evaluation.steps import run_steps
from rsnn_decoding.network.functional import LIFState, NetState, ReadoutState
from rsnn_decoding.network.jit import HAVE_NUMBA
from rsnn_decoding.network.jit import jit as _jit
from rsnn_decoding.network.rsnn import RSNN

MAX_INPUT = 2048.0


@_jit(cache=True, inline="always")
def _r16(v):  # noqa: ANN001, ANN202
    """v (float64) rounded to the nearest float16 value, ties to even; overflow to +-inf."""
    a = abs(v)
    if a == 0.0 or not a < math.inf:
        return v
    if a >= 65520.0:
        return math.copysign(math.inf, v)
    _, e = math.frexp(a)  # a = m * 2^e, 0.5 <= m < 1
    q = 2.0**-24 if e < -13 else math.ldexp(1.0, e - 11)
    return math.copysign(np.rint(a / q) * q, v)


def round_to_half(values: np.ndarray) -> np.ndarray:
    """Elementwise _r16 of a float64 array (for tests)."""
    return _round_array(np.ascontiguousarray(values, dtype=np.float64).ravel()).reshape(np.shape(values))


@_jit(cache=True)
def _round_array(v):  # noqa: ANN001, ANN202
    """_r16 of every element of a 1-D float64 array."""
    out = np.empty_like(v)
    for i in range(v.shape[0]):
        out[i] = _r16(v[i])
    return out


@_jit(cache=True, inline="always")
def _linear_row(w, q, src, active, n_active, i):  # noqa: ANN001, ANN202
    """sum_k w[i, k] * src[k] over the active k, and whether float32 accumulation rounds to the same float16.

    True when every partial sum is exact in float32 (sum |terms| < smallest quantum * 2^24), or when the
    float32 sum, in any order (each of the n - 1 additions off by at most half an ulp of sum |terms|),
    stays inside the float16 rounding interval of the sum.
    """
    acc = 0.0
    bound = 0.0
    qmin = math.inf
    n = 0
    for j in range(n_active):
        k = active[j]
        wk = w[i, k]
        if wk != 0.0:
            term = wk * src[k]
            acc += term
            bound += abs(term)
            n += 1
            if q[i, k] < qmin:
                qmin = q[i, k]
    if bound < qmin * 16777216.0 or bound == 0.0:
        return acc, True
    _, e = math.frexp(bound)  # 2^(e - 1) <= bound < 2^e: float32 ulp of bound is 2^(e - 24)
    ulp = max(math.ldexp(1.0, e - 24), 2.0**-149)
    err = (n - 1) * 0.5 * ulp * 1.001 + bound * 2.0**-40  # float32 additions, plus float64 slack
    return acc, _r16(acc - err) == _r16(acc + err)


@_jit(cache=True, inline="always")
def _linears(x, w_in, q_in, w_rec, q_rec, w_out, q_out, spk, act_in, act_h, n_h, hin_new, rin_new):  # noqa: ANN001, ANN202, E501
    """hin_new = r16(r16(W_in x) + r16(W_rec s)), rin_new = r16(W_out s); False if a sum may be inexact in float32."""
    n_x = 0
    for c in range(x.shape[0]):
        if x[c] != 0.0:
            act_in[n_x] = c
            n_x += 1
    for i in range(w_rec.shape[0]):
        a, ok_a = _linear_row(w_in, q_in, x, act_in, n_x, i)
        b, ok_b = _linear_row(w_rec, q_rec, spk, act_h, n_h, i)
        if not (ok_a and ok_b):
            return False
        hin_new[i] = _r16(_r16(a) + _r16(b))
    for k in range(w_out.shape[0]):
        r, ok = _linear_row(w_out, q_out, spk, act_h, n_h, k)
        if not ok:
            return False
        rin_new[k] = _r16(r)
    return True


@_jit(cache=True)
def _half_steps(xs, w_in, q_in, w_rec, q_rec, w_out, q_out, dec, state, mems, spikes, outs, start, forced, use_forced):  # noqa: ANN001, ANN202, E501
    """Steps start.. of the float16 recursion; returns the first step not done (len(xs) when all are).

    dec rows (H or K wide, zero padded): a_mem, 1 - a_mem, a_syn (hidden), b_mem, 1 - b_mem, b_syn (readout),
    all float16 values as float64. state rows: syn, mem, pending hidden input (H); syn_out, out, pending
    readout input (K). A step whose linear sums might round differently in float32 is left undone; with
    use_forced, step `start` takes its linear outputs from forced (rows: hidden input, readout input),
    computed by the torch ops.
    """
    steps, n_in = xs.shape
    hidden = w_rec.shape[0]
    k2 = w_out.shape[0]
    spk = np.empty(hidden)
    syn_new = np.empty(hidden)
    mem_new = np.empty(hidden)
    hin_new = np.empty(hidden)
    syno_new = np.empty(k2)
    out_new = np.empty(k2)
    rin_new = np.empty(k2)
    act_in = np.empty(n_in, dtype=np.int64)
    act_h = np.empty(hidden, dtype=np.int64)
    for t in range(start, steps):
        # (a) hidden LIF update from the old state (model.lif_step)
        n_h = 0
        for i in range(hidden):
            mem = state[1, i]
            syn = state[0, i]
            s = 1.0 if _r16(mem - 1.0) > 0.0 else 0.0
            spk[i] = s
            if s != 0.0:
                act_h[n_h] = i
                n_h += 1
            syn_new[i] = _r16(_r16(dec[2, i] * syn) + state[2, i])
            m = _r16(_r16(dec[0, i] * mem) + _r16(dec[1, i] * syn))
            mem_new[i] = m * (1.0 - s)
        # readout update (model.readout_step)
        for k in range(k2):
            so = state[3, k]
            syno_new[k] = _r16(_r16(dec[5, k] * so) + state[5, k])
            out_new[k] = _r16(_r16(dec[3, k] * state[4, k]) + _r16(dec[4, k] * so))
        # (b) connections: fc_in(x_t) + fc_rec(s_t), fc_out(s_t), each rounded once
        if use_forced and t == start:
            for i in range(hidden):
                hin_new[i] = forced[0, i]
            for k in range(k2):
                rin_new[k] = forced[1, k]
        elif not _linears(xs[t], w_in, q_in, w_rec, q_rec, w_out, q_out, spk, act_in, act_h, n_h, hin_new, rin_new):
            return t
        # commit step t
        for i in range(hidden):
            mems[t, i] = state[1, i]
            spikes[t, i] = spk[i]
            state[0, i] = syn_new[i]
            state[1, i] = mem_new[i]
            state[2, i] = hin_new[i]
        for k in range(k2):
            outs[t, k] = out_new[k]
            state[3, k] = syno_new[k]
            state[4, k] = out_new[k]
            state[5, k] = rin_new[k]
    return steps


def quanta(w: np.ndarray) -> np.ndarray:
    """Quantum (value of the last significand bit) of every float16 weight, as float64; inf for zeros."""
    a = np.abs(w)
    _, e = np.frexp(a)
    q = np.where(e < -13, 2.0**-24, np.ldexp(1.0, e - 11))
    return np.where(a == 0, np.inf, q)


def supported(rsnn: RSNN) -> bool:
    """Whether HalfStepper can run this network: float16 on CPU, threshold 1, numba installed."""
    return (HAVE_NUMBA and rsnn.dtype == torch.float16 and rsnn.device.type == "cpu"
            and rsnn.spike.threshold == 1.0)


class HalfStepper:
    """The per-step float16 recursion of one network in a numba loop (bit-identical to the torch ops)."""

    def __init__(self, rsnn: RSNN) -> None:
        """Copy weights and decay factors (float16 values as float64)."""
        if not supported(rsnn):
            raise ValueError("HalfStepper needs a float16 network on the CPU and numba")
        self.rsnn = rsnn
        with torch.no_grad():
            dec = rsnn.decays()
            rows = (dec.mem, 1 - dec.mem, dec.syn, dec.mem_out, 1 - dec.mem_out, dec.syn_out)  # float16 ops
            width = max(rsnn.hidden_size, 2 * rsnn.n_heads)
            self.dec = np.zeros((6, width))
            for r, v in enumerate(rows):
                self.dec[r, : v.numel()] = v.double().numpy()
            self.w = [w.detach().double().numpy().copy() for w in rsnn.weight_matrices()]
        self.q = [quanta(w) for w in self.w]
        self.fallback_steps = 0

    def _weights(self) -> tuple[np.ndarray, ...]:
        """Kernel arguments: w_in, q_in, w_rec, q_rec, w_out, q_out."""
        return self.w[0], self.q[0], self.w[1], self.q[1], self.w[2], self.q[2]

    def state_arrays(self, state: NetState) -> np.ndarray:
        """NetState (batch 1, float16) -> the kernel's (6, width) float64 state."""
        h, k2 = self.rsnn.hidden_size, 2 * self.rsnn.n_heads
        st = np.zeros((6, max(h, k2)))
        for r, v in enumerate((state.hidden.syn, state.hidden.mem, state.hidden_input)):
            st[r, :h] = v[0].double().numpy()
        for r, v in enumerate((state.readout.syn, state.readout.out, state.readout_input)):
            st[3 + r, :k2] = v[0].double().numpy()
        return st

    def net_state(self, st: np.ndarray) -> NetState:
        """The kernel's state -> NetState (batch 1, float16); exact (the values are float16 values)."""
        h, k2 = self.rsnn.hidden_size, 2 * self.rsnn.n_heads

        def t(row: int, n: int) -> Tensor:
            return torch.from_numpy(st[row, :n].copy()).to(torch.float16)[None]

        return NetState(LIFState(t(0, h), t(1, h)), ReadoutState(t(3, k2), t(4, k2)), t(2, h), t(5, k2))

    def torch_linears(self, x_t: Tensor, mem: np.ndarray) -> np.ndarray:
        """The step's linear outputs by the torch ops of RSNN.advance: rows fc_in(x_t) + fc_rec(s), fc_out(s)."""
        rsnn = self.rsnn
        h, k2 = rsnn.hidden_size, 2 * rsnn.n_heads
        s = ((torch.from_numpy(mem[:h].copy()).to(torch.float16)[None] - rsnn.spike.threshold) > 0).to(torch.float16)
        w_in, w_rec, w_out = (w.detach() for w in rsnn.weight_matrices())
        hidden_input = F.linear(x_t, w_in) + F.linear(s, w_rec)
        forced = np.zeros((2, max(h, k2)))
        forced[0, :h] = hidden_input[0].double().numpy()
        forced[1, :k2] = F.linear(s, w_out)[0].double().numpy()
        return forced

    @torch.no_grad()
    def run(self, x: Tensor, state: NetState) -> tuple[Tensor, Tensor, Tensor, NetState]:
        """x (T, 1, C) float16 -> (mems (T, H), spikes (T, H), outs (T, K), state), as steps.run_steps."""
        xs = x[:, 0].double().numpy()
        if xs.size and (xs.min() < 0 or xs.max() > MAX_INPUT or not np.array_equal(xs, np.rint(xs))):
            return run_steps(self.rsnn, x, state)
        steps, h, k2 = xs.shape[0], self.rsnn.hidden_size, 2 * self.rsnn.n_heads
        mems, spikes, outs = np.empty((steps, h)), np.empty((steps, h)), np.empty((steps, k2))
        st = self.state_arrays(state)
        forced = np.zeros((2, max(h, k2)))
        t = _half_steps(xs, *self._weights(), self.dec, st, mems, spikes, outs, 0, forced, False)
        while t < steps:  # step t's linears by the torch ops, the rest of the step in the loop
            forced = self.torch_linears(x[t], st[1])
            self.fallback_steps += 1
            t = _half_steps(xs, *self._weights(), self.dec, st, mems, spikes, outs, t, forced, True)
        half = torch.float16
        return (torch.from_numpy(mems).to(half), torch.from_numpy(spikes).to(half), torch.from_numpy(outs).to(half),
                self.net_state(st))
