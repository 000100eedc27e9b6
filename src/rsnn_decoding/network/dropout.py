"""Dropout of the network (METHOD.md section 3): keep-masks drawn once per sequence, inverted-dropout scaling."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rsnn_decoding.network.maskhash import hash_keep, mask_stream_base


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
