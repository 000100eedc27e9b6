"""The same network written with snntorch neuron classes (for the bench and an equivalence test).

snntorch's `RSynaptic` / `Synaptic` differ from METHOD.md §3 in three places, so the two
classes below subclass them and override only the state update:
- snntorch fires on the NEW membrane; METHOD.md fires on the OLD one (s = H(mem - 1) first);
- snntorch integrates mem_new = beta * mem + syn_new; METHOD.md uses the OLD synaptic current
  scaled by (1 - beta): mem_new = beta * mem + (1 - beta) * syn;
- METHOD.md resets multiplicatively to zero with the detached spike of this step.
The surrogate is snntorch's `fast_sigmoid(slope=beta)`, i.e. 1 / (beta |mem - 1| + 1)^2 =
SuperSpike. Connections and delays follow METHOD.md §3: the input current of step t is
fc_in(x_{t-1}) + W_rec s_{t-1} (pending from the previous step), the readout gets fc_out(s_{t-1}).
"""

from __future__ import annotations

import snntorch as snn
import torch
from snntorch import surrogate
from torch import Tensor, nn

from rsnn_decoding.network.config import ModelConfig
from rsnn_decoding.network.functional import decay, head_mean
from rsnn_decoding.network.rsnn import RSNN


class SpecRSynaptic(snn.RSynaptic):
    """Recurrent synaptic LIF with METHOD.md update (old-membrane spike, (1 - beta) syn, reset to 0)."""

    def __init__(self, alpha: Tensor, beta: Tensor, hidden: int, slope: float) -> None:
        """All-to-all bias-free recurrence of size hidden; SuperSpike surrogate of steepness slope."""
        super().__init__(
            alpha=alpha, beta=beta, all_to_all=True, linear_features=hidden,
            spike_grad=surrogate.fast_sigmoid(slope=slope), reset_mechanism="zero",
        )
        self.recurrent = nn.Linear(hidden, hidden, bias=False)

    def forward(  # type: ignore[override]
        self, input_: Tensor, spk: Tensor, syn: Tensor, mem: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """input_: feed-forward current; spk: propagated spikes of the previous step -> (spk, syn, mem)."""
        s = self.fire(mem).to(mem.dtype)  # Heaviside(mem - threshold) from the OLD membrane
        reset = s.detach()
        a_mem = self.beta.clamp(0, 1)
        syn_new = self.alpha.clamp(0, 1) * syn + (input_ + self.recurrent(spk))
        mem_new = (a_mem * mem + (1 - a_mem) * syn) * (1 - reset)
        return s, syn_new, mem_new


class SpecSynapticReadout(snn.Synaptic):
    """Non-spiking synaptic leaky integrator: syn_new = alpha syn + I, out_new = beta out + (1 - beta) syn."""

    def __init__(self, alpha: Tensor, beta: Tensor) -> None:
        """Readout units never spike or reset."""
        super().__init__(alpha=alpha, beta=beta, reset_mechanism="none")

    def forward(self, input_: Tensor, syn: Tensor, mem: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        """One update from the old state -> (syn_new, out_new)."""
        a_mem = self.beta.clamp(0, 1)
        out_new = a_mem * mem + (1 - a_mem) * syn
        syn_new = self.alpha.clamp(0, 1) * syn + input_
        return syn_new, out_new


class SnnTorchRSNN(nn.Module):
    """tinyRSNN / bigRSNN built from snntorch neurons; forward (B, T, C) -> (B, T, 2)."""

    def __init__(self, n_inputs: int, cfg: ModelConfig) -> None:
        """Same parameters as RSNN: three bias-free matrices and the four time-constant vectors."""
        super().__init__()
        self.cfg = cfg
        h, k2 = cfg.hidden, 2 * cfg.n_heads
        self.fc_in = nn.Linear(n_inputs, h, bias=False)
        self.fc_out = nn.Linear(h, k2, bias=False)
        self.p_mem = nn.Parameter(torch.rand(h))
        self.p_syn = nn.Parameter(torch.rand(h))
        self.p_mem_out = nn.Parameter(torch.ones(k2))
        self.p_syn_out = nn.Parameter(torch.ones(k2))
        self.lif = SpecRSynaptic(torch.ones(h), torch.ones(h), h, cfg.beta)
        self.readout = SpecSynapticReadout(torch.ones(k2), torch.ones(k2))
        self.in_dropout = nn.Dropout(cfg.dropout)
        self.hid_dropout = nn.Dropout(cfg.dropout)

    def set_decays(self) -> None:
        """Put the current (differentiable) decay factors into the snntorch alpha/beta slots."""
        c = self.cfg

        def per_head(p: Tensor, which: int) -> Tensor:
            parts = [decay(p[2 * k : 2 * k + 2], head[which], c.dt_ms) for k, head in enumerate(c.heads)]
            return torch.cat(parts)

        self.lif.alpha = decay(self.p_syn, c.tau_syn_ms, c.dt_ms)
        self.lif.beta = decay(self.p_mem, c.tau_mem_ms, c.dt_ms)
        self.readout.alpha = per_head(self.p_syn_out, 0)
        self.readout.beta = per_head(self.p_mem_out, 1)

    def init_state(self, batch: int) -> tuple[Tensor, ...]:
        """Zero state (propagated spikes, syn, mem, readout syn, pending currents), readout out at its start."""
        p = self.fc_in.weight
        kw = {"dtype": p.dtype, "device": p.device}
        h, k2 = self.cfg.hidden, 2 * self.cfg.n_heads
        out = torch.full((batch, k2), self.cfg.readout_init, **kw)
        zeros_h = [torch.zeros(batch, h, **kw) for _ in range(4)]
        return (zeros_h[0], zeros_h[1], zeros_h[2], torch.zeros(batch, k2, **kw), out, zeros_h[3],
                torch.zeros(batch, k2, **kw))

    def step(self, x_t: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, tuple[Tensor, ...]]:
        """One step x_t (B, C) -> (y_t (B, 2), hidden spikes before dropout, new state); call
        set_decays() once before a sequence of steps."""
        spk_prop, syn, mem, syn_o, out, cur_in, cur_out = state
        spk, syn, mem = self.lif(cur_in, spk_prop, syn, mem)
        syn_o, out = self.readout(cur_out, syn_o, out)
        spk_prop = self.hid_dropout(spk)
        cur_in = self.fc_in(self.in_dropout(x_t.to(self.fc_in.weight.dtype)))  # fc_in(x_t), pending
        cur_out = self.fc_out(spk_prop)  # fc_out(s_t), pending
        return head_mean(out), spk, (spk_prop, syn, mem, syn_o, out, cur_in, cur_out)

    def run(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Per-step loop in the snntorch style -> (y (B, T, 2), hidden spike counts (B, H))."""
        self.set_decays()
        state = self.init_state(x.shape[0])
        ys = []
        counts = torch.zeros_like(state[1])
        for t in range(x.shape[1]):
            y, spk, state = self.step(x[:, t], state)
            ys.append(y)
            counts = counts + spk
        return torch.stack(ys, dim=1), counts

    def forward(self, x: Tensor) -> Tensor:
        """Whole sequence (B, T, C) -> (B, T, 2); dropout on inputs and propagated spikes in training."""
        return self.run(x)[0]


def from_rsnn(model: RSNN) -> SnnTorchRSNN:
    """An SnnTorchRSNN with the weights, time constants, dtype and device of an RSNN."""
    net = SnnTorchRSNN(model.n_inputs, model.cfg).to(device=model.device, dtype=model.dtype)
    with torch.no_grad():
        net.fc_in.weight.copy_(model.fc_in.weight)
        net.lif.recurrent.weight.copy_(model.fc_rec.weight)
        net.fc_out.weight.copy_(model.fc_out.weight)
        for name in ("p_mem", "p_syn", "p_mem_out", "p_syn_out"):
            getattr(net, name).copy_(getattr(model, name))
    net.train(model.training)
    return net
