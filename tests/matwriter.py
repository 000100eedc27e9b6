"""Independent minimal writer of Zenodo-like MATLAB v7.3 session files, used only by the tests.

Deliberately written without rsnn_decoding.simulate so that reader bugs and writer bugs cannot cancel.
Cells are stored in a plain group "cells" (not MATLAB's #refs# naming); each cell may be an array of
spike times in either orientation, None (MATLAB's uint64 [0, 0] empty placeholder) or "zero" (a
zero-size double array).
"""

from __future__ import annotations

import h5py
import numpy as np


def write_minimal_mat(
    path,
    t: np.ndarray,
    cursor_pos: np.ndarray,
    target_pos: np.ndarray,
    cells: list[list],
    column_vectors: bool = False,
    userblock: bool = True,
    omit: tuple[str, ...] = (),
) -> None:
    """Write t (N,), cursor_pos (2, N), target_pos (2, N) and cells[u][c] as a v7.3-like .mat."""
    n_units, n_channels = len(cells), len(cells[0])
    kwargs = {"userblock_size": 512} if userblock else {}
    with h5py.File(path, "w", **kwargs) as f:
        variables = {"t": np.asarray(t, float)[None, :], "cursor_pos": cursor_pos, "target_pos": target_pos}
        for name, value in variables.items():
            if name not in omit:
                f[name] = np.asarray(value, dtype=np.float64)
        grp = f.create_group("cells")
        refs = np.empty((n_units, n_channels), dtype=object)
        for u in range(n_units):
            for c in range(n_channels):
                value = cells[u][c]
                key = f"u{u}c{c}"
                if value is None:
                    ds = grp.create_dataset(key, data=np.array([0, 0], dtype=np.uint64))
                    ds.attrs["MATLAB_empty"] = np.uint8(1)
                elif isinstance(value, str) and value == "zero":
                    ds = grp.create_dataset(key, shape=(0,), dtype=np.float64)
                else:
                    arr = np.asarray(value, dtype=np.float64)
                    ds = grp.create_dataset(key, data=arr[:, None] if column_vectors else arr[None, :])
                refs[u, c] = ds.ref
        if "spikes" not in omit:
            f.create_dataset("spikes", data=refs, dtype=h5py.ref_dtype)
    if userblock:
        head = b"MATLAB 7.3 MAT-file, Platform: test, HDF5 schema 1.00 ."
        with open(path, "r+b") as fh:
            fh.write(head.ljust(116, b" ") + bytes(8) + b"\x00\x02IM")


def edge_case_session(n: int, n_channels: int, t0: float, seed: int) -> dict:
    """A short random session with every edge case the reader must survive."""
    rng = np.random.default_rng(seed)
    t = t0 + 0.004 * np.arange(n)
    g = np.arange(t[0] - 0.004, t[-1], 0.004)
    cursor = np.cumsum(rng.normal(0, 0.5, size=(2, n)), axis=1)
    change = np.sort(rng.choice(np.arange(1, n - 1), size=max(n // 150, 3), replace=False))
    target = np.zeros((2, n))
    for k, start in enumerate(np.concatenate([[0], change])):
        target[:, start:] = rng.integers(-4, 4, size=(2, 1)) * 25.0 + 0.5 * k
    n_units = 4
    cells: list[list] = [[None] * n_channels for _ in range(n_units)]
    for u in range(n_units):
        for c in range(n_channels):
            kind = rng.random()
            if kind < 0.15:
                cells[u][c] = None
            elif kind < 0.22:
                cells[u][c] = "zero"
            else:
                k = rng.poisson(0.03 * n)
                times = np.sort(rng.uniform(t[0] - 1.0, t[-1] + 1.0, size=k))  # some outside the grid
                edges = rng.choice(g, size=3)  # exactly on bin edges
                cells[u][c] = np.sort(np.concatenate([times, edges, [g[0], g[-1], g[0] - 1e-9, t[-1]]]))
    return {"t": t, "cursor_pos": cursor, "target_pos": target, "cells": cells}
