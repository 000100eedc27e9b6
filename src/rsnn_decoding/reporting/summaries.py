"""Summaries of the per-seed eval JSONs in the authors' file layout, and their spreads.

- results_{model}_{session}.json: the authors' seven keys (footprint, connection_sparsity,
  activation_sparsity, dense, macs, acs, r2) as lists in seed order, a `seeds` list, and everything
  else (model, session, r2_x, r2_y, the eval files and provenance) under the one extra key
  `details`; code written for the authors' files reads ours unchanged. The ridge baseline writes
  null for activation_sparsity (it has no spikes).
- results_summary_{model}.json: exactly the authors' layout: per session the plain mean over seeds
  of each of the seven metrics, and `average`, the mean of the session means.
- results_summary_{model}.spread.json: the spreads (population std, ddof = 0): over seeds per
  session, over the session means (Table 1's ± convention) and over all session x seed values
  pooled (Table 2's ±), plus the means of r2_x / r2_y and provenance.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import read_json_or_fail

log = logging.getLogger("rsnn_decoding.report")

AUTHORS_KEYS = ("footprint", "connection_sparsity", "activation_sparsity", "dense", "macs", "acs", "r2")
DETAIL_KEYS = ("r2_x", "r2_y")
METRICS = ("r2", "r2_x", "r2_y", "footprint", "connection_sparsity", "activation_sparsity", "dense", "macs",
           "acs")
EXTRA = "details"  # the one key of ours beside the authors' keys


def _read(path: str | os.PathLike) -> Any:
    """Read a JSON file; UserError naming it when missing or malformed."""
    return read_json_or_fail(path, "run the step that writes it", "delete it and rerun")


def _column(values: list[Any]) -> list[Any] | None:
    """A per-seed list, or None when the metric does not apply (every value None)."""
    return None if all(v is None for v in values) else values


def summarize_session(eval_jsons: Sequence[str | os.PathLike],
                      provenance: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Per-seed evaluations of one model on one session -> the authors' per-session layout (seed order)."""
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
    out: dict[str, Any] = {key: _column([doc[key] for _, doc in docs]) for key in AUTHORS_KEYS}
    out["seeds"] = seeds
    details: dict[str, Any] = {"model": first["model"], "session": first["session"]}
    details.update({key: [doc[key] for _, doc in docs] for key in DETAIL_KEYS})
    details["eval_json"] = [str(path) for path, _ in docs]
    if provenance is not None:
        details["provenance"] = dict(provenance)
    out[EXTRA] = details
    return out


def _values(doc: Mapping[str, Any], key: str) -> list[Any] | None:
    """Per-seed values of a metric from a per-session file (authors' keys or details)."""
    return doc[key] if key in AUTHORS_KEYS else doc[EXTRA][key]


def _mean(values: Sequence[float] | None) -> float | None:
    """Plain mean as a float, None for a metric that does not apply."""
    return None if values is None else float(np.mean(np.asarray(values, dtype=np.float64)))


def _std(values: Sequence[float] | None) -> float | None:
    """Population std (ddof = 0) as a float, None for a metric that does not apply."""
    return None if values is None else float(np.std(np.asarray(values, dtype=np.float64)))


def _load_sessions(per_session: Mapping[str, str | os.PathLike]) -> dict[str, dict[str, Any]]:
    """Per-session files of one model, checked: layout, session names and equal seeds."""
    if not per_session:
        raise UserError("summarize_model: no sessions given; check the sessions table")
    docs: dict[str, dict[str, Any]] = {}
    seeds: list[Any] | None = None
    for sid, path in per_session.items():
        doc = _read(path)
        if (not isinstance(doc, dict) or "seeds" not in doc or any(k not in doc for k in AUTHORS_KEYS)
                or not isinstance(doc.get(EXTRA), dict) or any(k not in doc[EXTRA] for k in DETAIL_KEYS)):
            raise UserError(f"{path}: not a session summary; delete it and rerun the summarize step")
        if doc[EXTRA].get("session", sid) != sid:
            raise UserError(f"{path}: summarizes {doc[EXTRA]['session']}, expected {sid}; check the file names")
        if seeds is None:
            seeds = list(doc["seeds"])
        elif list(doc["seeds"]) != seeds:
            raise UserError(f"{path}: seeds {doc['seeds']} differ from {seeds} of the other sessions; "
                            "evaluate every session with the same seeds")
        docs[sid] = doc
    return docs


def summarize_model(per_session: Mapping[str, str | os.PathLike]) -> dict[str, Any]:
    """Session files of a model -> the authors' summary: {session: {metric: mean}, "average": {...}}."""
    docs = _load_sessions(per_session)
    out: dict[str, Any] = {sid: {k: _mean(doc[k]) for k in AUTHORS_KEYS} for sid, doc in docs.items()}
    out["average"] = {}
    for key in AUTHORS_KEYS:
        means = [out[sid][key] for sid in docs]
        out["average"][key] = None if any(m is None for m in means) else float(np.mean(means))
    return out


def summarize_spread(per_session: Mapping[str, str | os.PathLike],
                     provenance: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The spreads beside the summary: std over seeds, over session means, and pooled; r2_x / r2_y means."""
    docs = _load_sessions(per_session)
    first = next(iter(docs.values()))
    out: dict[str, Any] = {
        "model": first[EXTRA].get("model"), "sessions": list(docs), "seeds": list(first["seeds"]),
        "convention": "population standard deviation (ddof = 0) everywhere",
        "std_over_seeds": {sid: {k: _std(_values(doc, k)) for k in METRICS} for sid, doc in docs.items()},
        "std_over_session_means": {}, "std_pooled": {},
        "mean_r2_xy": {sid: {k: _mean(doc[EXTRA][k]) for k in DETAIL_KEYS} for sid, doc in docs.items()},
    }
    for key in METRICS:
        columns = [_values(doc, key) for doc in docs.values()]
        if any(c is None for c in columns):
            out["std_over_session_means"][key] = out["std_pooled"][key] = None
            continue
        out["std_over_session_means"][key] = _std([_mean(c) for c in columns])
        out["std_pooled"][key] = _std([v for c in columns for v in c])
    out["mean_r2_xy"]["average"] = {k: float(np.mean([out["mean_r2_xy"][s][k] for s in docs]))
                                    for k in DETAIL_KEYS}
    if provenance is not None:
        out["provenance"] = dict(provenance)
    return out
