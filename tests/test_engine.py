"""fast_run and StreamingDecoder against the per-step reference implementation (model.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rsnn_decoding.network import engine
from rsnn_decoding.network.config import big_config, tiny_config
from rsnn_decoding.network.engine import common, numba_backend, streaming
from rsnn_decoding.network.rsnn import RSNN, reference_run

torch.set_num_threads(1)


def _model(hidden: int, big: bool, n_inputs: int = 20, seed: int = 0) -> RSNN:
    """A float64 model whose weights make the hidden layer spike at a moderate rate."""
    torch.manual_seed(seed)
    cfg = big_config(hidden=hidden) if big else tiny_config(hidden=hidden)
    m = RSNN(n_inputs, cfg).double()
    with torch.no_grad():
        m.fc_in.weight.normal_(0.0, 2.0)
        m.fc_rec.weight.normal_(0.0, 0.5)
        m.fc_out.weight.normal_(0.0, 1.0)
    return m


def _run_and_grads(model: RSNN, fn, x: torch.Tensor, seed: int):  # noqa: ANN001, ANN202
    """Outputs and parameter gradients of a loss using predictions and spike counts."""
    model.zero_grad()
    torch.manual_seed(seed)  # same RNG state -> same dropout masks
    out = fn(model, x)
    w = torch.linspace(-1.0, 1.0, out.y.numel(), dtype=out.y.dtype).reshape(out.y.shape)
    loss = (out.y * w).sum() + 0.1 * (out.spike_counts**2).mean() + torch.relu(1.5 - out.spike_counts).mean()
    loss.backward()
    return out, {n: p.grad.clone() for n, p in model.named_parameters()}


CASES = [
    # hidden, big (5 heads), train mode, backend, numba backward variant
    (16, False, False, "numba", "fused"),
    (16, False, True, "numba", "fused"),
    (16, False, True, "numba", "blas"),
    (48, True, True, "numba", "fused"),
    (48, True, False, "numba", "blas"),
    (48, True, True, "numba", "blas-parallel"),
    (48, True, True, "torch", ""),
    (16, False, False, "torch", ""),
]


@pytest.mark.parametrize(("hidden", "big", "train", "backend", "variant"), CASES)
def test_fast_run_matches_reference(hidden, big, train, backend, variant, monkeypatch) -> None:  # noqa: ANN001
    """Outputs to 1e-6 and gradients of every parameter to 1e-5 (float64), same dropout draws."""
    if variant.startswith("blas"):  # BLAS product per step instead of the per-sample fused kernel
        monkeypatch.setattr(numba_backend, "FUSED_MAX_HIDDEN", 0)
    if variant == "blas-parallel":
        monkeypatch.setattr(numba_backend, "PARALLEL_STEP_ELEMENTS", 0)
    model = _model(hidden, big)
    model.train(train)
    if big:
        model.hid_dropout.p = 0.2  # input and hidden dropout rates may differ
    x = (torch.rand(3, 70, 20, generator=torch.Generator().manual_seed(1)) < 0.3).double()
    x[0, 5, 3] = 2.0  # a bin with two spikes
    ref, g_ref = _run_and_grads(model, reference_run, x, seed=7)
    fast, g_fast = _run_and_grads(model, lambda m, v: engine.fast_run(m, v, backend=backend), x, seed=7)
    rate = ref.spike_counts.mean().item() / x.shape[1]
    assert 0.02 < rate < 0.5, rate  # the comparison exercises spikes and resets
    torch.testing.assert_close(fast.y, ref.y, rtol=0, atol=1e-6)
    torch.testing.assert_close(fast.spike_counts, ref.spike_counts, rtol=0, atol=0)
    for name, g in g_ref.items():
        assert g.abs().max() > 0, name
        torch.testing.assert_close(g_fast[name], g, rtol=0, atol=1e-5, msg=name)


def test_fast_run_gradient_wrt_input() -> None:
    """The numba backend also returns the input gradient (through the input dropout)."""
    model = _model(16, False)
    model.train()
    x = (torch.rand(2, 30, 20, generator=torch.Generator().manual_seed(2)) < 0.3).double()
    grads = []
    for fn in (reference_run, engine.fast_run):
        xg = x.clone().requires_grad_(True)
        torch.manual_seed(3)
        fn(model, xg).y.square().sum().backward()
        grads.append(xg.grad)
    torch.testing.assert_close(grads[1], grads[0], rtol=0, atol=1e-8)


def test_fast_run_big_width_float32() -> None:
    """bigRSNN's full width (1024 hidden, BLAS backward per step) for a few steps, float32."""
    torch.manual_seed(0)
    model = RSNN(96, big_config())
    with torch.no_grad():
        model.fc_in.weight.normal_(0.0, 1.0)
        model.fc_rec.weight.normal_(0.0, 0.2)
    model.train()
    x = (torch.rand(2, 12, 96) < 0.2).float()
    ref, g_ref = _run_and_grads(model, reference_run, x, seed=5)
    fast, g_fast = _run_and_grads(model, engine.fast_run, x, seed=5)
    assert ref.spike_counts.sum() > 0
    torch.testing.assert_close(fast.y, ref.y, rtol=0, atol=1e-5)
    torch.testing.assert_close(fast.spike_counts, ref.spike_counts)
    for name, g in g_ref.items():
        torch.testing.assert_close(g_fast[name], g, rtol=1e-4, atol=1e-4, msg=name)


def test_fast_run_rejects_bad_shape() -> None:
    """A wrong channel count is a ValueError, as in reference_run."""
    with pytest.raises(ValueError):
        engine.fast_run(_model(8, False), torch.zeros(1, 5, 3, dtype=torch.float64))


def test_pick_backend() -> None:
    """numba on CPU by default; unknown names rejected."""
    assert common.pick_backend(torch.device("cpu")) == ("numba" if engine.HAVE_NUMBA else "torch")
    assert common.pick_backend(torch.device("cpu"), "torch") == "torch"
    assert common.pick_backend(torch.device("cpu"), dtype=torch.float16) == "torch"
    with pytest.raises(ValueError):
        common.pick_backend(torch.device("cpu"), "cuda-magic")


def test_fast_run_float16_uses_torch_backend() -> None:
    """A half() model (evaluation of the pruned float16 checkpoints) runs through the torch backend."""
    model = _model(16, False).float().half().eval()
    x = (torch.rand(2, 25, 20, generator=torch.Generator().manual_seed(8)) < 0.3).half()
    with torch.no_grad():
        ref = reference_run(model, x)
        fast = engine.fast_run(model, x)
    assert fast.y.dtype == torch.float16
    torch.testing.assert_close(fast.y.float(), ref.y.float(), rtol=0, atol=2e-3)


def _model_stream(model: RSNN, x: torch.Tensor) -> np.ndarray:
    """Reference streaming: model.stream step by step."""
    model.reset_stream()
    with torch.no_grad():
        return torch.stack([model.stream(x[t]) for t in range(x.shape[0])]).numpy()


@pytest.mark.parametrize(("dtype", "big"), [(torch.float64, True), (torch.float32, False)])
def test_streaming_decoder_matches_model_stream(dtype: torch.dtype, big: bool) -> None:
    """numba streaming equals RSNN.stream (float32 to 1e-6); step() and run() agree; reset() restarts."""
    model = _model(32, big).to(dtype)
    model.eval()
    x = (torch.rand(400, 20, generator=torch.Generator().manual_seed(4)) < 0.25).to(dtype)
    ref = _model_stream(model, x)
    dec = streaming.StreamingDecoder(model)
    assert dec.backend == "numba"
    ys = dec.run(x)
    np.testing.assert_allclose(ys, ref, rtol=0, atol=1e-6)
    dec.reset()
    stepped = np.stack([dec.step(x[t]) for t in range(50)])
    np.testing.assert_allclose(stepped, ref[:50], rtol=0, atol=1e-6)
    np.testing.assert_allclose(dec.run(x[50:]), ref[50:], rtol=0, atol=1e-6)


def test_streaming_decoder_float16_torch_backend() -> None:
    """float16 streaming runs the torch step of a half() copy, equal to the half model's stream."""
    model = _model(16, False).float()
    model.eval()
    x = (torch.rand(60, 20, generator=torch.Generator().manual_seed(6)) < 0.25).float()
    dec = streaming.StreamingDecoder(model, dtype=torch.float16)
    assert dec.backend == "torch"
    half = _model(16, False).float().half()
    half.load_state_dict(model.half().state_dict())
    half.eval()
    ref = _model_stream(half, x.half())
    np.testing.assert_array_equal(dec.run(x.numpy()), ref)


def test_workspace_reuse_keeps_results_exact() -> None:
    """Repeated steps reuse the pooled buffers and still match the reference; reused buffers are guarded."""
    import copy

    model = _model(16, False)
    model.train()
    x = (torch.rand(3, 40, 20, generator=torch.Generator().manual_seed(3)) < 0.3).double()
    _, g_ref = _run_and_grads(model, reference_run, x, seed=5)
    for _ in range(2):  # the second call takes the buffers the first backward gave back
        _run_and_grads(model, engine.fast_run, x, seed=9)  # other dropout draws fill the buffers
        fast, g_fast = _run_and_grads(model, engine.fast_run, x, seed=5)
        for name, g in g_ref.items():
            torch.testing.assert_close(g_fast[name], g, rtol=0, atol=1e-5, msg=name)
    ws = numba_backend.workspace(model)
    assert sum(len(v) for v in ws._free.values()) == 4  # mem, syn, spikes, adjoints pooled
    assert not copy.deepcopy(model).__dict__["_engine_workspace"]._free
    # a retained graph may be differentiated again, but not after a later call reused its buffers
    model.zero_grad()
    out = engine.fast_run(model, x)
    out.y.sum().backward(retain_graph=True)
    g1 = model.fc_in.weight.grad.clone()
    out.y.sum().backward(retain_graph=True)
    torch.testing.assert_close(model.fc_in.weight.grad, 2 * g1, rtol=0, atol=1e-12)
    engine.fast_run(model, x).y.sum().backward()  # took and gave back the buffers of `out`
    with pytest.raises(RuntimeError, match="reused"):
        out.y.sum().backward()
    with torch.no_grad():  # no backward follows: buffers go straight back to the pool
        engine.fast_run(model, x)
    assert sum(len(v) for v in ws._free.values()) >= 3
