"""The package's own R2 (float64): 1 - SSR/SST per output. The reported test R2 is NeuroBench's; this one
serves r2_x / r2_y, the training metric, the ridge regularisation choice and the checks."""

from __future__ import annotations

from typing import Any

import numpy as np


def _as_float64(values: Any) -> np.ndarray:
    """A numpy or torch array as float64 numpy, outputs along the last axis flattened to (n, outputs)."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values, dtype=np.float64)
    return arr.reshape(-1, arr.shape[-1])


def r2_per_output(y_true: Any, y_pred: Any) -> np.ndarray:
    """1 - SSR/SST per output in float64, SST around the mean of y_true over all leading axes."""
    yt, yp = _as_float64(y_true), _as_float64(y_pred)
    ssr = np.sum((yt - yp) ** 2, axis=0)
    sst = np.sum((yt - yt.mean(axis=0)) ** 2, axis=0)
    return 1.0 - ssr / sst


def r2_score(y_true: Any, y_pred: Any) -> tuple[float, float, float]:
    """(mean, x, y) of r2_per_output for two-output (velocity) arrays."""
    r2 = r2_per_output(y_true, y_pred)
    return float(r2.mean()), float(r2[0]), float(r2[1])
