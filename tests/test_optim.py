"""SMORMS3 against hand-computed updates; cosine schedule interplay."""

from __future__ import annotations

import math

import pytest
import torch

from rsnn_decoding.training.optim import SMORMS3


def _run(p0: float, grads: list[float], lr: float) -> list[float]:
    """Apply SMORMS3 to one float64 scalar parameter with the given gradient sequence."""
    p = torch.nn.Parameter(torch.tensor([p0], dtype=torch.float64))
    opt = SMORMS3([p], lr=lr)
    out = []
    for g in grads:
        p.grad = torch.tensor([g], dtype=torch.float64)
        opt.step()
        out.append(float(p.detach()[0]))
    return out


def test_two_steps_lr_limited_by_hand() -> None:
    # step 1: mem=1 -> r=1/2; g=0.25, g2=0.125, x=g^2/g2=0.5 -> min(2e-3, 0.5)=2e-3
    p1 = 1.0 - 2e-3 * 0.5 / math.sqrt(0.125)
    # mem = 1 + 1*(1-0.5) = 1.5 -> r = 0.4; g = 0.6*0.25 + 0.4*(-0.3) = 0.03; g2 = 0.6*0.125 + 0.4*0.09 = 0.111
    x2 = 0.03**2 / 0.111  # 0.0081 > lr -> lr
    p2 = p1 - 2e-3 * (-0.3) / math.sqrt(0.111)
    # mem = 1 + 1.5*(1 - x2); r = 1/(mem+1); grad 0.1
    mem = 1.0 + 1.5 * (1.0 - x2)
    r = 1.0 / (mem + 1.0)
    g, g2 = (1 - r) * 0.03 + r * 0.1, (1 - r) * 0.111 + r * 0.01
    p3 = p2 - min(2e-3, g * g / g2) * 0.1 / math.sqrt(g2)
    got = _run(1.0, [0.5, -0.3, 0.1], lr=2e-3)
    assert got == pytest.approx([p1, p2, p3], rel=0, abs=1e-14)
    assert got[0] == pytest.approx(0.99717157287525, abs=1e-13)


def test_step_limited_by_g2_ratio_when_lr_large() -> None:
    # lr = 1: step 1 uses x = 0.5: p = 1 - 0.5 * 0.5 / sqrt(0.125)
    p1 = 1.0 - 0.5 * 0.5 / math.sqrt(0.125)
    x2 = 0.03**2 / 0.111
    p2 = p1 - x2 * (-0.3) / math.sqrt(0.111)
    got = _run(1.0, [0.5, -0.3], lr=1.0)
    assert got == pytest.approx([p1, p2], rel=0, abs=1e-14)
    assert got[0] == pytest.approx(0.29289321881345, abs=1e-12)


def test_zero_gradient_leaves_parameter_exactly_unchanged() -> None:
    p = torch.nn.Parameter(torch.tensor([0.0, 1.5]))
    opt = SMORMS3([p])
    for _ in range(3):
        p.grad = torch.zeros(2)
        opt.step()
    assert torch.equal(p.detach(), torch.tensor([0.0, 1.5]))


def test_cosine_schedule_changes_lr_once_per_epoch() -> None:
    p = torch.nn.Parameter(torch.ones(1))
    opt = SMORMS3([p], lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4, eta_min=0.0)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        p.grad = torch.ones(1)
        opt.step()
        sched.step()
    expected = [2e-3 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    assert lrs == pytest.approx(expected, rel=1e-12)


def test_state_dict_roundtrip_continues_identically() -> None:
    torch.manual_seed(0)
    grads = [torch.randn(5) for _ in range(6)]
    a = torch.nn.Parameter(torch.randn(5))
    b = torch.nn.Parameter(a.detach().clone())
    opt_a = SMORMS3([a])
    opt_b = SMORMS3([b])
    for g in grads[:3]:
        a.grad, b.grad = g.clone(), g.clone()
        opt_a.step()
        opt_b.step()
    opt_c = SMORMS3([b])
    opt_c.load_state_dict(opt_b.state_dict())
    for g in grads[3:]:
        a.grad, b.grad = g.clone(), g.clone()
        opt_a.step()
        opt_c.step()
    assert torch.equal(a.detach(), b.detach())
