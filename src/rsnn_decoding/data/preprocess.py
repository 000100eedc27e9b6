"""Preprocessing a Zenodo 583331 session: binning, velocity, reach splits, the preprocessed .h5 (METHOD.md section 2).

Binning, velocity and the reach split reproduce neurobench 2.3.0 ``PrimateReaching`` (bin_width =
stride = 4 ms, num_steps = 1, biological_delay = 0, spike_sorting = False, train_ratio = 0.5) element
for element, followed by the paper's train/validation re-split (METHOD.md §2).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from rsnn_decoding.data.mat import RawSession, read_mat
from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import atomic_output, sha256_file

LOG = logging.getLogger("rsnn_decoding.data")

DT = 0.004
CHANNELS = {"indy": 96, "loco": 192}
VAL_FRACTION = 0.1
TRAIN_VAL_FRACTION = 0.75


@dataclass
class Preprocessed:
    """A preprocessed session (the .h5 data contract)."""

    session: str
    monkey: str
    dt: float
    source_sha256: str
    spikes: np.ndarray  # (N, C) uint8
    velocity: np.ndarray  # (N, 2) float32
    train_index: np.ndarray
    val_index: np.ndarray
    test_index: np.ndarray
    sha256: str = ""
    path: str = ""

    @property
    def n_channels(self) -> int:
        """Number of input channels C."""
        return int(self.spikes.shape[1])


@dataclass
class Binned:
    """Result of binning one session (before writing)."""

    spikes: np.ndarray  # (N, C) uint8
    n_outside: int  # spike times outside the grid (ignored)
    n_placeholder_outside: int = 0  # of which MATLAB empty-cell placeholders


# ----------------------------------------------------------------------------- preprocessing


def time_grid(t: np.ndarray) -> np.ndarray:
    """Bin edges g = arange(t[0] - 0.004, t[-1], 0.004) (NeuroBench with bin_width = 4 ms)."""
    return np.arange(t[0] - DT, t[-1], DT)


def _bin_of(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Histogram bin k with g[k] <= x < g[k+1] (the last bin also holds g[-1]); -1 outside or NaN.

    The same assignment as numpy.histogram(x, bins=g) (searchsorted on the edges), computed in
    O(len(x)) from the uniform spacing of g and then corrected against the actual edge values.
    """
    n_bins = g.shape[0] - 1
    k = np.full(x.shape, -1, dtype=np.int64)
    if n_bins < 1:
        return k
    inner = (x >= g[0]) & (x < g[-1])  # False for NaN
    xi = x[inner]
    ki = np.clip(np.floor((xi - g[0]) / DT).astype(np.int64), 0, n_bins - 1)
    for _ in range(8):  # one step fixes rounding of (x - g0) / DT next to an edge
        down = xi < g[ki]
        up = xi >= g[ki + 1]
        if not (down.any() or up.any()):
            break
        ki = np.clip(ki - down + up, 0, n_bins - 1)
    else:
        ki = np.searchsorted(g, xi, side="right") - 1
    k[inner] = ki
    k[x == g[-1]] = n_bins - 1
    return k


def bin_spikes(raw: RawSession) -> Binned:
    """Binary (N, C) spikes: step k+1 is 1 when any unit of the channel has a spike in histogram bin k."""
    g = time_grid(raw.t)
    n_bins = g.shape[0] - 1
    n = raw.n_steps
    lengths = [sum(u.shape[0] for u in units) for units in raw.spike_times]
    times = np.concatenate([np.concatenate(units) if units else np.zeros(0) for units in raw.spike_times])
    channel = np.repeat(np.arange(raw.n_channels), lengths)
    k = _bin_of(times, g)
    inside = (k >= 0) & (k < n_bins)
    step = k[inside] + 1
    keep = step < n
    spikes = np.zeros((n, raw.n_channels), dtype=np.uint8)
    spikes[step[keep], channel[inside][keep]] = 1
    n_outside = int(times.shape[0] - np.count_nonzero(inside))
    zero_inside = n_bins > 0 and g[0] <= 0.0 <= g[-1]
    n_placeholder = 0 if zero_inside else 2 * raw.empty_cells
    return Binned(spikes=spikes, n_outside=n_outside, n_placeholder_outside=min(n_placeholder, n_outside))


def velocity(cursor_pos: np.ndarray) -> np.ndarray:
    """(N, 2) float32 velocity in mm per step: cursor_pos cast to float32, then torch.gradient along time."""
    pos = torch.from_numpy(np.ascontiguousarray(cursor_pos)).float()
    return torch.gradient(pos, dim=1)[0].numpy().T.copy()


def reach_boundaries(target_pos: np.ndarray) -> np.ndarray:
    """Indices i where the target changes between samples i and i+1 (the last sample of the old target)."""
    diff = np.diff(target_pos, axis=1, append=target_pos[:, -1:])
    return np.nonzero(np.sum(np.abs(diff), axis=0))[0]


def reach_segments(target_pos: np.ndarray) -> np.ndarray:
    """(n, 2) [start, end) of the reaches [0, b1), [b1, b2), ..., [bk, N)."""
    b = reach_boundaries(target_pos)
    edges = np.concatenate([[0], b, [target_pos.shape[1]]]).astype(np.int64)
    return np.stack([edges[:-1], edges[1:]], axis=1)


def split_segments(segments: np.ndarray, train_ratio: float = 0.5) -> tuple[np.ndarray, ...]:
    """NeuroBench split: first floor(r n) reaches train, next floor((n - train)/2) validation, rest test."""
    n = segments.shape[0]
    n_train = int(np.floor(train_ratio * n))
    n_val = int(np.floor((n - n_train) / 2))
    groups = (segments[:n_train], segments[n_train : n_train + n_val], segments[n_train + n_val :])
    return tuple(
        np.concatenate([np.arange(s, e, dtype=np.int64) for s, e in grp]) if len(grp) else np.zeros(0, np.int64)
        for grp in groups
    )


def resplit(train: np.ndarray, val: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The paper's re-split: last round(N_all * 0.1 / 0.75) indices of train+val become validation."""
    block = np.concatenate([train, val]).astype(np.int64)
    n_all = block.shape[0] + test.shape[0]
    n_val = int(np.round(n_all * VAL_FRACTION / TRAIN_VAL_FRACTION))
    n_val = min(n_val, block.shape[0])
    cut = block.shape[0] - n_val
    return block[:cut].copy(), block[cut:].copy(), np.asarray(test, dtype=np.int64).copy()


def split_indices(target_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train/validation/test time-step indices after the paper's re-split."""
    return resplit(*split_segments(reach_segments(target_pos)))


def monkey_of(path: str | os.PathLike, n_channels: int) -> str:
    """Monkey from the file name prefix indy_/loco_, else from the channel count (96 Indy, 192 Loco)."""
    name = Path(path).name.lower()
    for monkey in CHANNELS:
        if name.startswith(monkey + "_"):
            return monkey
    for monkey, c in CHANNELS.items():
        if n_channels == c:
            return monkey
    raise UserError(
        f"{path}: cannot tell the monkey (name not indy_*/loco_*, {n_channels} channels instead of 96/192); "
        "pass the monkey explicitly"
    )


def check_finite(path: str | os.PathLike, name: str, values: np.ndarray, source: str) -> None:
    """UserError naming the file and variable when an array to be written holds a non-finite value."""
    if values.dtype.kind not in "fc":
        return  # integer spike matrices are finite by construction
    bad = ~np.isfinite(values)
    if bad.any():
        step = int(np.argwhere(bad)[0][0])
        raise UserError(
            f"{path}: '{name}' computed from variable '{source}' holds {int(bad.sum())} non-finite value(s) "
            f"(first at step {step}); the file's '{source}' has NaN/Inf samples, fix or replace the file"
        )


def preprocess_file(
    mat_path: str | os.PathLike,
    out_h5: str | os.PathLike,
    session: str | None = None,
    monkey: str | None = None,
    expected_channels: int | None = None,
) -> None:
    """Preprocess a Zenodo .mat into the .h5 data contract (atomic write)."""
    raw = read_mat(mat_path)
    if expected_channels is not None and raw.n_channels != int(expected_channels):
        raise UserError(
            f"{mat_path}: found {raw.n_channels} channels, expected {int(expected_channels)}; "
            "check the session's channel count in the sessions table"
        )
    monkey = monkey or monkey_of(mat_path, raw.n_channels)
    if monkey not in CHANNELS:
        raise UserError(f"monkey '{monkey}' for {mat_path}: unknown; use one of {', '.join(sorted(CHANNELS))}")
    session = session or re.sub(r"\.mat$", "", Path(mat_path).name)
    binned = bin_spikes(raw)
    if binned.n_outside:
        LOG.info(
            "%s: %d spike times outside the time grid ignored (%d of them MATLAB empty-cell placeholders)",
            mat_path,
            binned.n_outside,
            binned.n_placeholder_outside,
        )
    vel = velocity(raw.cursor_pos)
    check_finite(mat_path, "velocity", vel, "cursor_pos")
    check_finite(mat_path, "spikes", binned.spikes, "spikes")
    train, val, test = split_indices(raw.target_pos)
    LOG.info(
        "%s: %d steps, %d channels, train/val/test %d/%d/%d steps",
        session,
        raw.n_steps,
        raw.n_channels,
        train.size,
        val.size,
        test.size,
    )
    source_sha = sha256_file(mat_path)
    with atomic_output(out_h5) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("spikes", data=binned.spikes, compression="gzip", compression_opts=1, chunks=True)
            f.create_dataset("velocity", data=vel)
            f.create_dataset("train_index", data=train)
            f.create_dataset("val_index", data=val)
            f.create_dataset("test_index", data=test)
            f.attrs["session"] = session
            f.attrs["monkey"] = monkey
            f.attrs["dt"] = DT
            f.attrs["source_sha256"] = source_sha


def load_preprocessed(path: str | os.PathLike) -> Preprocessed:
    """Load a preprocessed session .h5 (UserError on a missing/corrupt file or missing dataset)."""
    p = str(path)
    if not Path(p).is_file():
        raise UserError(f"{p}: preprocessed session not found; run the preprocess step")
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise UserError(f"{p}: not a readable HDF5 file; delete it and rerun the preprocess step") from exc
    with f:
        arrays = {}
        for name in ("spikes", "velocity", "train_index", "val_index", "test_index"):
            if name not in f:
                raise UserError(f"{p}: dataset '{name}' missing; delete it and rerun the preprocess step")
            try:
                arrays[name] = np.asarray(f[name][()])
            except (OSError, ValueError) as exc:
                raise UserError(f"{p}: cannot read '{name}' (corrupt); rerun the preprocess step") from exc
        attrs = {k: f.attrs.get(k) for k in ("session", "monkey", "dt", "source_sha256")}
    missing = [k for k, v in attrs.items() if v is None]
    if missing:
        raise UserError(f"{p}: attribute(s) {', '.join(missing)} missing; rerun the preprocess step")
    spikes, vel = arrays["spikes"], arrays["velocity"]
    if spikes.ndim != 2 or vel.shape != (spikes.shape[0], 2):
        raise UserError(f"{p}: inconsistent shapes {spikes.shape} / {vel.shape}; rerun preprocess")
    return Preprocessed(
        session=str(attrs["session"]),
        monkey=str(attrs["monkey"]),
        dt=float(attrs["dt"]),
        source_sha256=str(attrs["source_sha256"]),
        spikes=spikes.astype(np.uint8, copy=False),
        velocity=vel.astype(np.float32, copy=False),
        train_index=arrays["train_index"].astype(np.int64, copy=False),
        val_index=arrays["val_index"].astype(np.int64, copy=False),
        test_index=arrays["test_index"].astype(np.int64, copy=False),
        sha256=sha256_file(p),
        path=p,
    )


# ----------------------------------------------------------------------------- CLI


def _cli_preprocess(args: argparse.Namespace) -> int:
    """Handler of `rsnn-decoding preprocess`."""
    preprocess_file(args.input, args.output, session=args.session, monkey=args.monkey, expected_channels=args.channels)
    print(f"wrote {args.output}")
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add `preprocess IN.mat OUT.h5`."""
    p = subparsers.add_parser("preprocess", help="bin a Zenodo .mat session into the preprocessed .h5")
    p.add_argument("input", help="session .mat (MATLAB v7.3)")
    p.add_argument("output", help="output .h5")
    p.add_argument("--session", default=None, help="session id (default: file name without .mat)")
    p.add_argument("--monkey", choices=sorted(CHANNELS), default=None, help="default: from the file name")
    p.add_argument("--channels", type=int, default=None, help="expected channel count (checked)")
    p.set_defaults(func=_cli_preprocess)
