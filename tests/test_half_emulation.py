"""float16 emulation in float64 arithmetic: every op rounded as torch's float16 CPU kernels round it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rsnn_decoding.data.preprocess import Preprocessed
from rsnn_decoding.evaluation import batched as batched_eval
from rsnn_decoding.evaluation import half_emulation, neurobench, released
from rsnn_decoding.network.config import tiny_config
from rsnn_decoding.network.rsnn import RSNN

torch.set_num_threads(1)
FIXTURES = Path(__file__).parent / "fixtures" / "published"  # MIT licence: see LICENSE there
RELEASED = ["indy01/tinyRSNN-1.pth", "indy01/tinyRSNN-2.pth", "loco01/tinyRSNN-1.pth"]


def pairs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """float16 pairs over the whole range: normal, subnormal, near overflow."""
    g = torch.Generator().manual_seed(seed)
    scale = torch.exp2(torch.randint(-26, 16, (2, n), generator=g).float())
    v = (torch.randn(2, n, generator=g) * scale).half()
    return v[0], v[1]


@pytest.mark.parametrize("op", ["mul", "add", "sub"])
def test_rounding_equals_torch_float16_ops(op: str) -> None:
    a, b = pairs(400_000, seed={"mul": 1, "add": 2, "sub": 3}[op])
    ad, bd = a.double().numpy(), b.double().numpy()
    keep = np.isfinite(ad) & np.isfinite(bd)
    torch_result = {"mul": a * b, "add": a + b, "sub": a - b}[op].double().numpy()
    with np.errstate(invalid="ignore"):
        exact = {"mul": ad * bd, "add": ad + bd, "sub": ad - bd}[op]  # exact in float64
    ours = half_emulation.round_to_half(exact)[keep]
    torch_result = torch_result[keep]
    assert np.isinf(torch_result).any() and (np.abs(torch_result) < 2.0**-14).any()  # both ends reached
    assert np.array_equal(ours, torch_result, equal_nan=True)
    assert np.array_equal(np.signbit(ours), np.signbit(torch_result))


def test_rounding_ties_go_to_even() -> None:
    # 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: to 1 (even); 1 + 3 * 2^-11: to 1 + 2^-9
    values = np.array([1 + 2.0**-11, 1 + 3 * 2.0**-11, 65519.99, 65520.0, 2.0**-25, 3 * 2.0**-25])
    expect = np.array([1.0, 1 + 2.0**-9, 65504.0, np.inf, 0.0, 2.0**-23])
    assert np.array_equal(half_emulation.round_to_half(values), expect)


def linear_cases(n: int, k: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """float16 weights of mixed magnitudes (some sums inexact in float32) and 0..3 count inputs."""
    g = torch.Generator().manual_seed(seed)
    w = (torch.randn(n, k, generator=g) * torch.exp2(torch.randint(-9, 1, (n, k), generator=g).float())).half()
    x = torch.randint(0, 4, (200, k), generator=g).half()
    return w, x


def test_linear_guard_admits_only_sums_torch_rounds_exactly() -> None:
    w, x = linear_cases(64, 96, seed=4)
    wd, q = w.double().numpy(), half_emulation.quanta(w.double().numpy())
    admitted = 0
    for row in x:
        ref = torch.nn.functional.linear(row[None], w)[0].double().numpy()
        xd = row.double().numpy()
        active = np.nonzero(xd)[0]
        for i in range(64):
            s, ok = half_emulation._linear_row(wd, q, xd, active, len(active), i)
            if ok:
                admitted += 1
                assert half_emulation.round_to_half(np.array([s]))[0] == ref[i]
    assert 0 < admitted < 200 * 64  # both branches of the guard are exercised


def pruned_half_tiny(n_inputs: int, seed: int) -> RSNN:
    """A random pruned tinyRSNN in float16 whose neurons spike."""
    torch.manual_seed(seed)
    model = RSNN(n_inputs, tiny_config()).eval()
    with torch.no_grad():
        model.fc_in.weight.normal_(0.05, 0.5)
        model.fc_rec.weight.normal_(-0.02, 0.125)
        model.fc_out.weight.normal_(0.0, 0.05)
        for w in model.weight_matrices():
            w[torch.rand_like(w) < 0.5] = 0.0
    return model.half()


def counts(steps: int, n_inputs: int, seed: int, rate: float = 0.2) -> torch.Tensor:
    """Poisson spike counts (steps, 1, C) in float16 (some 2s and 3s)."""
    x = np.random.default_rng(seed).poisson(rate, (steps, 1, n_inputs))
    return torch.from_numpy(x).half()


def assert_same_run(model: RSNN, x: torch.Tensor) -> half_emulation.HalfStepper:
    """HalfStepper and the torch ops (batched_eval.run_steps) agree bit for bit, in two chunks."""
    stepper = half_emulation.HalfStepper(model)
    ref_state = emu_state = model.init_state(1)
    cut = x.shape[0] // 3
    with torch.no_grad():
        for part in (x[:cut], x[cut:]):  # state carried across calls, as across NeuroBench batches
            ref = batched_eval.run_steps(model, part, ref_state)
            emu = stepper.run(part, emu_state)
            for a, b in zip(ref[:3], emu[:3], strict=True):  # mems, spikes, outs
                assert a.dtype == b.dtype == torch.float16
                assert torch.equal(a.view(torch.int16), b.view(torch.int16))  # same bits (signed zeros too)
            ref_state, emu_state = ref[3], emu[3]
            for a, b in zip(torch.utils._pytree.tree_leaves(ref_state), torch.utils._pytree.tree_leaves(emu_state),
                            strict=True):
                assert torch.equal(a.view(torch.int16), b.view(torch.int16))
    return stepper


def test_random_pruned_network_bit_identical() -> None:
    model = pruned_half_tiny(96, seed=2)
    x = counts(3000, 96, seed=3)
    stepper = assert_same_run(model, x)
    assert stepper.fallback_steps < 3000
    spikes = batched_eval.run_steps(model, x[:500], model.init_state(1))[1]
    assert 0.01 < spikes.float().mean() < 0.5


def test_guard_falls_back_to_torch_steps() -> None:
    model = pruned_half_tiny(20, seed=5)
    with torch.no_grad():  # weights of very different magnitudes: many float32 sums are inexact
        model.fc_rec.weight[:, :32] *= 2.0**-12
        model.fc_in.weight[:, :10] *= 2.0**-14
    stepper = assert_same_run(model, counts(600, 20, seed=6, rate=0.5))
    assert stepper.fallback_steps > 0


@pytest.mark.parametrize("name", RELEASED)
def test_released_networks_bit_identical(name: str) -> None:
    model = released.load(FIXTURES / name)
    assert model.dtype == torch.float16
    x = counts(3000, model.n_inputs, seed=7)
    assert_same_run(model, x)


def test_released_network_neurobench_metrics_equal_per_step() -> None:
    model = released.load(FIXTURES / RELEASED[0])
    rng = np.random.default_rng(8)
    spikes = rng.poisson(0.2, (1500, model.n_inputs)).astype(np.uint8)
    vel = np.cumsum(rng.normal(0, 0.1, (1500, 2)), axis=0).astype(np.float32)
    idx = np.arange(1500)
    pre = Preprocessed("indy_x", "indy", 0.004, "0" * 64, spikes, vel, idx[:0], idx[:0], idx)
    per_step = neurobench.evaluate_network(model, pre, batch_steps=700, mode="per_step")
    batched = neurobench.evaluate_network(model, pre, batch_steps=700, mode="batched")
    drop = ("evaluation_seconds", "evaluation_mode")
    assert {k: v for k, v in batched.items() if k not in drop} == {
        k: v for k, v in per_step.items() if k not in drop}
    assert batched["macs"] > 0 and batched["acs"] > 0


def test_unsupported_networks_use_the_torch_ops() -> None:
    model = pruned_half_tiny(8, seed=1)
    assert half_emulation.supported(model)
    assert not half_emulation.supported(model.float())
    with pytest.raises(ValueError, match="float16"):
        half_emulation.HalfStepper(pruned_half_tiny(8, seed=1).float())


def test_unpruned_network_with_tiny_weights_bit_identical() -> None:
    # dense normal weights include float16 subnormals: float32 sums are then often inexact, and the
    # rounding-interval test (or the torch fallback) must still give torch's bits
    torch.manual_seed(11)
    model = RSNN(96, tiny_config()).eval()
    with torch.no_grad():
        model.fc_in.weight.normal_(0.0, 0.3)
        model.fc_rec.weight.normal_(0.0, 0.1)
        model.fc_rec.weight[:4, :4] = 2.0**-20  # float16 subnormals
        model.fc_out.weight.normal_(0.0, 0.1)
    model = model.half()
    assert (model.fc_rec.weight.abs() < 2.0**-14).sum() >= 16
    assert_same_run(model, counts(2000, 96, seed=12, rate=0.3))
