"""Recurrent spiking network (tinyRSNN / bigRSNN): pure step functions, thin modules, reference loop.

Time step semantics (SPEC section 3), steps t = 0 .. T-1, dt = 4 ms. Every step t:

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

import dataclasses
import importlib.util
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ENGINES = ("fast", "reference")
TINY_HEADS: tuple[tuple[float, float], ...] = ((10.0, 50.0),)
BIG_HEADS: tuple[tuple[float, float], ...] = (
    (10.0, 50.0),
    (5.0, 20.0),
    (20.0, 20.0),
    (10.0, 30.0),
    (30.0, 100.0),
)


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of the network (SPEC section 3); taus in ms."""

    name: str
    hidden: int
    heads: tuple[tuple[float, float], ...]
    tau_mem_ms: float = 20.0
    tau_syn_ms: float = 10.0
    dropout: float = 0.3
    dt_ms: float = 4.0
    beta: float = 20.0
    readout_init: float = -0.01

    def __post_init__(self) -> None:
        """Normalise heads to a tuple of float pairs and check the values."""
        heads = tuple((float(s), float(m)) for s, m in self.heads)
        object.__setattr__(self, "heads", heads)
        if self.hidden < 1 or not heads:
            raise ValueError(f"ModelConfig: need hidden >= 1 and at least one head, got {self}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ModelConfig: dropout must be in [0, 1), got {self.dropout}")

    @property
    def n_heads(self) -> int:
        """Number of readout heads."""
        return len(self.heads)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible dict (heads as lists)."""
        d = dataclasses.asdict(self)
        d["heads"] = [list(h) for h in self.heads]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Inverse of to_dict (unknown keys are an error)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"ModelConfig: unknown keys {sorted(unknown)}")
        kw = dict(d)
        kw["heads"] = tuple(tuple(h) for h in kw["heads"])
        return cls(**kw)


def tiny_config(**overrides: Any) -> ModelConfig:
    """The paper's tinyRSNN: 64 hidden neurons, one readout head (10, 50) ms."""
    kw: dict[str, Any] = {"name": "tinyRSNN", "hidden": 64, "heads": TINY_HEADS}
    kw.update(overrides)
    return ModelConfig(**kw)


def big_config(hidden: int = 1024, **overrides: Any) -> ModelConfig:
    """The paper's bigRSNN: 1024 hidden neurons, five readout heads."""
    kw: dict[str, Any] = {"name": "bigRSNN", "hidden": hidden, "heads": BIG_HEADS}
    kw.update(overrides)
    return ModelConfig(**kw)


def config_for(name: str, **overrides: Any) -> ModelConfig:
    """Config of a model id ("tinyRSNN" or "bigRSNN")."""
    if name == "tinyRSNN":
        return tiny_config(**overrides)
    if name == "bigRSNN":
        return big_config(**overrides)
    raise ValueError(f"unknown model {name!r}; use tinyRSNN or bigRSNN")


# ----------------------------------------------------------------------------- states


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


# ----------------------------------------------------------------------------- spikes


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


# ----------------------------------------------------------------------------- pure steps


def decay(p: Tensor, tau_ms: float, dt_ms: float) -> Tensor:
    """a = exp(-dt / (tau * softplus(p))) in p's dtype.

    Evaluated with dt and tau in seconds as Python floats, the same operations as the
    authors' code, so float16 decays round exactly as theirs.
    """
    return torch.exp(-(dt_ms / 1000.0) / ((tau_ms / 1000.0) * F.softplus(p)))


def lif_step(
    state: LIFState, input_current: Tensor, a_mem: Tensor, a_syn: Tensor, spike_fn: Any
) -> tuple[Tensor, LIFState]:
    """One LIF update (SPEC 3), all from the OLD state.

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
    """One readout update (SPEC 3): syn_new = a_syn*syn + I; out_new = a_mem*out + (1-a_mem)*syn (old syn)."""
    syn_new = a_syn * state.syn + input_current
    out_new = a_mem * state.out + (1 - a_mem) * state.syn
    return out_new, ReadoutState(syn_new, out_new)


def head_mean(out: Tensor) -> Tensor:
    """Prediction from readout outputs (..., 2 * heads), rows head-major -> (..., 2)."""
    return out.unflatten(-1, (-1, 2)).mean(dim=-2)


# Dropout keep-masks come from a counter-based hash (splitmix64, Steele, Lea & Flood 2014) of one
# 64-bit seed drawn from torch's global RNG per forward call: element i of stream k keeps its value
# when the top 24 bits of mix(base_k + i * GAMMA) are >= ceil(p * 2^24), i.e. with probability
# 1 - p at the 24-bit resolution of torch.rand(float32) >= p. Each bit depends only on the seed and
# its flat (C-order) index, so the masks are the same for any thread count and for the numba
# (CPU) and torch (any device) implementations.
MASK_GAMMA = 0x9E3779B97F4A7C15
MASK_MIX1 = 0xBF58476D1CE4E5B9
MASK_MIX2 = 0x94D049BB133111EB
MASK_BITS = 24
MASK_CHUNK = 1 << 22
_U64 = (1 << 64) - 1


def _signed64(v: int) -> int:
    """An unsigned 64-bit value as the int64 with the same bits."""
    v &= _U64
    return v - (1 << 64) if v >= 1 << 63 else v


def mix64(z: int) -> int:
    """splitmix64 finaliser of a Python int (mod 2^64)."""
    z &= _U64
    z = ((z ^ (z >> 30)) * MASK_MIX1) & _U64
    z = ((z ^ (z >> 27)) * MASK_MIX2) & _U64
    return z ^ (z >> 31)


def mask_stream_base(seed: int, stream: int) -> int:
    """Start (unsigned 64-bit) of the hash stream `stream` of a mask seed."""
    return mix64(seed + (stream + 1) * MASK_GAMMA)


def mask_threshold(p: float) -> int:
    """ceil(p * 2^24): a 24-bit draw k keeps its element when k >= this (k / 2^24 >= p)."""
    return math.ceil(p * (1 << MASK_BITS))


def _shr(z: Tensor, k: int) -> Tensor:
    """Logical right shift of int64 bits."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def hash_keep_torch(shape: tuple[int, ...], base: int, p: float, device: Any = None) -> Tensor:
    """Keep-mask of one hash stream with torch int64 ops (wrap-around arithmetic), chunked."""
    n = math.prod(shape)
    out = torch.empty(n, dtype=torch.bool, device=device)
    gamma, m1, m2 = (_signed64(c) for c in (MASK_GAMMA, MASK_MIX1, MASK_MIX2))
    thr = mask_threshold(p)
    for i0 in range(0, n, MASK_CHUNK):
        z = torch.arange(i0, min(n, i0 + MASK_CHUNK), dtype=torch.int64, device=device)
        z = z * gamma + _signed64(base)
        z = (z ^ _shr(z, 30)) * m1
        z = (z ^ _shr(z, 27)) * m2
        z = z ^ _shr(z, 31)
        torch.ge(_shr(z, 64 - MASK_BITS), thr, out=out[i0 : i0 + z.numel()])
    return out.reshape(shape)


def hash_keep(shape: tuple[int, ...], base: int, p: float, device: Any = None) -> Tensor:
    """Keep-mask of one hash stream: parallel numba kernel on CPU, else hash_keep_torch (same bits)."""
    dev = torch.device("cpu") if device is None else torch.device(device)
    if dev.type == "cpu" and importlib.util.find_spec("numba") is not None:
        from rsnn_decoding.engine import hash_keep_numba

        return hash_keep_numba(shape, base, mask_threshold(p))
    return hash_keep_torch(shape, base, p, dev)


def draw_dropout_masks(
    batch: int,
    steps: int,
    n_inputs: int,
    hidden: int,
    p: float,
    device: Any = None,
    p_hidden: float | None = None,
) -> tuple[Tensor, Tensor]:
    """Keep-masks input (B,T,C) (drop rate p) and hidden (B,T,H) (p_hidden), from ONE seed of the global RNG.

    The seed is torch.randint(0, 2^62) on the CPU generator; input and hidden masks are hash
    streams 0 and 1 of it (see mask_stream_base), so torch.manual_seed fixes both.
    """
    p_hidden = p if p_hidden is None else p_hidden
    seed = int(torch.randint(0, 1 << 62, (1,)).item())
    in_keep = hash_keep((batch, steps, n_inputs), mask_stream_base(seed, 0), p, device)
    hid_keep = hash_keep((batch, steps, hidden), mask_stream_base(seed, 1), p_hidden, device)
    return in_keep, hid_keep


def keep_scale(keep: Tensor, p: float, dtype: torch.dtype) -> Tensor:
    """Dropout multiplier keep / (1 - p) in dtype (as torch's dropout: noise.div_(1 - p))."""
    return keep.to(dtype) / (1.0 - p)


def apply_keep(values: Tensor, keep: Tensor | None, p: float) -> Tensor:
    """Inverted dropout with a given keep-mask: values * (keep / (1 - p)); identity when keep is None."""
    if keep is None:
        return values
    return values * keep_scale(keep, p, values.dtype)


# ----------------------------------------------------------------------------- module


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
        if self.engine == "fast" and importlib.util.find_spec("rsnn_decoding.engine") is not None:
            from rsnn_decoding.engine import fast_run

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
