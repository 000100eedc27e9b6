"""The test-sequence recursion without module calls: the same torch operations as `RSNN.step`, for a batch of steps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rsnn_decoding.network.functional import NetState, lif_step, readout_step
from rsnn_decoding.network.rsnn import RSNN


def _heaviside(mem: Tensor, threshold: float) -> Tensor:
    """Forward value of SpikeFn: (mem - threshold > 0) in mem's dtype (same ops as model.SuperSpike)."""
    return ((mem - threshold) > 0).to(mem.dtype)


def run_steps(rsnn: RSNN, x: Tensor, state: NetState) -> tuple[Tensor, Tensor, Tensor, NetState]:
    """Per-step recursion of RSNN.step without module calls: (mems (T, H), spikes (T, H), outs (T, K), state).

    mems are the membranes the spike function sees at each step (before the update), outs the readout
    outputs after it. Every operation is the one RSNN.advance performs, in the same order and dtype.
    """
    dec = rsnn.decays()
    w_in, w_rec, w_out = (w.detach() for w in rsnn.weight_matrices())
    threshold = rsnn.spike.threshold

    def spike_fn(mem: Tensor) -> Tensor:
        return _heaviside(mem, threshold)

    mems: list[Tensor] = []
    spikes: list[Tensor] = []
    outs: list[Tensor] = []
    for t in range(x.shape[0]):
        mems.append(state.hidden.mem)
        s, hidden = lif_step(state.hidden, state.hidden_input, dec.mem, dec.syn, spike_fn)
        out, readout = readout_step(state.readout, state.readout_input, dec.mem_out, dec.syn_out)
        hidden_input = F.linear(x[t], w_in) + F.linear(s, w_rec)
        state = NetState(hidden, readout, hidden_input, F.linear(s, w_out))
        spikes.append(s)
        outs.append(out)
    return torch.cat(mems), torch.cat(spikes), torch.cat(outs), state
