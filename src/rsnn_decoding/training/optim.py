"""SMORMS3 optimizer (Simon Funk 2015) as specified in METHOD.md §4."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


class SMORMS3(torch.optim.Optimizer):
    """SMORMS3: per-parameter adaptive step min(lr, g^2/g2) * grad / sqrt(g2)."""

    def __init__(self, params: Iterable, lr: float = 2e-3, eps: float = 1e-16) -> None:
        """Create the optimizer; `lr` lives in the param groups so schedulers can change it."""
        if lr < 0.0:
            raise ValueError(f"invalid learning rate {lr}")
        if eps <= 0.0:
            raise ValueError(f"invalid eps {eps}")
        super().__init__(params, {"lr": lr, "eps": eps})

    def _init_state(self, p: torch.Tensor) -> dict:
        """Fresh state: mem = 1, g = 0, g2 = 0 (same shape and dtype as the parameter)."""
        state = self.state[p]
        state["mem"] = torch.ones_like(p, memory_format=torch.preserve_format)
        state["g"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        state["g2"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """Apply one SMORMS3 update to every parameter that has a gradient."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr = group["lr"]
            eps = group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if grad.is_sparse:
                    raise RuntimeError("SMORMS3 does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state = self._init_state(p)
                mem, g, g2 = state["mem"], state["g"], state["g2"]
                r = 1.0 / (mem + 1.0)
                g.mul_(1.0 - r).add_(r * grad)
                g2.mul_(1.0 - r).add_(r * grad * grad)
                x = g * g / (g2 + eps)
                mem.mul_(1.0 - x).add_(1.0)
                step = torch.clamp(x, max=lr) * grad / (g2.sqrt() + eps)
                p.sub_(step)
        return loss
