"""Tests of the network model: step equations, delays, surrogate, streaming, dropout, sizes."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

from rsnn_decoding.network.config import ModelConfig, big_config, config_for, tiny_config
from rsnn_decoding.network.dropout import draw_dropout_masks
from rsnn_decoding.network.functional import (
    LIFState,
    NetState,
    ReadoutState,
    RunOutput,
    decay,
    lif_step,
    readout_step,
    superspike,
)
from rsnn_decoding.network.maskhash import hash_keep, hash_keep_torch, mask_stream_base, mix64
from rsnn_decoding.network.rsnn import RSNN, SpikeFn, reference_run

torch.set_num_threads(1)
HAS_ENGINE = importlib.util.find_spec("rsnn_decoding.network.engine") is not None


def t64(*values: float) -> torch.Tensor:
    """Float64 row tensor of shape (1, n)."""
    return torch.tensor([list(values)], dtype=torch.float64)


def active_model(
    cfg: ModelConfig, n_inputs: int, dtype: torch.dtype, seed: int = 0, engine: str = "reference"
) -> RSNN:
    """A model with weights strong enough to make the hidden layer spike."""
    torch.manual_seed(seed)
    model = RSNN(n_inputs, cfg, engine=engine)
    with torch.no_grad():
        model.fc_in.weight.normal_(0.0, 3.0 / math.sqrt(n_inputs))
        model.fc_rec.weight.normal_(0.0, 0.5 / math.sqrt(cfg.hidden))
        model.fc_out.weight.normal_(0.0, 1.0 / math.sqrt(cfg.hidden))
        model.p_mem_out.uniform_(0.5, 1.5)
        model.p_syn_out.uniform_(0.5, 1.5)
    return model.to(dtype).eval()


def binary_input(batch: int, steps: int, channels: int, rate: float, seed: int) -> torch.Tensor:
    """Seeded Bernoulli spike input (B, T, C) float32."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, steps, channels, generator=g) < rate).float()


def softplus(v: np.ndarray) -> np.ndarray:
    """log(1 + e^v) in float64."""
    return np.log1p(np.exp(v))


def numpy_oracle(model: RSNN, x: np.ndarray, in_keep=None, hid_keep=None, p: float = 0.3):
    """Independent float64 simulation of METHOD.md §3 with optional keep-masks -> y (B,T,2), counts (B,H)."""
    w_in, w_rec, w_out = (w.detach().double().numpy() for w in model.weight_matrices())
    cfg = model.cfg
    a_mem = np.exp(-cfg.dt_ms / (cfg.tau_mem_ms * softplus(model.p_mem.detach().double().numpy())))
    a_syn = np.exp(-cfg.dt_ms / (cfg.tau_syn_ms * softplus(model.p_syn.detach().double().numpy())))
    tau_syn_o = np.repeat([h[0] for h in cfg.heads], 2)
    tau_mem_o = np.repeat([h[1] for h in cfg.heads], 2)
    a_mo = np.exp(-cfg.dt_ms / (tau_mem_o * softplus(model.p_mem_out.detach().double().numpy())))
    a_so = np.exp(-cfg.dt_ms / (tau_syn_o * softplus(model.p_syn_out.detach().double().numpy())))
    batch, steps, _ = x.shape
    h, k2 = w_rec.shape[0], w_out.shape[0]
    syn, mem, counts = np.zeros((batch, h)), np.zeros((batch, h)), np.zeros((batch, h))
    rsyn, out = np.zeros((batch, k2)), np.full((batch, k2), cfg.readout_init)
    i_hid, i_out = np.zeros((batch, h)), np.zeros((batch, k2))
    y = np.zeros((batch, steps, 2))
    for t in range(steps):
        s = (mem > 1.0).astype(np.float64)
        syn, mem = a_syn * syn + i_hid, (a_mem * mem + (1 - a_mem) * syn) * (1 - s)
        rsyn, out = a_so * rsyn + i_out, a_mo * out + (1 - a_mo) * rsyn
        y[:, t] = out.reshape(batch, -1, 2).mean(axis=1)
        counts += s
        xp = x[:, t] if in_keep is None else x[:, t] * in_keep[:, t] / (1 - p)
        sp = s if hid_keep is None else s * hid_keep[:, t] / (1 - p)
        i_hid = xp @ w_in.T + sp @ w_rec.T
        i_out = sp @ w_out.T
    return y, counts


# ----------------------------------------------------------------------------- config


def test_configs_are_the_papers():
    tiny, big = tiny_config(), big_config()
    assert (tiny.name, tiny.hidden, tiny.heads) == ("tinyRSNN", 64, ((10.0, 50.0),))
    assert (big.name, big.hidden, big.n_heads) == ("bigRSNN", 1024, 5)
    assert big.heads == ((10.0, 50.0), (5.0, 20.0), (20.0, 20.0), (10.0, 30.0), (30.0, 100.0))
    assert (tiny.tau_mem_ms, tiny.tau_syn_ms, tiny.dropout, tiny.dt_ms, tiny.beta, tiny.readout_init) == (
        20.0,
        10.0,
        0.3,
        4.0,
        20.0,
        -0.01,
    )
    for cfg in (tiny, big, big_config(hidden=32)):
        assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert config_for("bigRSNN", hidden=8) == big_config(8)
    with pytest.raises(ValueError):
        config_for("ridge")


# ----------------------------------------------------------------------------- step functions


def test_lif_step_by_hand():
    a_mem, a_syn, spike = t64(0.9, 0.9), t64(0.8, 0.8), SpikeFn()
    state = LIFState(syn=t64(0.5, 0.5), mem=t64(0.8, 1.2))
    s, state = lif_step(state, t64(0.3, 0.3), a_mem, a_syn, spike)
    # neuron 0: no spike; syn = 0.8*0.5+0.3 = 0.7; mem = 0.9*0.8 + 0.1*0.5 = 0.77
    # neuron 1: mem 1.2 > 1 spikes; syn = 0.7; mem reset to 0
    assert s.tolist() == [[0.0, 1.0]]
    torch.testing.assert_close(state.syn, t64(0.7, 0.7), rtol=0, atol=1e-15)
    torch.testing.assert_close(state.mem, t64(0.77, 0.0), rtol=0, atol=1e-15)
    s, state = lif_step(state, t64(0.0, 1.0), a_mem, a_syn, spike)
    # neuron 0: syn = 0.56; mem = 0.9*0.77 + 0.1*0.7 = 0.763; neuron 1: syn = 1.56, mem = 0.07
    assert s.tolist() == [[0.0, 0.0]]
    torch.testing.assert_close(state.syn, t64(0.56, 1.56), rtol=0, atol=1e-15)
    torch.testing.assert_close(state.mem, t64(0.763, 0.07), rtol=0, atol=1e-15)
    # mem exactly at threshold does not spike (Heaviside(0) = 0)
    s, _ = lif_step(LIFState(t64(0.0), t64(1.0)), t64(0.0), t64(0.9), t64(0.8), spike)
    assert s.item() == 0.0


def test_readout_step_by_hand():
    state = ReadoutState(syn=t64(0.0), out=t64(-0.01))
    a_mem, a_syn = t64(0.5), t64(0.25)
    out, state = readout_step(state, t64(1.0), a_mem, a_syn)
    assert out.item() == pytest.approx(-0.005, abs=1e-16)  # uses the old syn (0)
    assert state.syn.item() == 1.0
    out, state = readout_step(state, t64(0.0), a_mem, a_syn)
    assert out.item() == pytest.approx(0.5 * -0.005 + 0.5 * 1.0, abs=1e-16)
    assert state.syn.item() == 0.25
    assert torch.equal(state.out, out)


def test_decay_formula():
    p = torch.tensor([-1.0, 0.0, 0.5, 2.0], dtype=torch.float64)
    expected = np.exp(-4.0 / (20.0 * softplus(p.numpy())))
    np.testing.assert_allclose(decay(p, 20.0, 4.0).numpy(), expected, rtol=1e-14)
    ph = p.half()
    got = decay(ph, 20.0, 4.0)
    assert got.dtype == torch.float16
    np.testing.assert_allclose(got.double().numpy(), expected, rtol=2e-3)


# ----------------------------------------------------------------------------- surrogate


def test_superspike_forward_and_derivative():
    v = torch.tensor([-0.7, -0.05, 0.0, 0.02, 0.4, 3.0], dtype=torch.float64, requires_grad=True)
    s = superspike(v, 20.0)
    assert s.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    (grad,) = torch.autograd.grad(s.sum(), v)
    expected = 1.0 / (20.0 * v.detach().abs() + 1.0) ** 2
    torch.testing.assert_close(grad, expected, rtol=1e-15, atol=0)
    mem = torch.tensor([0.3, 1.0, 1.5], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(SpikeFn(beta=20.0)(mem).sum(), mem)
    torch.testing.assert_close(grad, 1.0 / (20.0 * (mem.detach() - 1).abs() + 1.0) ** 2, rtol=1e-15, atol=0)


def test_reset_is_detached():
    a_mem, a_syn = t64(0.9, 0.9), t64(0.8, 0.8)
    mem = t64(0.95, 1.05).requires_grad_(True)
    syn = t64(0.5, 0.5).requires_grad_(True)
    _, new = lif_step(LIFState(syn, mem), t64(0.0, 0.0), a_mem, a_syn, SpikeFn())
    g_mem, g_syn = torch.autograd.grad(new.mem.sum(), (mem, syn))
    # no spike: d mem_new / d mem = a_mem exactly (no surrogate term through the reset)
    # spike: reset multiplies by 0, the detached reset contributes no gradient
    torch.testing.assert_close(g_mem, t64(0.9, 0.0), rtol=0, atol=0)
    torch.testing.assert_close(g_syn, t64(0.1, 0.0), rtol=0, atol=1e-16)


# ----------------------------------------------------------------------------- delays


def test_delays_single_input_spike():
    cfg = ModelConfig(name="tinyRSNN", hidden=1, heads=((10.0, 50.0),))
    model = RSNN(1, cfg, engine="reference").double().eval()
    with torch.no_grad():
        model.fc_in.weight.fill_(100.0)
        model.fc_rec.weight.zero_()
        model.fc_out.weight.fill_(1.0)
    dec = model.decays()
    t_in, steps = 3, 12
    x = torch.zeros(1, steps, 1, dtype=torch.float64)
    x[0, t_in, 0] = 1.0
    state = model.init_state(1)
    syn, mem, spk, rsyn, out = [], [], [], [], []
    for t in range(steps):
        y, s, state = model.advance(x[:, t], state, dec)
        syn.append(state.hidden.syn.item())
        mem.append(state.hidden.mem.item())
        spk.append(s.item())
        rsyn.append(state.readout.syn[0, 0].item())
        out.append(y[0, 0].item())
    first = [next(t for t, v in enumerate(seq) if v != 0.0) for seq in (syn, mem, spk, rsyn)]
    assert first == [t_in + 1, t_in + 2, t_in + 3, t_in + 4]
    assert syn[t_in + 1] == 100.0
    a_mo = dec.mem_out[0].item()
    free = [-0.01 * a_mo ** (t + 1) for t in range(steps)]  # readout decaying from its start value
    assert out[: t_in + 5] == pytest.approx(free[: t_in + 5], rel=1e-15)
    assert out[t_in + 5] == pytest.approx(a_mo * free[t_in + 4] + (1 - a_mo) * 1.0, rel=1e-14)
    # the whole-sequence run gives the same
    run = reference_run(model, x)
    assert run.y[0, :, 0].tolist() == out
    assert run.spike_counts.item() == sum(spk) >= 1.0


# ----------------------------------------------------------------------------- whole runs


@pytest.mark.parametrize("kind", ["tiny", "big"])
def test_reference_matches_numpy_oracle(kind):
    cfg = tiny_config() if kind == "tiny" else big_config(hidden=32)
    model = active_model(cfg, 16, torch.float64, seed=1)
    x = binary_input(3, 80, 16, 0.2, seed=2).double()
    out = reference_run(model, x)
    y, counts = numpy_oracle(model, x.numpy())
    assert counts.sum() > 50  # the hidden layer is active
    np.testing.assert_allclose(out.y.detach().numpy(), y, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(out.spike_counts.detach().numpy(), counts)


def _stream_all(model: RSNN, x: torch.Tensor) -> tuple[torch.Tensor, list[NetState]]:
    """Run model.step over the sequence; return y (B,T,2) and the states."""
    state = model.init_state(x.shape[0])
    ys, states = [], []
    for t in range(x.shape[1]):
        y, state = model.step(x[:, t], state)
        ys.append(y)
        states.append(state)
    return torch.stack(ys, 1), states


def _leaves(state: NetState) -> list[torch.Tensor]:
    """All tensors of a NetState."""
    return [*state.hidden, *state.readout, state.hidden_input, state.readout_input]


@pytest.mark.parametrize("kind", ["tiny", "big"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16])
def test_streaming_equals_forward_reference(kind, dtype):
    cfg = tiny_config() if kind == "tiny" else big_config(hidden=32)
    model = active_model(cfg, 16, dtype, seed=3)
    x = binary_input(2, 60, 16, 0.2, seed=4)
    with torch.no_grad():
        full = model.run(x)
        ys, states = _stream_all(model, x.to(dtype))
        model.reset_stream()
        streamed = torch.stack([model.stream(x[:, t].to(dtype)) for t in range(x.shape[1])], 1)
        model.reset_stream()
        single = torch.stack([model.stream(x[1, t].to(dtype)) for t in range(x.shape[1])])
    assert full.spike_counts.sum() > 20
    assert full.y.dtype == dtype and full.spike_counts.dtype == dtype
    assert all(leaf.dtype == dtype for st in states for leaf in _leaves(st))
    assert model.decays().mem.dtype == dtype
    assert torch.equal(ys, full.y)
    assert torch.equal(streamed, full.y)
    # batch 1 may take another BLAS path: equal up to rounding
    atol = {torch.float64: 1e-12, torch.float32: 1e-6, torch.float16: 1e-3}[dtype]
    torch.testing.assert_close(single, full.y[1], rtol=0, atol=atol)
    assert torch.equal(model(x), full.y)


@pytest.mark.skipif(not HAS_ENGINE, reason="engine.py not written yet")
@pytest.mark.parametrize("kind", ["tiny", "big"])
@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_streaming_equals_forward_fast_engine(kind, dtype, atol):
    cfg = tiny_config() if kind == "tiny" else big_config(hidden=32)
    model = active_model(cfg, 16, dtype, seed=5, engine="fast")
    x = binary_input(2, 60, 16, 0.2, seed=6)
    with torch.no_grad():
        full = model.run(x)
        ys, _ = _stream_all(model, x.to(dtype))
    torch.testing.assert_close(ys, full.y, rtol=0, atol=atol)


def test_float16_published_start_value():
    model = RSNN(4, tiny_config()).half()
    out0 = model.init_state(1).readout.out
    assert out0.dtype == torch.float16
    assert out0[0, 0].item() == pytest.approx(-0.0100021, abs=1e-7)


def test_step_calls_each_connection_and_spike_once():
    model = active_model(big_config(hidden=8), 5, torch.float32)
    calls = {"fc_in": 0, "fc_rec": 0, "fc_out": 0, "spike": 0}
    for name in calls:
        getattr(model, name).register_forward_hook(lambda m, i, o, n=name: calls.__setitem__(n, calls[n] + 1))
    state = model.init_state(2)
    for _ in range(3):
        _, state = model.step(torch.ones(2, 5), state)
    assert calls == {"fc_in": 3, "fc_rec": 3, "fc_out": 3, "spike": 3}


def test_spike_counts_are_differentiable():
    model = active_model(tiny_config(), 16, torch.float32, seed=7)
    out = model.run(binary_input(2, 40, 16, 0.3, seed=8))
    assert out.spike_counts.sum() > 0
    out.spike_counts.sum().backward()
    assert model.fc_in.weight.grad is not None and model.fc_in.weight.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- sizes


def test_no_buffers_and_parameter_counts():
    tiny_indy, tiny_loco, big_indy = RSNN(96, tiny_config()), RSNN(192, tiny_config()), RSNN(96, big_config())
    for m in (tiny_indy, tiny_loco, big_indy):
        assert list(m.buffers()) == []
        assert {n for n, _ in m.named_parameters()} == {
            "p_mem",
            "p_syn",
            "p_mem_out",
            "p_syn_out",
            "fc_in.weight",
            "fc_rec.weight",
            "fc_out.weight",
        }

    def count(m):
        return sum(p.numel() for p in m.parameters())

    assert count(tiny_indy) == 96 * 64 + 64 * 64 + 64 * 2 + 2 * 64 + 2 * 2 == 10_500
    assert count(tiny_indy.half()) * 2 == 21_000
    assert count(tiny_loco) * 2 == 33_288
    assert count(big_indy) == 1_159_188
    assert sum(p.numel() * p.element_size() for p in big_indy.parameters()) == 4_636_752
    assert big_indy.fc_out.weight.shape == (10, 1024)
    assert (big_indy.n_inputs, big_indy.hidden_size, big_indy.n_heads) == (96, 1024, 5)
    assert big_indy.weight_matrices()[1] is big_indy.fc_rec.weight


def test_parameter_init():
    torch.manual_seed(0)
    m = RSNN(8, big_config(hidden=200))
    for p in (m.p_mem, m.p_syn):
        assert p.shape == (200,) and 0.0 <= p.min() and p.max() < 1.0 and p.std() > 0.2
    assert torch.equal(m.p_mem_out, torch.ones(10)) and torch.equal(m.p_syn_out, torch.ones(10))
    with pytest.raises(ValueError):
        RSNN(8, tiny_config(), engine="bogus")


# ----------------------------------------------------------------------------- dropout


def test_dropout_masks_order_and_modes():
    model = RSNN(7, big_config(hidden=9)).train()
    model.hid_dropout.p = 0.2
    torch.manual_seed(11)
    in_keep, hid_keep = model.dropout_masks(3, 5, None)
    torch.manual_seed(11)
    seed = int(torch.randint(0, 1 << 62, (1,)).item())  # one draw from the global RNG per call
    # independent oracle: splitmix64 in Python integers, top 24 bits against ceil(p * 2^24)
    for keep, shape, stream, p in ((in_keep, (3, 5, 7), 0, 0.3), (hid_keep, (3, 5, 9), 1, 0.2)):
        base = mix64(seed + (stream + 1) * 0x9E3779B97F4A7C15)
        bits = [mix64(base + i * 0x9E3779B97F4A7C15) >> 40 >= math.ceil(p * 2**24) for i in range(keep.numel())]
        assert keep.dtype == torch.bool and keep.shape == shape
        assert keep.flatten().tolist() == bits
    torch.manual_seed(11)
    again = draw_dropout_masks(3, 5, 7, 9, 0.3, p_hidden=0.2)
    assert torch.equal(again[0], in_keep) and torch.equal(again[1], hid_keep)
    assert model.eval().dropout_masks(3, 5, None) == (None, None)
    assert RSNN(7, tiny_config(dropout=0.0)).train().dropout_masks(3, 5, None) == (None, None)


def test_mix64_known_values():
    # splitmix64 reference outputs for state 0 (first two draws of Vigna's splitmix64.c)
    assert mix64(0x9E3779B97F4A7C15) == 0xE220A8397B1DCDAF
    assert mix64(2 * 0x9E3779B97F4A7C15) == 0x6E789E6AA1B965F4


@pytest.mark.parametrize("shape", [(4, 300, 37), (1, 1, 5), (2, 0, 3), (7,)])
def test_hash_keep_numba_equals_torch(shape):
    base = mask_stream_base(987654321, 1)
    a = hash_keep(shape, base, 0.3)  # numba kernel on CPU
    b = hash_keep_torch(shape, base, 0.3)
    assert a.shape == b.shape == shape and torch.equal(a, b)


def test_dropout_masks_rate_and_seed_dependence():
    torch.manual_seed(0)
    in_a, hid_a = draw_dropout_masks(50, 500, 96, 64, 0.3)
    torch.manual_seed(1)
    in_b, hid_b = draw_dropout_masks(50, 500, 96, 64, 0.3)
    for keep in (in_a, hid_a, in_b, hid_b):
        assert abs(keep.float().mean().item() - 0.7) < 0.003  # >= 1.6M draws: std of the mean 3.6e-4
    assert not torch.equal(in_a, in_b) and not torch.equal(hid_a, hid_b)
    assert not torch.equal(in_a[..., :64], hid_a)  # distinct streams
    assert (in_a != in_b).float().mean().item() > 0.4  # independent draws disagree at rate 2 * 0.21
    torch.manual_seed(0)
    again = draw_dropout_masks(50, 500, 96, 64, 0.3)
    assert torch.equal(again[0], in_a) and torch.equal(again[1], hid_a)
    assert draw_dropout_masks(2, 3, 4, 5, 0.0)[0].all()  # p = 0 keeps everything


def test_train_mode_reference_is_deterministic_and_matches_oracle():
    model = active_model(big_config(hidden=24), 12, torch.float64, seed=9).train()
    x = binary_input(2, 50, 12, 0.25, seed=10).double()
    torch.manual_seed(123)
    a = reference_run(model, x)
    torch.manual_seed(123)
    b = reference_run(model, x)
    torch.manual_seed(124)
    c = reference_run(model, x)
    assert torch.equal(a.y, b.y) and torch.equal(a.spike_counts, b.spike_counts)
    assert not torch.equal(a.y, c.y)
    torch.manual_seed(123)
    in_keep, hid_keep = draw_dropout_masks(2, 50, 12, 24, 0.3)
    y, counts = numpy_oracle(model, x.numpy(), in_keep.double().numpy(), hid_keep.double().numpy())
    np.testing.assert_allclose(a.y.detach().numpy(), y, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(a.spike_counts.detach().numpy(), counts)  # counted before dropout
    eval_y, _ = numpy_oracle(model, x.numpy())
    assert np.abs(eval_y - y).max() > 1e-3  # dropout changed the output


def test_run_output_shapes():
    model = RSNN(6, big_config(hidden=10), engine="reference")
    out = model.eval().run(torch.zeros(4, 7, 6))
    assert isinstance(out, RunOutput)
    assert out.y.shape == (4, 7, 2) and out.spike_counts.shape == (4, 10)
    with pytest.raises(ValueError):
        model.run(torch.zeros(4, 7, 5))


def test_stream_state_is_not_a_buffer():
    model = RSNN(3, tiny_config(), engine="reference").eval()
    keys = set(model.state_dict())
    model.stream(torch.ones(3))
    assert model._stream_state is not None
    assert set(model.state_dict()) == keys and list(model.buffers()) == []
    model.reset_stream()
    assert model._stream_state is None
