"""One loader for every model file the workflow evaluates: a trained network checkpoint, a released network
of the authors (.pth), or a ridge model (JSON)."""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import torch

from rsnn_decoding.errors import UserError
from rsnn_decoding.evaluation import released
from rsnn_decoding.evaluation.ridge import load_ridge
from rsnn_decoding.network.rsnn import RSNN
from rsnn_decoding.training import checkpoint


def _torch_read(p: Path) -> Any:
    """torch.load (weights only) with a one-line UserError for unreadable files."""
    if not p.is_file():
        raise UserError(f"{p}: checkpoint not found; check the path")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile,
            AttributeError, TypeError) as exc:
        reason = " ".join(str(exc).split())[:120]
        raise UserError(f"{p}: not a readable checkpoint (truncated or corrupt: {reason}); "
                        "pass an intact .pt/.pth file") from None


class LoadedModel(NamedTuple):
    """A model file as loaded: its kind, the model (RSNN or RidgeDecoder) and its metadata."""

    kind: str  # "trained" | "released" | "ridge"
    model: Any
    meta: dict[str, Any]


def load_model_file(path: str | os.PathLike, expect_model: str | None = None,
                    expect_inputs: int | None = None) -> LoadedModel:
    """Tell what a model file is (trained network, released network, ridge model) and load it, checked."""
    p = Path(path)
    if p.suffix == ".json":
        decoder, payload = load_ridge(p)
        if expect_inputs is not None and decoder.n_inputs != expect_inputs:
            raise UserError(f"{p}: ridge model has {decoder.n_inputs} channels but the data has "
                            f"{expect_inputs}; fit it on this session")
        return LoadedModel("ridge", decoder, payload)
    payload = _torch_read(p)
    if isinstance(payload, dict) and payload.get("format") == checkpoint.FORMAT:
        model, meta = checkpoint.load(p, expect_model=expect_model, expect_inputs=expect_inputs)
        return LoadedModel("trained", model, meta)
    if not (isinstance(payload, dict) and all(k in payload for k in released.KEY_MAP)):
        raise UserError(f"{p}: neither an rsnn_decoding checkpoint nor a released tinyRSNN/bigRSNN state dict; "
                        "pass a checkpoint written by this pipeline or a released <model>-<seed>.pth file")
    model = released.load_released(p, expect_model, expect_inputs)
    match = re.search(r"-(\d+)\.pth?$", p.name)
    meta = {"model": model.cfg.name, "seed": int(match.group(1)) if match else None,
            "stage": "published", "sessions": []}
    return LoadedModel("released", model, meta)


def load_any(path: str | os.PathLike, expect_model: str | None = None,
             expect_inputs: int | None = None) -> tuple[RSNN, dict[str, Any]]:
    """A network (our checkpoint or the authors' released one) and its metadata; a ridge JSON is refused."""
    loaded = load_model_file(path, expect_model, expect_inputs)
    if loaded.kind == "ridge":
        raise UserError(f"{path}: a ridge model, not a network checkpoint; pass a .pt or .pth file")
    return loaded.model, loaded.meta
