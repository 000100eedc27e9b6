"""Tests of importing the authors' published tinyRSNN checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from rsnn_decoding.errors import UserError
from rsnn_decoding.evaluation import released
from rsnn_decoding.network.rsnn import RSNN

torch.set_num_threads(1)

# the authors' released tinyRSNN files of indy01 and loco01 (MIT; see the NOTICE there)
MODELS = Path(__file__).resolve().parent / "fixtures" / "published"


def naive_simulation(sd: dict[str, torch.Tensor], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """METHOD.md §3 read literally, float64, plain loops: returns prediction (T, 2) and hidden spikes (T, H).

    Every step t: (a) every population updates from the input that arrived in step t-1;
    (b) every connection adds W @ (source's current output) to its target's input for t+1.
    """
    w_ih = sd["con1.op.weight"].double().numpy()
    w_hh = sd["con2.op.weight"].double().numpy()
    w_ho = sd["con3.op.weight"].double().numpy()
    p_mem, p_syn = sd["group2.mem_param"].double().numpy(), sd["group2.syn_param"].double().numpy()
    p_mem_o, p_syn_o = (
        sd["group3.mem_param_readout"].double().numpy(),
        sd["group3.syn_param_readout"].double().numpy(),
    )
    dt, n_steps, n_in = 4.0, x.shape[0], x.shape[1]
    n_hid, n_out = w_hh.shape[0], w_ho.shape[0]

    def sp(v: float) -> float:
        return math.log(1.0 + math.exp(v))

    a_mem = [math.exp(-dt / (20.0 * sp(p_mem[i]))) for i in range(n_hid)]
    a_syn = [math.exp(-dt / (10.0 * sp(p_syn[i]))) for i in range(n_hid)]
    a_mem_o = [math.exp(-dt / (50.0 * sp(p_mem_o[k]))) for k in range(n_out)]
    a_syn_o = [math.exp(-dt / (10.0 * sp(p_syn_o[k]))) for k in range(n_out)]

    syn, mem, spk = [0.0] * n_hid, [0.0] * n_hid, [0.0] * n_hid
    syn_o, out = [0.0] * n_out, [-0.01] * n_out
    inp_hid, inp_out = [0.0] * n_hid, [0.0] * n_out  # input that arrived in the previous step
    pred, spikes = np.zeros((n_steps, n_out)), np.zeros((n_steps, n_hid))
    for t in range(n_steps):
        # (a) populations update from last step's input
        x_out = [float(x[t, c]) for c in range(n_in)]  # input population
        for i in range(n_hid):
            s_new = 1.0 if mem[i] - 1.0 > 0.0 else 0.0
            syn_new = a_syn[i] * syn[i] + inp_hid[i]
            mem_new = (a_mem[i] * mem[i] + (1.0 - a_mem[i]) * syn[i]) * (1.0 - s_new)
            spk[i], syn[i], mem[i] = s_new, syn_new, mem_new
        for k in range(n_out):
            syn_new = a_syn_o[k] * syn_o[k] + inp_out[k]
            out_new = a_mem_o[k] * out[k] + (1.0 - a_mem_o[k]) * syn_o[k]
            syn_o[k], out[k] = syn_new, out_new
        pred[t], spikes[t] = out, spk
        # (b) connections deliver to the next step
        inp_hid = [
            sum(w_ih[i, c] * x_out[c] for c in range(n_in)) + sum(w_hh[i, j] * spk[j] for j in range(n_hid))
            for i in range(n_hid)
        ]
        inp_out = [sum(w_ho[k, j] * spk[j] for j in range(n_hid)) for k in range(n_out)]
    return pred, spikes


def _input(steps: int, channels: int, rate: float, seed: int) -> torch.Tensor:
    """Seeded binary input (1, T, C)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(1, steps, channels, generator=g) < rate).float()


def test_load_indy_and_loco_sizes():
    indy = released.load(MODELS / "indy01" / "tinyRSNN-1.pth")
    loco = released.load(MODELS / "loco01" / "tinyRSNN-1.pth", engine="reference")
    for m, c, nbytes in ((indy, 96, 21_000), (loco, 192, 33_288)):
        assert isinstance(m, RSNN) and not m.training
        assert m.dtype == torch.float16 and m.n_inputs == c and m.hidden_size == 64 and m.n_heads == 1
        assert list(m.buffers()) == []
        assert sum(p.numel() * p.element_size() for p in m.parameters()) == nbytes
    assert sum(p.numel() for p in indy.parameters()) == 10_500
    assert indy.engine == RSNN(1, indy.cfg).engine and loco.engine == "reference"
    sd = torch.load(MODELS / "indy01" / "tinyRSNN-1.pth", map_location="cpu")
    assert torch.equal(indy.fc_rec.weight, sd["con2.op.weight"])
    assert torch.equal(indy.p_syn_out, sd["group3.syn_param_readout"])
    assert indy.float().dtype == torch.float32


@pytest.mark.parametrize("session,seed", [("indy01", 1), ("loco01", 3)])
def test_output_matches_naive_spec_simulation(session, seed):
    path = MODELS / session / f"tinyRSNN-{seed}.pth"
    sd = torch.load(path, map_location="cpu")
    model = released.load(path, engine="reference")
    x = _input(300, model.n_inputs, 0.1, seed=7)
    pred, spikes = naive_simulation(sd, x[0].numpy().astype(np.float64))
    assert 20 < spikes.sum() < 300 * 64 / 2  # the network is active, not saturated
    with torch.no_grad():
        out32 = model.float().run(x)
        out64 = model.double().run(x.double())
    np.testing.assert_allclose(out64.y[0].numpy(), pred, rtol=0, atol=1e-10)
    np.testing.assert_allclose(out32.y[0].numpy(), pred, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(out32.spike_counts[0].numpy(), spikes.sum(axis=0))


def _trace(model: RSNN, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step predictions (T, 2) and hidden spikes (T, H) in float32, via model.advance."""
    state, dec, ys, ss = model.init_state(1), model.decays(), [], []
    for t in range(x.shape[1]):
        y, s, state = model.advance(x[:, t].to(model.dtype), state, dec)
        ys.append(y[0].float())
        ss.append(s[0].float())
    return torch.stack(ys), torch.stack(ss)


def test_float16_close_to_float32():
    path = MODELS / "indy01" / "tinyRSNN-1.pth"
    m16 = released.load(path, engine="reference")
    m32 = released.load(path, engine="reference").float()
    x = _input(300, 96, 0.1, seed=7)
    with torch.no_grad():
        assert m16(x).dtype == torch.float16
        y16, s16 = _trace(m16, x)
        y32, s32 = _trace(m32, x)
    # float16 rounding only: identical until the first hidden spike that flips, then the
    # recurrent network drifts apart (measured: first flip at step 12, max |dy| ~0.1 of max |y| ~0.29)
    flips = (s16 != s32).any(dim=1).nonzero()
    first = int(flips[0]) if len(flips) else 300
    assert first > 5
    assert (y16[: first + 1] - y32[: first + 1]).abs().max() < 1e-3
    assert (y16 - y32).abs().max() > 0  # float16 is really used
    for k in range(2):
        assert np.corrcoef(y16[:, k].numpy(), y32[:, k].numpy())[0, 1] > 0.6  # measured 0.74 (x), 0.97 (y)


def test_bad_files_raise_user_error(tmp_path):
    sd = torch.load(MODELS / "indy01" / "tinyRSNN-1.pth", map_location="cpu")
    missing = dict(sd)
    del missing["group2.syn_param"]
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(UserError, match="group2.syn_param"):
        released.load(tmp_path / "missing.pth")
    wrong = dict(sd)
    wrong["con3.op.weight"] = torch.zeros(3, 64, dtype=torch.float16)
    torch.save(wrong, tmp_path / "wrong.pth")
    with pytest.raises(UserError, match="con3.op.weight"):
        released.load(tmp_path / "wrong.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(UserError, match="junk.pth"):
        released.load(tmp_path / "junk.pth")
    torch.save({"format": "something else", "weights": [1, 2]}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="other.pth"):
        released.load(tmp_path / "other.pth")
    with pytest.raises(UserError, match="absent.pth"):
        released.load(tmp_path / "absent.pth")
