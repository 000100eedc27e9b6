"""Summaries over seeds and sessions, the paper's Table 1 (R2) and Table 2 (compute) as Markdown, plots.

Conventions: "mean ± std" is over seeds, std is the population standard deviation (ddof = 0, so a
single deterministic fit such as the ridge baseline has std 0). The "average" of a model (the Mean
rows) is, per seed, the mean over sessions; its mean and std are then taken over seeds. Published
numbers (paper networks and NeuroBench baselines SNN2 / SNN3) come from resources/paper_results.yaml.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from tabulate import tabulate

from .errors import UserError
from .fsutil import atomic_output, read_json

log = logging.getLogger("rsnn_decoding.report")

METRICS = ("r2", "r2_x", "r2_y", "footprint", "connection_sparsity", "activation_sparsity",
           "dense", "macs", "acs")
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


# ----------------------------------------------------------------------------- reading


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


def _read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read the paper-results YAML; UserError when missing or malformed."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: not found; restore resources/paper_results.yaml")
    try:
        doc = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{p}: not valid YAML ({' '.join(str(exc).split())[:80]}); fix the file") from None
    for key in ("sessions", "r2", "compute"):
        if not isinstance(doc, dict) or not isinstance(doc.get(key), dict):
            raise UserError(f"{p}: key '{key}' missing or not a mapping; restore the file")
    return doc


# ----------------------------------------------------------------------------- summaries


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
    for key in (*METRICS, "evaluation_seconds"):
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


# ----------------------------------------------------------------------------- tables


def _fmt(value: float | None, fmt: str) -> str:
    """Number formatted, or a dash for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return fmt.format(value)


def _fmt_ms(entry: dict[str, float | None] | None, fmt: str) -> str:
    """'mean ± std' with one format, or a dash."""
    if not entry or entry.get("mean") is None:
        return DASH
    return f"{_fmt(entry['mean'], fmt)} ± {_fmt(entry['std'], fmt)}"


def _load_summaries(summary_paths: dict[str, str | os.PathLike], session_ids: list[str]
                    ) -> dict[str, dict[str, Any]]:
    """Model summaries, checked to hold exactly the table's sessions."""
    out = {}
    for model, path in summary_paths.items():
        doc = _read(path)
        if not isinstance(doc, dict) or "average" not in doc:
            raise UserError(f"{path}: not a model summary; delete it and rerun summarize_model")
        have = sorted(k for k in doc if k != "average")
        if have != sorted(session_ids):
            raise UserError(f"{path}: holds sessions {have}, the tables list {sorted(session_ids)}; "
                            "rerun summarize_model for these sessions")
        out[model] = doc
    return out


def _paper_session_ids(paper: dict[str, Any], source: str) -> dict[str, str]:
    """Session id -> paper short name, for the sessions the paper's numbers apply to (Zenodo only)."""
    if "zenodo" not in source.lower().split("+"):
        return {}
    return {str(sid): str(short) for short, sid in paper["sessions"].items()}


def _source_lines(source: str, seeds: Sequence[int], models: Sequence[str], table: int) -> list[str]:
    """The data source and seed statement printed above each table."""
    kinds = [s for s in source.lower().split("+") if s]
    names = {"zenodo": "Zenodo record 583331 (O'Doherty et al. 2017, real recordings)",
             "synthetic": "synthetic sessions generated by `rsnn-decoding simulate` (not real recordings)"}
    lines = [f"Data source: {' and '.join(names.get(k, k) for k in kinds)}.",
             f"Seeds: {', '.join(str(s) for s in seeds)}; values are mean ± std over seeds "
             "(population std)."]
    if "ridge" in models:
        lines.append("ridge: deterministic (one fit per session, std 0); activation sparsity does not "
                     "apply (–).")
    if "synthetic" in kinds and table == 1:
        lines.append("The paper's R2 figures (SNN2, SNN3, published networks) were measured on the Zenodo "
                     "sessions; for synthetic sessions they do not apply and are shown as –.")
    if "synthetic" in kinds and table == 2:
        lines.append("The SNN2/SNN3 rows are published figures measured on the Zenodo sessions, shown for "
                     "reference only; they do not describe the synthetic sessions.")
    return lines


def table1_rows(summaries: dict[str, dict[str, Any]], sessions: Sequence[tuple[str, str]],
                paper: dict[str, Any], source: str) -> tuple[list[str], list[list[str]]]:
    """Header and rows of Table 1 (test R2 per session and the Mean row)."""
    paper_ids = _paper_session_ids(paper, source)
    paper_models = [m for m in summaries if m in paper["r2"]]
    header = ["Session", "SNN2 (paper)", "SNN3 (paper)"]
    for model in summaries:
        header.append(model)
        if model in paper_models:
            header.append(f"{model} (paper)")
    rows = []
    for sid, short in sessions:
        pshort = paper_ids.get(sid)
        row = [short]
        row += [_fmt(paper["r2"][b].get(pshort) if pshort else None, "{:.3f}") for b in BASELINES]
        for model, doc in summaries.items():
            row.append(_fmt_ms(doc[sid]["r2"], "{:.3f}"))
            if model in paper_models:
                row.append(_fmt(paper["r2"][model].get(pshort) if pshort else None, "{:.3f}"))
        rows.append(row)
    mean_row = ["Mean"]
    all_paper = bool(paper_ids) and sorted(sid for sid, _ in sessions) == sorted(paper_ids)

    def paper_mean(name: str) -> float | None:
        """Published mean when all paper sessions are shown, else the mean of the shown paper values."""
        if all_paper and "mean" in paper["r2"][name]:
            return paper["r2"][name]["mean"]
        vals = [paper["r2"][name].get(paper_ids.get(sid)) for sid, _ in sessions]
        return None if not vals or any(v is None for v in vals) else float(np.mean(vals))

    mean_row += [_fmt(paper_mean(b), "{:.3f}") for b in BASELINES]
    for model, doc in summaries.items():
        mean_row.append(_fmt_ms(doc["average"]["r2"], "{:.3f}"))
        if model in paper_models:
            mean_row.append(_fmt(paper_mean(model), "{:.3f}"))
    rows.append(mean_row)
    return header, rows


def table2_rows(summaries: dict[str, dict[str, Any]], sessions: Sequence[tuple[str, str]],
                paper: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of Table 2 (compute per model and session, Mean rows, baseline rows)."""
    header = ["Model", "Session"] + [title for _, title, _ in COMPUTE_COLUMNS]
    rows = []
    for model, doc in summaries.items():
        for sid, short in sessions:
            rows.append([model, short] + [_fmt_ms(doc[sid][k], f) for k, _, f in COMPUTE_COLUMNS])
        rows.append([model, "Mean"] + [_fmt_ms(doc["average"][k], f) for k, _, f in COMPUTE_COLUMNS])
    for name in BASELINES:
        figures = paper["compute"].get(name)
        if not isinstance(figures, dict):
            raise UserError(f"paper results: compute.{name} missing; restore resources/paper_results.yaml")
        rows.append([f"{name} (paper)", "Mean"] + [_fmt(figures.get(k), f) for k, _, f in COMPUTE_COLUMNS])
    return header, rows


def _write_markdown(path: str | os.PathLike, title: str, lines: list[str], header: list[str],
                    rows: list[list[str]], notes: list[str]) -> None:
    """Write one Markdown table with its title, statements and notes, atomically."""
    table = tabulate(rows, headers=header, tablefmt="github", disable_numparse=True)
    text = "\n\n".join([f"# {title}", "\n".join(lines), table, "\n".join(notes)]).rstrip() + "\n"
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def write_tables(summary_paths: dict[str, str | os.PathLike], sessions: Sequence[tuple[str, str]],
                 paper_yaml: str | os.PathLike, source: str, seeds: Sequence[int],
                 out_table1: str | os.PathLike, out_table2: str | os.PathLike) -> None:
    """Table 1 (R2) and Table 2 (computational demand) as Markdown from the model summaries."""
    sessions = [(str(sid), str(short)) for sid, short in sessions]
    paper = _read_yaml(paper_yaml)
    summaries = _load_summaries(summary_paths, [sid for sid, _ in sessions])
    header, rows = table1_rows(summaries, sessions, paper, source)
    notes1 = ["Test R2 = mean over x and y of 1 - SSR/SST over the whole test sequence (NeuroBench R2). "
              "Mean row: mean over sessions (± std over seeds of the per-seed session mean); paper columns "
              f"from {Path(paper_yaml).name} (published means over 5 seeds)."]
    lines = _source_lines(source, seeds, list(summaries), table=1)
    _write_markdown(out_table1, "Table 1: test R2 per session", lines, header, rows, notes1)
    header, rows = table2_rows(summaries, sessions, paper)
    notes2 = ["NeuroBench 2.3.0 metrics on the test sequence; synaptic operations per time step. "
              "Effective MACs/ACs skip zero inputs and zero weights; operations with binary inputs are ACs. "
              "ridge: footprint = bytes of its float64 coefficients, Dense = Effective MACs = its "
              "multiply-adds per step. SNN2/SNN3 rows: published NeuroBench baseline means "
              f"(Zenodo sessions) from {Path(paper_yaml).name}."]
    lines = _source_lines(source, seeds, list(summaries), table=2)
    _write_markdown(out_table2, "Table 2: computational demand", lines, header, rows, notes2)
    log.info("wrote %s and %s", out_table1, out_table2)


# ----------------------------------------------------------------------------- plots


def _pyplot() -> Any:
    """matplotlib.pyplot with the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_png(fig: Any, out_png: str | os.PathLike) -> None:
    """Save a figure as PNG atomically and close it."""
    plt = _pyplot()
    with atomic_output(out_png) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def _epochs(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Per-epoch records of a training history (train.py document with "epochs", or a bare list)."""
    doc = _read(path)
    epochs = doc.get("epochs") if isinstance(doc, dict) else doc
    if not isinstance(epochs, list) or not epochs or not all(
        isinstance(e, dict) and {"epoch", "train_r2", "val_r2"} <= set(e) for e in epochs
    ):
        raise UserError(f"{path}: not a training history (per-epoch epoch/train_r2/val_r2); rerun training")
    return epochs


def plot_training_curves(histories: dict[str, str | os.PathLike], out_png: str | os.PathLike,
                         title: str) -> None:
    """Train (solid) and validation (dashed) R2 per epoch; one panel per stage (first word of the label)."""
    plt = _pyplot()
    data = {label: _epochs(path) for label, path in histories.items()}
    groups: dict[str, list[str]] = {}
    for label in data:
        groups.setdefault(label.split()[0] if label.split() else label, []).append(label)
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, (group, labels) in zip(axes[0], groups.items(), strict=True):
        for i, label in enumerate(labels):
            ep = [e["epoch"] for e in data[label]]
            color = cmap(i % 10)
            ax.plot(ep, [e["train_r2"] for e in data[label]], color=color, lw=1.2, label=f"{label} train")
            ax.plot(ep, [e["val_r2"] for e in data[label]], color=color, lw=1.2, ls="--",
                    label=f"{label} val")
        ax.set_xlabel("epoch")
        ax.set_ylabel("R2")
        ax.set_title(group)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    _save_png(fig, out_png)


def plot_pruning(prune_histories: Sequence[str | os.PathLike], out_png: str | os.PathLike,
                 title: str) -> None:
    """Training R2 against connection sparsity per pruning round; accepted rounds filled, rejected crosses."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    cmap = plt.get_cmap("tab10")
    for i, path in enumerate(prune_histories):
        doc = _read(path)
        rounds = doc.get("rounds") if isinstance(doc, dict) else None
        if not isinstance(rounds, list) or "reference_r2" not in doc or not all(
            isinstance(r, dict) and {"sparsity", "train_r2", "accepted"} <= set(r) for r in rounds
        ):
            raise UserError(f"{path}: not a pruning history (reference_r2, rounds); rerun the pruning step")
        color = cmap(i % 10)
        label = f"seed {doc['seed']}" if "seed" in doc else Path(path).stem
        ax.axhline(doc["reference_r2"], color=color, lw=0.8, ls=":")
        if isinstance(doc.get("tolerance"), int | float):  # acceptance threshold of the search (SPEC 5)
            ref = float(doc["reference_r2"])
            ax.axhline(ref - abs(doc["tolerance"] * ref), color=color, lw=0.8, ls="--")
        xs = [r["sparsity"] for r in rounds]
        ax.plot(xs, [r["train_r2"] for r in rounds], color=color, lw=0.6, alpha=0.5)
        acc = [r for r in rounds if r["accepted"]]
        rej = [r for r in rounds if not r["accepted"]]
        ax.scatter([r["sparsity"] for r in acc], [r["train_r2"] for r in acc], color=color, marker="o",
                   label=f"{label} accepted")
        ax.scatter([r["sparsity"] for r in rej], [r["train_r2"] for r in rej], color=color, marker="x",
                   label=f"{label} rejected")
    ax.set_xlabel("connection sparsity")
    ax.set_ylabel("training R2 (last epoch)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2, title="dotted: reference R2; dashed: acceptance threshold",
              title_fontsize=7)
    _save_png(fig, out_png)


def model_predictions(path: str | os.PathLike, pre: Any, steps: int) -> np.ndarray:
    """First `steps` test predictions (steps, 2) of a checkpoint (.pt/.pth) or a ridge model (.json)."""
    import torch

    from . import evaluate

    if str(path).endswith(".json"):
        decoder, _ = evaluate.load_ridge(path)
        if decoder.n_inputs != pre.n_channels:
            raise UserError(f"{path}: ridge model has {decoder.n_inputs} channels, the session "
                            f"{pre.n_channels}; use the session's own ridge model")
        return decoder.predict(pre.spikes[pre.test_index])[:steps]
    model, _ = evaluate.load_any(path, expect_inputs=pre.n_channels)
    x, _ = evaluate.eval_sequence(pre, model.dtype)
    net = evaluate.StreamingNet(model).eval()
    with torch.no_grad():
        return net(x[:steps]).numpy()


def plot_predictions(session_h5: str | os.PathLike, models: dict[str, str | os.PathLike],
                     out_png: str | os.PathLike, seconds: float = 20.0) -> None:
    """Predicted and true velocity (x and y) over the first `seconds` of the test sequence."""
    from . import data

    plt = _pyplot()
    pre = data.load_preprocessed(session_h5)
    steps = min(len(pre.test_index), max(1, round(seconds / pre.dt)))
    y = pre.velocity[pre.test_index[:steps]]
    t = np.arange(steps) * pre.dt
    fig, axes = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True)
    for dim, ax in enumerate(axes):
        ax.plot(t, y[:, dim], color="black", lw=1.4, label="true")
    cmap = plt.get_cmap("tab10")
    for i, (label, path) in enumerate(models.items()):
        pred = model_predictions(path, pre, steps)
        for dim, ax in enumerate(axes):
            ax.plot(t, pred[:, dim], color=cmap(i % 10), lw=1.0, label=label)
    for dim, ax in enumerate(axes):
        ax.set_ylabel(f"velocity {'xy'[dim]} (mm / 4 ms)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, ncol=len(models) + 1)
    axes[1].set_xlabel("time from the start of the test sequence (s)")
    fig.suptitle(f"{pre.session}: first {steps * pre.dt:.1f} s of the test sequence")
    _save_png(fig, out_png)
