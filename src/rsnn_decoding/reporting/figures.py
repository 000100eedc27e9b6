"""Figures of the report: training curves, the pruning search, predicted against true velocity."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rsnn_decoding.errors import UserError
from rsnn_decoding.evaluation.predictions import load_predictions
from rsnn_decoding.fsutil import atomic_output
from rsnn_decoding.reporting.summaries import _read


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
        isinstance(e, dict) and {"epoch", "train_r2", "val_r2", "rmse", "val_rmse"} <= set(e) for e in epochs
    ):
        raise UserError(f"{path}: not a training history (per-epoch epoch/train_r2/val_r2/rmse/val_rmse); "
                        "rerun training")
    return epochs


def plot_training_curves(histories: dict[str, str | os.PathLike], out_png: str | os.PathLike,
                         title: str) -> None:
    """Per stage (first word of the label) one column: R2 (top) and the loss's RMSE term (bottom) per
    epoch, training solid and validation dashed."""
    plt = _pyplot()
    data = {label: _epochs(path) for label, path in histories.items()}
    groups: dict[str, list[str]] = {}
    for label in data:
        groups.setdefault(label.split()[0] if label.split() else label, []).append(label)
    fig, axes = plt.subplots(2, len(groups), figsize=(6 * len(groups), 7.5), squeeze=False, sharex="col")
    cmap = plt.get_cmap("tab10")
    panels = (("train_r2", "val_r2", "R2"), ("rmse", "val_rmse", "RMSE (loss without regularisers)"))
    for row, (train_key, val_key, ylabel) in enumerate(panels):
        for ax, (group, labels) in zip(axes[row], groups.items(), strict=True):
            for i, label in enumerate(labels):
                ep = [e["epoch"] for e in data[label]]
                color = cmap(i % 10)
                ax.plot(ep, [e[train_key] for e in data[label]], color=color, lw=1.2, label=f"{label} train")
                ax.plot(ep, [e[val_key] for e in data[label]], color=color, lw=1.2, ls="--",
                        label=f"{label} val")
            ax.set_xlabel("epoch" if row == len(panels) - 1 else "")  # x axes shared by column
            ax.set_ylabel(ylabel)
            ax.set_title(f"{group}: {'R2' if row == 0 else 'RMSE'}")
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
        if isinstance(doc.get("tolerance"), int | float):  # acceptance threshold of the search (METHOD.md §5)
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


def plot_predictions(predictions: dict[str, str | os.PathLike], out_png: str | os.PathLike,
                     seconds: float = 20.0, title: str = "") -> None:
    """Predicted and true velocity (x and y) over the first `seconds` of the test sequence, from the
    predictions files the evaluations wrote (label -> .npz); no network is loaded or run."""
    if not predictions:
        raise UserError(f"{out_png}: no predictions to plot; list at least one model")
    plt = _pyplot()
    runs = {label: load_predictions(path) for label, path in predictions.items()}
    first_path, first = next(iter(predictions.values())), next(iter(runs.values()))
    for label, run in runs.items():
        if run["target"].shape != first["target"].shape or not np.array_equal(run["target"], first["target"]):
            raise UserError(f"{predictions[label]}: its test targets differ from those of {first_path}; "
                            "evaluate every model on the same session")
    dt = first["dt"]
    steps = min(len(first["target"]), max(1, round(seconds / dt)))
    t = np.arange(steps) * dt
    fig, axes = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True)
    for dim, ax in enumerate(axes):
        ax.plot(t, first["target"][:steps, dim], color="black", lw=1.4, label="true")
    cmap = plt.get_cmap("tab10")
    for i, (label, run) in enumerate(runs.items()):
        for dim, ax in enumerate(axes):
            ax.plot(t, run["prediction"][:steps, dim], color=cmap(i % 10), lw=1.0, label=label)
    for dim, ax in enumerate(axes):
        ax.set_ylabel(f"velocity {'xy'[dim]} (mm / 4 ms)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, ncol=len(runs) + 1)
    axes[1].set_xlabel("time from the start of the test sequence (s)")
    fig.suptitle(f"{title + ': ' if title else ''}first {steps * dt:.1f} s of the test sequence")
    _save_png(fig, out_png)
