"""Recurrent spiking network (tinyRSNN / bigRSNN): pure step functions, thin modules, reference loop.

Time step semantics (METHOD.md §3), steps t = 0 .. T-1, dt = 4 ms. Every step t:

(a) every population updates its state from the input current that arrived in step t-1
    (the "pending" input, zero before step 0);
(b) every connection adds W @ (its source's current output) to its target's input for step t+1.

The input population's output at step t is x_t, so x_t reaches the hidden synaptic current
at t+1, the hidden membrane at t+2, can cause a hidden spike at t+3, reaches the readout
synaptic current at t+4 and the readout output (the prediction) at t+5.

`NetState` therefore holds, besides the population states, the pending input currents
delivered in step t-1: ``hidden_input = fc_in(x_{t-1}) + fc_rec(s_{t-1})`` and
``readout_input = fc_out(s_{t-1})``. The prediction y_t is the readout ``out`` after the
update of step t (mean over heads).
"""


from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rsnn_decoding.network.config import ModelConfig
from rsnn_decoding.network.dropout import apply_keep, draw_dropout_masks
from rsnn_decoding.network.engine import fast_run
from rsnn_decoding.network.functional import (
    Decays,
    LIFState,
    NetState,
    ReadoutState,
    RunOutput,
    decay,
    head_mean,
    lif_step,
    readout_step,
    superspike,
)

ENGINES = ("fast", "reference")


class SpikeFn(nn.Module):
    """Spike non-linearity as a module: input mem, output Heaviside(mem - threshold) (SuperSpike)."""

    def __init__(self, beta: float = 20.0, threshold: float = 1.0) -> None:
        """Store the surrogate steepness and the firing threshold."""
        super().__init__()
        self.beta = float(beta)
        self.threshold = float(threshold)

    def forward(self, mem: Tensor) -> Tensor:
        """Binary spikes s = H(mem - threshold)."""
        return superspike(mem - self.threshold, self.beta)

    def extra_repr(self) -> str:
        """Show beta and threshold."""
        return f"beta={self.beta}, threshold={self.threshold}"


class RSNN(nn.Module):
    """Input -> recurrent LIF hidden layer -> leaky readout heads (tinyRSNN / bigRSNN)."""

    def __init__(self, n_inputs: int, cfg: ModelConfig, engine: str = "fast") -> None:
        """Build the layers; weights use nn.Linear's default init (train.py re-initialises)."""
        super().__init__()
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        self.cfg = cfg
        self.engine = engine
        h, k2 = cfg.hidden, 2 * cfg.n_heads
        self.fc_in = nn.Linear(n_inputs, h, bias=False)
        self.fc_rec = nn.Linear(h, h, bias=False)
        self.fc_out = nn.Linear(h, k2, bias=False)
        self.spike = SpikeFn(cfg.beta)
        self.in_dropout = nn.Dropout(cfg.dropout)
        self.hid_dropout = nn.Dropout(cfg.dropout)
        self.p_mem = nn.Parameter(torch.rand(h))
        self.p_syn = nn.Parameter(torch.rand(h))
        self.p_mem_out = nn.Parameter(torch.ones(k2))
        self.p_syn_out = nn.Parameter(torch.ones(k2))
        self._stream_state: NetState | None = None

    # -- properties
    @property
    def n_inputs(self) -> int:
        """Number of input channels C."""
        return self.fc_in.in_features

    @property
    def hidden_size(self) -> int:
        """Number of hidden neurons H."""
        return self.fc_in.out_features

    @property
    def n_heads(self) -> int:
        """Number of readout heads."""
        return self.cfg.n_heads

    @property
    def dtype(self) -> torch.dtype:
        """Dtype of the parameters."""
        return self.fc_in.weight.dtype

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return self.fc_in.weight.device

    def weight_matrices(self) -> list[nn.Parameter]:
        """The three connection matrices [fc_in.weight, fc_rec.weight, fc_out.weight]."""
        return [self.fc_in.weight, self.fc_rec.weight, self.fc_out.weight]

    # -- time constants
    def readout_taus(self) -> tuple[list[float], list[float]]:
        """Per-readout-unit base taus in ms (tau_syn, tau_mem), 2 * heads each, head-major."""
        syn = [s for s, _ in self.cfg.heads for _ in range(2)]
        mem = [m for _, m in self.cfg.heads for _ in range(2)]
        return syn, mem

    def _readout_decay(self, p: Tensor, which: int) -> Tensor:
        """Readout decays per head (scalar base tau per head, as separate groups in the original)."""
        dt = self.cfg.dt_ms
        parts = [decay(p[2 * k : 2 * k + 2], head[which], dt) for k, head in enumerate(self.cfg.heads)]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def decays(self) -> Decays:
        """Decay factors of hidden and readout units, differentiable, in the param dtype."""
        c = self.cfg
        return Decays(
            mem=decay(self.p_mem, c.tau_mem_ms, c.dt_ms),
            syn=decay(self.p_syn, c.tau_syn_ms, c.dt_ms),
            mem_out=self._readout_decay(self.p_mem_out, 1),
            syn_out=self._readout_decay(self.p_syn_out, 0),
        )

    # -- dropout
    def dropout_masks(
        self, batch: int, steps: int, device: Any = None
    ) -> tuple[Tensor | None, Tensor | None]:
        """Keep-masks (input (B,T,C), hidden (B,T,H)) for one forward call; (None, None) in eval or p == 0."""
        p_in, p_hid = self.in_dropout.p, self.hid_dropout.p
        if not self.training or (p_in == 0 and p_hid == 0):
            return None, None
        return draw_dropout_masks(batch, steps, self.n_inputs, self.hidden_size, p_in, device, p_hid)

    def prepare_run(self, x: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None, Decays]:
        """Check and cast a sequence (B, T, C), draw its dropout masks, compute the decays (both engines)."""
        if x.dim() != 3 or x.shape[-1] != self.n_inputs:
            raise ValueError(f"expected input (B, T, {self.n_inputs}), got {tuple(x.shape)}")
        x = x.to(self.dtype)
        in_keep, hid_keep = self.dropout_masks(x.shape[0], x.shape[1], x.device)
        return x, in_keep, hid_keep, self.decays()

    # -- streaming
    def init_state(self, batch: int, device: Any = None, dtype: torch.dtype | None = None) -> NetState:
        """Zero state, readout out at cfg.readout_init (rounded to dtype)."""
        device = self.device if device is None else device
        dtype = self.dtype if dtype is None else dtype
        h, k2 = self.hidden_size, 2 * self.n_heads

        def zeros(n: int) -> Tensor:
            return torch.zeros(batch, n, device=device, dtype=dtype)

        out0 = torch.full((batch, k2), self.cfg.readout_init, device=device, dtype=dtype)
        return NetState(LIFState(zeros(h), zeros(h)), ReadoutState(zeros(k2), out0), zeros(h), zeros(k2))

    def advance(
        self,
        x_t: Tensor,
        state: NetState,
        dec: Decays,
        in_keep: Tensor | None = None,
        hid_keep: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, NetState]:
        """One step -> (y_t, hidden spikes before dropout, new state); keep-masks (B, C), (B, H) or None."""
        spikes, hidden = lif_step(state.hidden, state.hidden_input, dec.mem, dec.syn, self.spike)
        out, readout = readout_step(state.readout, state.readout_input, dec.mem_out, dec.syn_out)
        x_prop = apply_keep(x_t, in_keep, self.in_dropout.p)
        s_prop = apply_keep(spikes, hid_keep, self.hid_dropout.p)
        hidden_input = self.fc_in(x_prop) + self.fc_rec(s_prop)
        readout_input = self.fc_out(s_prop)
        return head_mean(out), spikes, NetState(hidden, readout, hidden_input, readout_input)

    def step(self, x_t: Tensor, state: NetState) -> tuple[Tensor, NetState]:
        """One streaming step (no dropout): x_t (B, C) -> (y_t (B, 2), new state)."""
        y, _, new_state = self.advance(x_t.to(self.dtype), state, self.decays())
        return y, new_state

    def reset_stream(self) -> None:
        """Forget the streaming state (next stream() call starts from init_state)."""
        self._stream_state = None

    def stream(self, x_t: Tensor) -> Tensor:
        """Stateful streaming step: x_t (B, C) or (C,) -> y_t (B, 2) or (2,)."""
        single = x_t.dim() == 1
        xb = x_t.unsqueeze(0) if single else x_t
        state = self._stream_state
        if state is None or state.hidden.mem.shape[0] != xb.shape[0]:
            state = self.init_state(xb.shape[0], device=xb.device)
        y, self._stream_state = self.step(xb, state)
        return y[0] if single else y

    # -- whole sequences
    def run(self, x: Tensor) -> RunOutput:
        """Whole sequence x (B, T, C) -> RunOutput, via the engine named by self.engine."""
        if self.engine == "fast":
            return fast_run(self, x)
        return reference_run(self, x)

    def forward(self, x: Tensor) -> Tensor:
        """Whole sequence x (B, T, C) -> prediction (B, T, 2)."""
        return self.run(x).y


def reference_run(model: RSNN, x: Tensor) -> RunOutput:
    """Plain per-step loop over the pure step functions (the oracle); dropout in training mode."""
    x, in_keep, hid_keep, dec = model.prepare_run(x)
    batch, steps, _ = x.shape
    state = model.init_state(batch, device=x.device)
    ys = []
    counts = torch.zeros(batch, model.hidden_size, device=x.device, dtype=model.dtype)
    for t in range(steps):
        ik = None if in_keep is None else in_keep[:, t]
        hk = None if hid_keep is None else hid_keep[:, t]
        y, spikes, state = model.advance(x[:, t], state, dec, ik, hk)
        ys.append(y)
        counts = counts + spikes
    return RunOutput(torch.stack(ys, dim=1), counts)
