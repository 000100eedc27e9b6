"""The test predictions and targets of one evaluation (float32 .npz beside the eval JSON), read by the figures."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import atomic_output

KEYS = ("prediction", "target")


def save_predictions(path: str | os.PathLike, prediction: Any, target: Any, dt: float) -> None:
    """Write predictions and targets (steps, 2) as float32 with the step length dt (s), atomically."""
    pred = np.ascontiguousarray(np.asarray(prediction, dtype=np.float32))
    tgt = np.ascontiguousarray(np.asarray(target, dtype=np.float32))
    if pred.shape != tgt.shape or pred.ndim != 2:
        raise ValueError(f"predictions {pred.shape} and targets {tgt.shape} must both be (steps, outputs)")
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, prediction=pred, target=tgt, dt=np.float64(dt))


def load_predictions(path: str | os.PathLike) -> dict[str, Any]:
    """{prediction, target (steps, 2) float32, dt} of an evaluation; UserError naming the file when unreadable."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: not found; run the evaluate step that writes it")
    try:
        with np.load(p, allow_pickle=False) as npz:
            out = {key: np.asarray(npz[key]) for key in KEYS}
            out["dt"] = float(npz["dt"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        reason = " ".join(str(exc).split())[:80]
        raise UserError(f"{p}: not a predictions file ({reason}); delete it and rerun the evaluation") from None
    return out
