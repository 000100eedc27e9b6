"""The paper's Table 1 (R2) and Table 2 (compute), as Markdown and as HTML, from results/metrics.tsv.

Spread conventions (population std, ddof = 0, as the authors' README):
- per-session cells: mean over seeds ± std over seeds (the seed spread, labelled as such);
- Table 1 Mean row: mean of the session means ± std over the session means;
- Table 2 Mean row: mean ± std over all session x seed values pooled.
Published numbers (paper networks, their ±, and the NeuroBench baselines SNN2 / SNN3) come from
resources/paper_results.yaml.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from rsnn_decoding.errors import UserError
from rsnn_decoding.models import display_name
from rsnn_decoding.reporting.document import Block, Table, write_document
from rsnn_decoding.reporting.metrics_table import METRICS, read_metrics

log = logging.getLogger("rsnn_decoding.report")

DASH = "–"
BASELINES = ("SNN2", "SNN3")
COMPUTE_COLUMNS = (  # (metric key, column title, number format)
    ("footprint", "Footprint (bytes)", "{:.0f}"),
    ("connection_sparsity", "Connection sparsity", "{:.4f}"),
    ("activation_sparsity", "Activation sparsity", "{:.4f}"),
    ("dense", "Dense", "{:.0f}"),
    ("macs", "Effective MACs", "{:.1f}"),
    ("acs", "Effective ACs", "{:.1f}"),
)
MONKEY_NAMES = {"indy": "Indy", "loco": "Loco"}


@dataclass(frozen=True)
class Stat:
    """A mean and its spread (None when the metric does not apply)."""

    mean: float | None
    std: float | None


@dataclass(frozen=True)
class ModelStats:
    """One model's statistics: per session over seeds, over session means, pooled."""

    seeds: tuple[int, ...]
    per_session: dict[str, dict[str, Stat]]
    over_sessions: dict[str, Stat]
    pooled: dict[str, Stat]


def _read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read the paper-results YAML; UserError when missing or malformed."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: not found; restore resources/paper_results.yaml")
    try:
        doc = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{p}: not valid YAML ({' '.join(str(exc).split())[:80]}); fix the file") from None
    for key in ("sessions", "r2", "r2_std", "compute", "compute_published"):
        if not isinstance(doc, dict) or not isinstance(doc.get(key), dict):
            raise UserError(f"{p}: key '{key}' missing or not a mapping; restore the file")
    return doc


def _stat(values: np.ndarray) -> Stat:
    """Mean and population std; None when any value is missing (metric does not apply)."""
    if values.size == 0 or np.isnan(values).any():
        return Stat(None, None)
    return Stat(float(values.mean()), float(values.std()))


def model_stats(df: Any, model: str, session_ids: Sequence[str], path: str) -> ModelStats:
    """Statistics of one model from the metrics rows; UserError when a session or seed is missing."""
    rows = df[df["model"] == model]
    if rows.empty:
        raise UserError(f"{path}: no rows of model {model}; rerun metrics_table with this model's evaluations")
    per_session, seeds = {}, None
    for sid in session_ids:
        srows = rows[rows["session"] == sid].sort_values("seed")
        these = tuple(int(s) for s in srows["seed"])
        if not these:
            raise UserError(f"{path}: no rows of model {model} on session {sid}; rerun metrics_table")
        if seeds is None:
            seeds = these
        elif these != seeds:
            raise UserError(f"{path}: model {model} has seeds {list(these)} on {sid} but {list(seeds)} elsewhere; "
                            "evaluate every session with the same seeds")
        per_session[sid] = {k: _stat(srows[k].to_numpy(dtype=np.float64)) for k in METRICS}
    over, pooled = {}, {}
    for key in METRICS:
        means = [per_session[sid][key].mean for sid in session_ids]
        over[key] = Stat(None, None) if None in means else _stat(np.asarray(means, dtype=np.float64))
        values = rows[rows["session"].isin(list(session_ids))][key].to_numpy(dtype=np.float64)
        spread = _stat(values)
        pooled[key] = Stat(over[key].mean, spread.std)  # the mean of session means (= pooled mean)
    return ModelStats(tuple(seeds or ()), per_session, over, pooled)


# ----------------------------------------------------------------------------- formatting


def _fmt(value: float | None, fmt: str) -> str:
    """Number formatted, or a dash for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return fmt.format(value)


def _fmt_ms(stat: Stat | None, fmt: str) -> str:
    """'mean ± std' with one format, or a dash."""
    if stat is None or stat.mean is None:
        return DASH
    return f"{_fmt(stat.mean, fmt)} ± {_fmt(stat.std, fmt)}"


def _paper_session_ids(paper: dict[str, Any], source: str) -> dict[str, str]:
    """Session id -> paper short name, for the sessions the paper's numbers apply to (Zenodo only)."""
    if "zenodo" not in source.lower().split("+"):
        return {}
    return {str(sid): str(short) for short, sid in paper["sessions"].items()}


def _seed_text(stats: Mapping[str, ModelStats]) -> str:
    """Which seeds each model was evaluated with."""
    groups: dict[tuple[int, ...], list[str]] = {}
    for model, st in stats.items():
        groups.setdefault(st.seeds, []).append(display_name(model))
    if len(groups) == 1:
        return ", ".join(str(s) for s in next(iter(groups)))
    return "; ".join(f"{', '.join(str(s) for s in seeds)} ({', '.join(models)})" for seeds, models in groups.items())


def _source_lines(source: str, stats: Mapping[str, ModelStats], table: int) -> list[str]:
    """The data source, seeds and spread statements printed above each table."""
    kinds = [s for s in source.lower().split("+") if s]
    names = {"zenodo": "Zenodo record 583331 (O'Doherty et al. 2017, real recordings)",
             "synthetic": "synthetic sessions generated by `rsnn-decoding simulate` (not real recordings)"}
    mean_rule = ("mean of the session means ± population std over the session means" if table == 1 else
                 "mean ± population std over all session x seed values pooled")
    lines = [f"Data source: {' and '.join(names.get(k, k) for k in kinds)}.",
             f"Seeds: {_seed_text(stats)}. Session rows: mean over seeds ± population std over seeds (the seed "
             f"spread). Mean rows: {mean_rule}, as in the authors' README."]
    models = list(stats)
    if "ridge" in models:
        lines.append("ridge: deterministic (one fit per session, seed spread 0); activation sparsity does not "
                     "apply (–).")
    released = [display_name(m) for m in models if display_name(m) != m]
    if released:
        lines.append(f"{', '.join(released)}: the authors' released networks (their seeds 1-5, not retrained "
                     "here), evaluated by this run; results/tables/published_check.md checks them against "
                     "the authors' own numbers.")
    if "synthetic" in kinds and table == 1:
        lines.append("The paper's R2 figures (SNN2, SNN3, published networks) were measured on the Zenodo "
                     "sessions; for synthetic sessions they do not apply and are shown as –.")
    if "synthetic" in kinds and table == 2:
        lines.append("The (paper) rows are published figures measured on the Zenodo sessions, shown for "
                     "reference only; they do not describe the synthetic sessions.")
    return lines


# ----------------------------------------------------------------------------- tables


def table1_rows(stats: Mapping[str, ModelStats], sessions: Sequence[tuple[str, str]],
                paper: dict[str, Any], source: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of Table 1 (test R2 per session and the Mean row)."""
    paper_ids = _paper_session_ids(paper, source)
    paper_models = [m for m in stats if m in paper["r2"]]
    header = ["Session", "SNN2 (paper)", "SNN3 (paper)"]
    for model in stats:
        header.append(display_name(model))
        if model in paper_models:
            header.append(f"{model} (paper)")

    def published(name: str, key: str | None) -> str:
        """A published R2 with its ± when the paper gives one."""
        if key is None or key not in paper["r2"][name]:
            return DASH
        std = paper["r2_std"].get(name, {}).get(key)
        mean = _fmt(paper["r2"][name][key], "{:.3f}")
        return mean if std is None else f"{mean} ± {_fmt(std, '{:.3f}')}"

    rows = []
    for sid, short in sessions:
        pshort = paper_ids.get(sid)
        row = [short] + [published(b, pshort) for b in BASELINES]
        for model, st in stats.items():
            row.append(_fmt_ms(st.per_session[sid]["r2"], "{:.3f}"))
            if model in paper_models:
                row.append(published(model, pshort))
        rows.append(row)
    all_paper = bool(paper_ids) and sorted(sid for sid, _ in sessions) == sorted(paper_ids)

    def published_mean(name: str) -> str:
        """The published Mean (all six sessions), else mean ± std over the shown sessions' published means."""
        if all_paper:
            return published(name, "mean")
        vals = [paper["r2"][name].get(paper_ids.get(sid, ""), None) for sid, _ in sessions]
        if not paper_ids or any(v is None for v in vals):
            return DASH
        spread = f" ± {np.std(vals):.3f}" if name in paper["r2_std"] else ""
        return f"{np.mean(vals):.3f}{spread}"

    mean_row = ["Mean"] + [published_mean(b) for b in BASELINES]
    for model, st in stats.items():
        mean_row.append(_fmt_ms(st.over_sessions["r2"], "{:.3f}"))
        if model in paper_models:
            mean_row.append(published_mean(model))
    rows.append(mean_row)
    return header, rows


def _published_compute_row(name: str, paper: dict[str, Any]) -> list[str] | None:
    """A '(paper)' Mean row of a published network from the README figures, or None when absent."""
    figures = paper["compute_published"].get(name)
    if not isinstance(figures, dict):
        return None
    footprint = paper.get("networks", {}).get(name, {}).get("footprint", {})
    dense = paper.get("networks", {}).get(name, {}).get("dense", {})
    row = [f"{name} (paper)", "Mean"]
    for key, _, fmt in COMPUTE_COLUMNS:
        entry = figures.get(key)
        if isinstance(entry, dict):
            cell = f"{_fmt(entry['mean'], fmt)} ± {_fmt(entry['std'], fmt)}"
            if "monkey" in entry:
                cell += f" ({MONKEY_NAMES.get(entry['monkey'], entry['monkey'])} only)"
        elif key in ("footprint", "dense") and isinstance({"footprint": footprint, "dense": dense}[key], dict):
            per = {"footprint": footprint, "dense": dense}[key]
            cell = " / ".join(f"{_fmt(per[m], fmt)} ({MONKEY_NAMES[m]})" for m in MONKEY_NAMES if m in per) or DASH
        else:
            cell = DASH
        row.append(cell)
    return row


def table2_rows(stats: Mapping[str, ModelStats], sessions: Sequence[tuple[str, str]],
                paper: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of Table 2 (compute per model and session, Mean rows, published rows)."""
    header = ["Model", "Session"] + [title for _, title, _ in COMPUTE_COLUMNS]
    rows = []
    for model, st in stats.items():
        for sid, short in sessions:
            rows.append([display_name(model), short] + [_fmt_ms(st.per_session[sid][k], f)
                                                        for k, _, f in COMPUTE_COLUMNS])
        rows.append([display_name(model), "Mean"] + [_fmt_ms(st.pooled[k], f) for k, _, f in COMPUTE_COLUMNS])
    for name in dict.fromkeys(m.removesuffix("_published") for m in stats):
        row = _published_compute_row(name, paper)
        if row is not None:
            rows.append(row)
    for name in BASELINES:
        figures = paper["compute"].get(name)
        if not isinstance(figures, dict):
            raise UserError(f"paper results: compute.{name} missing; restore resources/paper_results.yaml")
        rows.append([f"{name} (paper)", "Mean"] + [_fmt(figures.get(k), f) for k, _, f in COMPUTE_COLUMNS])
    return header, rows


def _footer(metrics_path: str | os.PathLike) -> str:
    """The one-hop pointer from every cell to its data."""
    return (f"Computed from `{Path(metrics_path).as_posix()}` (one row per model, session and seed; each row "
            "names the eval JSON it came from).")


def write_tables(metrics_path: str | os.PathLike, models: Sequence[str], sessions: Sequence[tuple[str, str]],
                 paper_yaml: str | os.PathLike, out_table1: str | os.PathLike,
                 out_table2: str | os.PathLike, html_table1: str | os.PathLike | None = None,
                 html_table2: str | os.PathLike | None = None) -> None:
    """Table 1 (R2) and Table 2 (computational demand) as Markdown (and HTML) from metrics.tsv.

    The data source (zenodo, synthetic or both) is that of the rows of the table's sessions.
    """
    sessions = [(str(sid), str(short)) for sid, short in sessions]
    paper = _read_yaml(paper_yaml)
    df = read_metrics(metrics_path)
    source = "+".join(sorted(set(df[df["session"].isin([sid for sid, _ in sessions])]["source"])))
    stats = {m: model_stats(df, m, [sid for sid, _ in sessions], str(metrics_path)) for m in models}
    header, rows = table1_rows(stats, sessions, paper, source)
    notes1 = ["Test R2 = mean over x and y of 1 - SSR/SST over the whole test sequence (NeuroBench R2). "
              f"Paper columns from {Path(paper_yaml).name}: the authors' per-session mean ± std over 5 seeds "
              "and their README's Mean ± std over the six session means.", _footer(metrics_path)]
    title1 = "Table 1: test R2 per session"
    blocks: list[Block] = [f"# {title1}", "\n".join(_source_lines(source, stats, 1)), Table(header, rows),
                           "\n".join(notes1)]
    write_document(blocks, title1, out_table1, html_table1)
    header, rows = table2_rows(stats, sessions, paper)
    notes2 = ["NeuroBench 2.3.0 metrics on the test sequence; synaptic operations per time step. "
              "Effective MACs/ACs skip zero inputs and zero weights; operations with binary inputs are ACs. "
              "ridge: footprint = bytes of its float64 coefficients, Dense = Effective MACs = its "
              "multiply-adds per step.",
              "(paper) rows: the authors' README Mean rows (± pooled over session x seed values; their effective "
              "ACs cover one monkey only, while this run's Mean rows cover all its sessions) and the NeuroBench "
              f"baselines SNN2/SNN3 (means, Zenodo sessions), from {Path(paper_yaml).name}.",
              _footer(metrics_path)]
    title2 = "Table 2: computational demand"
    blocks = [f"# {title2}", "\n".join(_source_lines(source, stats, 2)), Table(header, rows), "\n".join(notes2)]
    write_document(blocks, title2, out_table2, html_table2)
    log.info("wrote %s and %s", out_table1, out_table2)
