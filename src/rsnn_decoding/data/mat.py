"""Reading a Zenodo 583331 session .mat (MATLAB v7.3 = HDF5) into the arrays the pipeline needs (METHOD.md §1)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from rsnn_decoding.errors import UserError

REQUIRED = ("t", "cursor_pos", "target_pos", "spikes")


@dataclass
class RawSession:
    """Contents of a Zenodo .mat needed by the pipeline (h5py orientation, time along the last axis)."""

    t: np.ndarray  # (N,) float64 seconds
    cursor_pos: np.ndarray  # (2, N)
    target_pos: np.ndarray  # (2, N)
    spike_times: list[list[np.ndarray]]  # [channel][unit] -> 1-D float64 times, as NeuroBench sees them
    n_channels: int
    empty_cells: int = 0  # cells stored as MATLAB empty placeholders (read as spike times 0, like NeuroBench)
    path: str = ""

    @property
    def n_steps(self) -> int:
        """Number of 4 ms samples N."""
        return int(self.t.shape[0])


def _read_array(f: h5py.File, name: str, path: str) -> np.ndarray:
    """Read a required numeric variable, naming the file and variable on failure."""
    if name not in f:
        raise UserError(f"{path}: variable '{name}' missing; is this a Zenodo 583331 session .mat?")
    obj = f[name]
    if not isinstance(obj, h5py.Dataset):
        raise UserError(f"{path}: variable '{name}' is not an array; is this a Zenodo 583331 session .mat?")
    try:
        if np.asarray(obj.attrs.get("MATLAB_empty", 0)).any():
            return np.zeros((0, 0))
        return np.asarray(obj[()])
    except (OSError, ValueError, TypeError) as exc:
        raise UserError(f"{path}: cannot read variable '{name}' ({exc}); the file looks corrupt") from exc


def _read_cell_element(f: h5py.File, ref: h5py.Reference, path: str) -> tuple[np.ndarray, bool]:
    """Dereference one spikes cell; return its values (raveled float64, as NeuroBench histograms them)."""
    if not ref:
        raise UserError(f"{path}: 'spikes' holds a null reference; the file looks corrupt")
    try:
        # low-level read: the same values as f[ref][()] at about half the per-cell overhead
        oid = h5py.h5r.dereference(ref, f.id)
        if not isinstance(oid, h5py.h5d.DatasetID):
            raise TypeError("a cell is not an array")
        values = np.empty(oid.get_space().shape, dtype=oid.dtype)
        if values.dtype.kind not in "fiub":
            raise TypeError(f"a cell holds {values.dtype} data, not spike times")
        if values.size:
            oid.read(h5py.h5s.ALL, h5py.h5s.ALL, values)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path}: cannot read a 'spikes' cell ({exc}); the file looks corrupt") from exc
    if values.dtype.kind not in "fiub":
        raise UserError(f"{path}: a 'spikes' cell holds {values.dtype} data, not spike times; wrong file?")
    # MATLAB writes an empty cell as a uint64 array of its dimensions (attribute MATLAB_empty); spike
    # times are doubles, so the dtype identifies the placeholder without reading attributes
    empty = values.dtype == np.uint64 and values.size == 2
    return values.ravel().astype(np.float64), empty


def read_mat(path: str | os.PathLike) -> RawSession:
    """Read t, cursor_pos, target_pos and the spike-time cells of a Zenodo .mat (MATLAB v7.3) file."""
    p = str(path)
    if not Path(p).is_file():
        raise UserError(f"{p}: file not found; check the path or run the download/simulate step")
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise UserError(
            f"{p}: not a readable MATLAB v7.3 (HDF5) file ({' '.join(str(exc).split())[:120]}); "
            "re-download it (truncated or wrong format)"
        ) from exc
    with f:
        t_raw = _read_array(f, "t", p)
        cursor = _read_array(f, "cursor_pos", p)
        target = _read_array(f, "target_pos", p)
        refs = _read_array(f, "spikes", p)
        t = np.squeeze(t_raw).astype(np.float64)
        if t.ndim != 1 or t.size < 2:
            raise UserError(f"{p}: empty session ('t' has {t_raw.size} samples, need >= 2); wrong file?")
        n = t.shape[0]
        for name, arr in (("cursor_pos", cursor), ("target_pos", target)):
            if arr.ndim != 2 or arr.shape[1] != n or arr.shape[0] < 2:
                raise UserError(
                    f"{p}: inconsistent shapes: '{name}' is {arr.shape}, expected (2, {n}) like 't'; "
                    "the file is corrupt or not a Zenodo session"
                )
        if target.shape[0] != 2:
            raise UserError(f"{p}: inconsistent shapes: 'target_pos' is {target.shape}, expected (2, {n})")
        if refs.ndim != 2 or refs.dtype != object or refs.size == 0:
            raise UserError(f"{p}: 'spikes' is {refs.shape} {refs.dtype}, expected a (units, channels) cell array")
        n_units, n_channels = refs.shape
        spike_times: list[list[np.ndarray]] = []
        n_empty = 0
        for c in range(n_channels):
            units = []
            for u in range(n_units):
                values, empty = _read_cell_element(f, refs[u, c], p)
                n_empty += int(empty)
                units.append(values)
            spike_times.append(units)
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise UserError(f"{p}: 't' is not strictly increasing and finite; the file is corrupt")
    return RawSession(
        path=p,
        t=t,
        cursor_pos=np.asarray(cursor, dtype=np.float64),
        target_pos=np.asarray(target, dtype=np.float64),
        spike_times=spike_times,
        n_channels=n_channels,
        empty_cells=n_empty,
    )
