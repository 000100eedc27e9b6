"""The snntorch version of the network computes the same predictions as model.reference_run."""

from __future__ import annotations

import pytest
import snntorch as snn
import torch

from rsnn_decoding.network.config import big_config, tiny_config
from rsnn_decoding.network.rsnn import RSNN, reference_run
from rsnn_decoding.network.snntorch_check import SnnTorchRSNN, from_rsnn

torch.set_num_threads(1)


def _model(big: bool, dtype: torch.dtype) -> RSNN:
    """A model with spiking activity (bigRSNN narrowed to 40 hidden units to stay cheap)."""
    torch.manual_seed(0)
    cfg = big_config(hidden=40) if big else tiny_config()
    m = RSNN(24, cfg).to(dtype)
    with torch.no_grad():
        m.fc_in.weight.normal_(0.0, 1.5)
        m.fc_rec.weight.normal_(0.0, 0.4)
        m.fc_out.weight.normal_(0.0, 1.0)
        m.p_mem_out.uniform_(0.5, 1.5)  # per-unit readout taus differ
    return m.eval()


@pytest.mark.parametrize(("big", "dtype", "steps"), [(False, torch.float64, 300), (True, torch.float64, 300),
                                                     (False, torch.float32, 120)])
def test_snntorch_model_matches_reference(big: bool, dtype: torch.dtype, steps: int) -> None:
    """Eval-mode predictions agree to 1e-5 (tinyRSNN and bigRSNN heads, float64 and float32)."""
    model = _model(big, dtype)
    x = (torch.rand(3, steps, 24, generator=torch.Generator().manual_seed(1)) < 0.2).to(dtype)
    net = from_rsnn(model)
    assert isinstance(net, SnnTorchRSNN)
    assert not net.training
    with torch.no_grad():
        ref = reference_run(model, x)
        y = net(x)
    assert ref.spike_counts.sum() > 0
    assert y.shape == ref.y.shape == (3, steps, 2)
    torch.testing.assert_close(y, ref.y, rtol=0, atol=1e-5)


def test_snntorch_model_uses_snntorch_neurons_and_trains() -> None:
    """The neurons are snntorch classes; gradients reach every parameter (surrogate through spikes)."""
    model = _model(False, torch.float64)
    net = from_rsnn(model).train()
    assert isinstance(net.lif, snn.RSynaptic)
    assert isinstance(net.readout, snn.Synaptic)
    x = (torch.rand(2, 40, 24, generator=torch.Generator().manual_seed(2)) < 0.3).double()
    net(x).square().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
