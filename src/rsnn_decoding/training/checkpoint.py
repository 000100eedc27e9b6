"""Self-describing model checkpoints: save, load (with validation) and float16 conversion."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from rsnn_decoding import __version__
from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import atomic_output
from rsnn_decoding.network.config import ModelConfig
from rsnn_decoding.network.rsnn import RSNN

FORMAT = "rsnn_decoding/checkpoint-1"
STAGES = ("pretrain", "finetune", "prune", "half")
_REQUIRED = ("model", "model_config", "n_inputs", "state_dict", "dtype")


def _dtype_name(model: torch.nn.Module) -> str:
    """'float32' or 'float16' from the model's parameters."""
    dtypes = {p.dtype for p in model.parameters()}
    if dtypes == {torch.float16}:
        return "float16"
    if dtypes == {torch.float32}:
        return "float32"
    raise ValueError(f"model parameters have mixed or unsupported dtypes {sorted(map(str, dtypes))}")


def n_inputs_of(model: RSNN) -> int:
    """Number of input channels C of a model (columns of fc_in)."""
    return int(model.fc_in.weight.shape[1])


def save(
    path: str | os.PathLike,
    model: RSNN,
    *,
    model_name: str,
    monkey: str,
    seed: int,
    stage: str,
    sessions: list[str],
    data_sha256: dict[str, str],
    metrics: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a self-describing checkpoint atomically."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    if model_name != model.cfg.name:
        raise ValueError(f"model_name {model_name!r} differs from the model's config name {model.cfg.name!r}")
    payload = {
        "format": FORMAT,
        "model": model_name,
        "model_config": model.cfg.to_dict(),
        "n_inputs": n_inputs_of(model),
        "monkey": monkey,
        "seed": int(seed),
        "stage": stage,
        "sessions": list(sessions),
        "data_sha256": dict(data_sha256),
        "metrics": dict(metrics),
        "dtype": _dtype_name(model),
        "package_version": __version__,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    save_torch(payload, path)


def save_torch(obj: Any, path: str | os.PathLike) -> None:
    """torch.save atomically, with bytes that depend only on `obj`.

    Given a file name, torch.save names the zip archive's root folder after it (here the random
    temporary name of atomic_output); given an open file object it uses the fixed name 'archive',
    so the same content always gives the same bytes.
    """
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        torch.save(obj, fh)


def read_payload(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and validate the raw checkpoint dict; UserError naming the file on any problem."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: checkpoint not found; run the stage that produces it first")
    try:
        payload = torch.load(p, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as exc:
        reason = " ".join(str(exc).split())[:160]
        raise UserError(
            f"{p}: not a readable checkpoint (truncated or corrupt: {reason}); delete it and rerun its stage"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{p}: not an rsnn_decoding checkpoint (expected format {FORMAT}); pass a file "
                        "written by this pipeline (use rsnn_decoding.published for the authors' files)")
    missing = [k for k in _REQUIRED if k not in payload]
    if missing:
        raise UserError(f"{p}: checkpoint lacks {', '.join(missing)}; delete it and rerun its stage")
    return payload


def load(
    path: str | os.PathLike,
    expect_model: str | None = None,
    expect_inputs: int | None = None,
    map_location: str | torch.device = "cpu",
    engine: str = "fast",
) -> tuple[RSNN, dict[str, Any]]:
    """Rebuild the RSNN stored in a checkpoint; returns (model, metadata without the state dict)."""
    payload = read_payload(path, map_location)
    p = Path(path)
    if expect_model is not None and payload["model"] != expect_model:
        raise UserError(f"{p}: holds a {payload['model']} model, expected {expect_model}; "
                        "check the model name in the rule or command")
    if expect_inputs is not None and int(payload["n_inputs"]) != int(expect_inputs):
        raise UserError(f"{p}: model has {payload['n_inputs']} input channels but the data has "
                        f"{expect_inputs}; use a checkpoint of the same monkey")
    try:
        cfg = ModelConfig.from_dict(payload["model_config"])
        model = RSNN(int(payload["n_inputs"]), cfg, engine=engine)
        if payload["dtype"] == "float16":
            model = model.half()
        model.load_state_dict(payload["state_dict"], strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        reason = " ".join(str(exc).split())[:160]
        raise UserError(f"{p}: model config or weights do not fit ({reason}); delete it and rerun its stage") \
            from None
    model.to(map_location)
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    return model, meta


def to_half(in_path: str | os.PathLike, out_path: str | os.PathLike) -> None:
    """Convert a float32 checkpoint to float16 (weights and time constants), stage 'half'."""
    model, meta = load(in_path)
    model = model.half()
    extra = dict(meta.get("extra", {}))
    extra["source_stage"] = meta.get("stage")
    save(
        out_path,
        model,
        model_name=meta["model"],
        monkey=meta.get("monkey", ""),
        seed=meta.get("seed", 0),
        stage="half",
        sessions=meta.get("sessions", []),
        data_sha256=meta.get("data_sha256", {}),
        metrics=meta.get("metrics", {}),
        extra=extra,
    )
