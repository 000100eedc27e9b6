"""Pure time-step functions of the network (METHOD.md section 3): states, spikes, decays, LIF and readout updates.

Every function maps (state, input, parameters) to (output, new state) and holds no state of its own;
`rsnn.RSNN` wraps them in an nn.Module.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor


class LIFState(NamedTuple):
    """Hidden LIF population state: synaptic current and membrane potential, (B, H)."""

    syn: Tensor
    mem: Tensor


class ReadoutState(NamedTuple):
    """Readout leaky-integrator state: synaptic current and output, (B, 2 * heads)."""

    syn: Tensor
    out: Tensor


class NetState(NamedTuple):
    """Whole-network state between steps; the *_input fields arrived in the previous step."""

    hidden: LIFState
    readout: ReadoutState
    hidden_input: Tensor  # (B, H): fc_in(x_{t-1}) + fc_rec(s_{t-1})
    readout_input: Tensor  # (B, 2 * heads): fc_out(s_{t-1})


class Decays(NamedTuple):
    """Per-unit decay factors a = exp(-dt / (tau * softplus(p)))."""

    mem: Tensor  # (H,)
    syn: Tensor  # (H,)
    mem_out: Tensor  # (2 * heads,)
    syn_out: Tensor  # (2 * heads,)


class RunOutput(NamedTuple):
    """Result of a whole-sequence run."""

    y: Tensor  # (B, T, 2) prediction (mean over heads of readout out)
    spike_counts: Tensor  # (B, H) hidden spikes summed over time, before dropout


class SuperSpike(torch.autograd.Function):
    """Heaviside(v) forward (v > 0 -> 1); backward grad / (beta |v| + 1)^2 (Zenke & Ganguli 2018)."""

    @staticmethod
    def forward(ctx: Any, v: Tensor, beta: float) -> Tensor:
        """Binary spikes where v > 0."""
        ctx.save_for_backward(v)
        ctx.beta = beta
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None]:
        """Surrogate gradient 1 / (beta |v| + 1)^2."""
        (v,) = ctx.saved_tensors
        return grad_output / (ctx.beta * v.abs() + 1.0) ** 2, None


def superspike(v: Tensor, beta: float = 20.0) -> Tensor:
    """Heaviside(v) with the SuperSpike surrogate derivative."""
    return SuperSpike.apply(v, beta)


def decay(p: Tensor, tau_ms: float, dt_ms: float) -> Tensor:
    """a = exp(-dt / (tau * softplus(p))) in p's dtype.

    Evaluated with dt and tau in seconds as Python floats, the same operations as the
    authors' code, so float16 decays round exactly as theirs.
    """
    return torch.exp(-(dt_ms / 1000.0) / ((tau_ms / 1000.0) * F.softplus(p)))


def lif_step(
    state: LIFState, input_current: Tensor, a_mem: Tensor, a_syn: Tensor, spike_fn: Any
) -> tuple[Tensor, LIFState]:
    """One LIF update (METHOD.md §3), all from the OLD state.

    s_new   = spike_fn(mem)                  (Heaviside(mem - 1), SuperSpike surrogate)
    syn_new = a_syn * syn + I
    mem_new = (a_mem * mem + (1 - a_mem) * syn) * (1 - s_new.detach())
    """
    spikes = spike_fn(state.mem)
    syn_new = a_syn * state.syn + input_current
    mem_new = (a_mem * state.mem + (1 - a_mem) * state.syn) * (1 - spikes.detach())
    return spikes, LIFState(syn_new, mem_new)


def readout_step(
    state: ReadoutState, input_current: Tensor, a_mem: Tensor, a_syn: Tensor
) -> tuple[Tensor, ReadoutState]:
    """One readout update (METHOD.md §3): syn_new = a_syn*syn + I; out_new = a_mem*out + (1-a_mem)*syn (old syn)."""
    syn_new = a_syn * state.syn + input_current
    out_new = a_mem * state.out + (1 - a_mem) * state.syn
    return out_new, ReadoutState(syn_new, out_new)


def head_mean(out: Tensor) -> Tensor:
    """Prediction from readout outputs (..., 2 * heads), rows head-major -> (..., 2)."""
    return out.unflatten(-1, (-1, 2)).mean(dim=-2)
