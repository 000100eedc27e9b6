"""Summaries over seeds and sessions of the per-seed eval JSONs: results_{model}_{session}.json and
results_summary_{model}.json.

Conventions: "mean ± std" is over seeds, std is the population standard deviation (ddof = 0, so a
single deterministic fit such as the ridge baseline has std 0). The "average" of a model (the Mean
rows) is, per seed, the mean over sessions; its mean and std are then taken over seeds.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import read_json

log = logging.getLogger("rsnn_decoding.report")

METRICS = ("r2", "r2_x", "r2_y", "footprint", "connection_sparsity", "activation_sparsity",
           "dense", "macs", "acs")


def _read(path: str | os.PathLike) -> Any:
    """Read a JSON file; UserError naming it when missing or malformed."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: not found; run the step that writes it")
    try:
        return read_json(p)
    except (ValueError, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split())[:80]
        raise UserError(f"{p}: not valid JSON ({reason}); delete it and rerun") from None


def summarize_session(eval_jsons: Sequence[str | os.PathLike]) -> dict[str, Any]:
    """Per-seed evaluations of one model on one session -> {model, session, seeds, metric: [values]}."""
    if not eval_jsons:
        raise UserError("summarize: no evaluation files given; check the seeds of the configuration")
    docs = []
    for path in eval_jsons:
        doc = _read(path)
        keys = (*METRICS, "model", "session", "seed")
        missing = [k for k in keys if not isinstance(doc, dict) or k not in doc]
        if missing:
            raise UserError(f"{path}: evaluation lacks {', '.join(missing)}; delete it and rerun evaluate")
        docs.append((path, doc))
    first_path, first = docs[0]
    for path, doc in docs[1:]:
        if (doc["model"], doc["session"]) != (first["model"], first["session"]):
            raise UserError(f"{path}: evaluates {doc['model']} on {doc['session']}, but {first_path} "
                            f"evaluates {first['model']} on {first['session']}; summarize one model+session")
    docs.sort(key=lambda item: item[1]["seed"])
    seeds = [doc["seed"] for _, doc in docs]
    if len(set(seeds)) != len(seeds):
        raise UserError(f"{first_path}: seeds {seeds} repeat across the evaluations; pass each seed once")
    out: dict[str, Any] = {"model": first["model"], "session": first["session"], "seeds": seeds}
    for key in METRICS:
        out[key] = [doc.get(key) for _, doc in docs]
    return out


def _mean_std(values: Sequence[float | None]) -> dict[str, float | None]:
    """Mean and population std of a list; both None when any value is None (a metric that does not apply)."""
    if not values or any(v is None for v in values):
        return {"mean": None, "std": None}
    arr = np.asarray(values, dtype=np.float64)
    return {"mean": float(arr.mean()), "std": float(arr.std())}


def summarize_model(per_session: dict[str, str | os.PathLike]) -> dict[str, Any]:
    """Session summaries of a model -> {session: {metric: {mean, std}}, "average": {metric: {mean, std}}}."""
    if not per_session:
        raise UserError("summarize_model: no sessions given; check the sessions table")
    docs = {sid: _read(path) for sid, path in per_session.items()}
    out: dict[str, Any] = {}
    seeds: list[Any] | None = None
    for sid, doc in docs.items():
        path = per_session[sid]
        if not isinstance(doc, dict) or "seeds" not in doc or any(k not in doc for k in METRICS):
            raise UserError(f"{path}: not a session summary; delete it and rerun the summarize step")
        if doc.get("session", sid) != sid:
            raise UserError(f"{path}: summarizes {doc['session']}, expected {sid}; check the file names")
        if seeds is None:
            seeds = list(doc["seeds"])
        elif list(doc["seeds"]) != seeds:
            raise UserError(f"{path}: seeds {doc['seeds']} differ from {seeds} of the other sessions; "
                            "evaluate every session with the same seeds")
        out[sid] = {k: _mean_std(doc[k]) for k in METRICS}
    average = {}
    for key in METRICS:
        columns = [docs[sid][key] for sid in docs]
        if any(v is None for col in columns for v in col):
            average[key] = {"mean": None, "std": None}
            continue
        per_seed = np.asarray(columns, dtype=np.float64).mean(axis=0)  # mean over sessions, per seed
        average[key] = _mean_std(list(per_seed))
    out["average"] = average
    return out
