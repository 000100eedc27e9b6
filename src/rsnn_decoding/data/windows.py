"""Training and validation windows (METHOD.md section 2): 2 s windows cut at several offsets, offset-major."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch
from torch import Tensor

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


class WindowSet:
    """The windows of one split over sessions (in order, offset-major within each session), gathered at
    batch time from the sessions' own arrays: no copy of every window, no float copy of the data."""

    def __init__(self, spikes: list[np.ndarray], velocity: list[np.ndarray], split_index: list[np.ndarray],
                 window: int = WINDOW, offsets: tuple[int, ...] | list[int] = OFFSETS) -> None:
        """Per session: spikes (N, C) uint8, velocity (N, 2) float32 and the split's time steps (n,)."""
        self.window = int(window)
        self._spikes = [torch.from_numpy(np.ascontiguousarray(s)) for s in spikes]
        self._velocity = [torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for v in velocity]
        self._index = [torch.from_numpy(np.ascontiguousarray(i, dtype=np.int64)) for i in split_index]
        sessions, starts = [], []
        for s, idx in enumerate(self._index):
            for off in offsets:  # the windows of window_index(idx, window, offsets), by their start position
                n_win = max((idx.shape[0] - int(off) - 1) // self.window, 0)
                starts.append(int(off) + self.window * np.arange(n_win, dtype=np.int64))
                sessions.append(np.full(n_win, s, dtype=np.int64))
        self._session = torch.from_numpy(np.concatenate(sessions)) if sessions else torch.zeros(0, dtype=torch.int64)
        self._start = torch.from_numpy(np.concatenate(starts)) if starts else torch.zeros(0, dtype=torch.int64)

    def __len__(self) -> int:
        """Number of windows."""
        return int(self._start.shape[0])

    @property
    def n_channels(self) -> int:
        """Input channels C."""
        return int(self._spikes[0].shape[1])

    def windows_per_session(self) -> list[int]:
        """How many windows each session contributes."""
        return torch.bincount(self._session, minlength=len(self._spikes)).tolist()

    def _rows(self, w: int) -> tuple[int, Tensor]:
        """Session and time steps of window w."""
        s, a = int(self._session[w]), int(self._start[w])
        return s, self._index[s][a : a + self.window]

    def gather(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """Windows idx as spikes (B, window, C) uint8 and velocity (B, window, 2) float32."""
        rows = [self._rows(int(w)) for w in idx]
        x = torch.stack([self._spikes[s][r] for s, r in rows])
        y = torch.stack([self._velocity[s][r] for s, r in rows])
        return x, y

    def targets(self) -> Tensor:
        """Every window's velocity (n, window, 2) float32 (small: two floats per step)."""
        return self.gather(torch.arange(len(self)))[1]

    def spike_total(self, channels: slice) -> int:
        """Sum of the spikes of `channels` over every window, each step counted once per covering window."""
        total = 0
        for s, (spikes, idx) in enumerate(zip(self._spikes, self._index, strict=True)):
            cover = torch.zeros(idx.shape[0] + 1, dtype=torch.int64)
            starts = self._start[self._session == s]
            cover.index_add_(0, starts, torch.ones_like(starts))
            cover.index_add_(0, starts + self.window, -torch.ones_like(starts))
            counts = torch.cumsum(cover, 0)[:-1]  # covering windows per position of the split index
            per_step = spikes[idx][:, channels].sum(dim=1, dtype=torch.int64)
            total += int((counts * per_step).sum())
        return total

    def digest(self) -> str:
        """SHA-256 of the spike and velocity arrays, the split indices and the window starts."""
        h = hashlib.sha256(f"windows|{self.window}|{len(self._spikes)}".encode())
        for t in (*self._spikes, *self._velocity, *self._index, self._session, self._start):
            h.update(repr(tuple(t.shape)).encode())
            h.update(t.contiguous().numpy())
        return h.hexdigest()


class TensorWindows:
    """Windows already held as tensors, x (n, window, C) and y (n, window, 2), with WindowSet's interface."""

    def __init__(self, x: Tensor, y: Tensor) -> None:
        """Keep the two tensors (not copied)."""
        self.x, self.y = x, y
        self.window = int(x.shape[1]) if x.dim() == 3 else 0

    def __len__(self) -> int:
        """Number of windows."""
        return int(self.x.shape[0])

    @property
    def n_channels(self) -> int:
        """Input channels C."""
        return int(self.x.shape[-1])

    def gather(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """Windows idx of x and y."""
        return self.x[idx], self.y[idx]

    def targets(self) -> Tensor:
        """Every window's velocity."""
        return self.y

    def spike_total(self, channels: slice) -> int | float:
        """Sum of x over the given channels (exact for binary spikes)."""
        return float(self.x[..., channels].sum(dtype=torch.float64))

    def digest(self) -> str:
        """SHA-256 of both tensors' bytes (shapes included)."""
        h = hashlib.sha256(b"tensors")
        for t in (self.x, self.y):
            h.update(repr(tuple(t.shape)).encode())
            h.update(t.detach().cpu().contiguous().numpy())
        return h.hexdigest()


def as_windows(data: Any) -> WindowSet | TensorWindows:
    """A WindowSet or TensorWindows as given, an (x, y) pair wrapped in TensorWindows."""
    if isinstance(data, WindowSet | TensorWindows):
        return data
    x, y = data
    return TensorWindows(x, y)


def window_set(pres: list[Preprocessed], split: str, window: int = WINDOW,
               offsets: tuple[int, ...] | list[int] = OFFSETS) -> WindowSet:
    """The windows of a split over sessions in the given order (each session windowed on its own)."""
    if not pres:
        raise UserError("training: no sessions given; check the pretraining set in the config")
    channels = {p.n_channels for p in pres}
    if len(channels) != 1:
        raise UserError(f"sessions {[p.session for p in pres]}: different channel counts {sorted(channels)}; "
                        "pretrain each monkey separately")
    ws = WindowSet([p.spikes for p in pres], [p.velocity for p in pres], [_split_index(p, split) for p in pres],
                   window, offsets)
    for pre, n in zip(pres, ws.windows_per_session(), strict=True):
        if n == 0:
            raise UserError(
                f"{pre.session}: too little data for one {window * pre.dt:g} s window in the {split} split "
                f"({_split_index(pre, split).size} steps); use a longer session"
            )
    return ws
