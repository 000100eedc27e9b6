"""Training and validation windows (METHOD.md section 2): 2 s windows cut at several offsets, offset-major."""

from __future__ import annotations

import numpy as np
import torch

from rsnn_decoding.data.preprocess import Preprocessed
from rsnn_decoding.errors import UserError

WINDOW = 500


OFFSETS = (0, 100, 200, 300, 400)


def window_index(index: np.ndarray, window: int = WINDOW, offsets: tuple[int, ...] | list[int] = OFFSETS) -> np.ndarray:
    """(n_windows, window) int64: per offset, index[offset:] cut into windows minus the last piece."""
    index = np.asarray(index, dtype=np.int64)
    rows = []
    for off in offsets:
        series = index[int(off) :]
        n_win = max((series.shape[0] - 1) // window, 0)  # pieces = ceil(L / window); the last one is dropped
        if n_win:
            rows.append(series[: n_win * window].reshape(n_win, window))
    if not rows:
        return np.zeros((0, window), dtype=np.int64)
    return np.concatenate(rows, axis=0)


def _split_index(pre: Preprocessed, split: str) -> np.ndarray:
    """The index array of a split name."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"unknown split {split!r}")
    return getattr(pre, f"{split}_index")


def windows(
    pre: Preprocessed, split: str, window: int = WINDOW, offsets: tuple[int, ...] | list[int] = OFFSETS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows of a split: X (n, window, C) float32 spikes and Y (n, window, 2) float32 velocity."""
    idx = window_index(_split_index(pre, split), window, offsets)
    if idx.shape[0] == 0:
        raise UserError(
            f"{pre.session}: too little data for one {window * pre.dt:g} s window in the {split} split "
            f"({_split_index(pre, split).size} steps); use a longer session"
        )
    x = torch.from_numpy(pre.spikes[idx].astype(np.float32))
    y = torch.from_numpy(pre.velocity[idx].astype(np.float32))
    return x, y


def concat_windows(
    pres: list[Preprocessed], split: str, window: int = WINDOW, offsets: tuple[int, ...] | list[int] = OFFSETS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows of several sessions (each windowed on its own), concatenated in the given order."""
    if not pres:
        raise UserError("pretraining: no sessions given; check the pretraining set in the config")
    channels = {p.n_channels for p in pres}
    if len(channels) != 1:
        raise UserError(
            f"pretraining: sessions have different channel counts {sorted(channels)}; pretrain each monkey separately"
        )
    parts = [windows(p, split, window, offsets) for p in pres]
    return torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts])
