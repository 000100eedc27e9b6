"""Training loss and the training metric (METHOD.md section 4): RMSE plus activity regularisers, minibatch R2."""

from __future__ import annotations

import torch
from torch import Tensor

from rsnn_decoding.metrics import r2_per_output
from rsnn_decoding.training.config import TrainConfig


def loss_fn(y: Tensor, target: Tensor, spike_counts: Tensor, cfg: TrainConfig) -> tuple[Tensor, dict[str, float]]:
    """RMSE over batch x time x 2 plus lower / upper activity regularizers (METHOD.md §4)."""
    rmse = torch.sqrt(torch.mean((y - target) ** 2))
    lower = cfg.lower_reg_strength * torch.mean(torch.relu(cfg.lower_reg_threshold - spike_counts) ** 2)
    upper = cfg.upper_reg_strength * torch.mean(
        torch.relu(spike_counts.mean(dim=1) - cfg.upper_reg_threshold) ** 2
    )
    loss = rmse + lower + upper
    parts = {"rmse": float(rmse.detach()), "lower": float(lower.detach()), "upper": float(upper.detach())}
    return loss, parts


def batch_r2(y: Tensor, target: Tensor) -> tuple[float, float, float]:
    """Minibatch R2 (mean, x, y), each rounded to 3 decimals (mean of the unrounded x and y)."""
    r = r2_per_output(target, y).tolist()
    return round((r[0] + r[1]) / 2.0, 3), round(r[0], 3), round(r[1], 3)
