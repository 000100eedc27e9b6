"""The trade-off figure: test R2 against effective synaptic operations per step and against footprint.

One point per model, session and seed of this run (from results/metrics.tsv), the session means
as larger edged markers, the authors' per-seed points from their own result files
(resources/published/authors_results) and the NeuroBench baselines SNN2/SNN3 of
resources/paper_results.yaml. Effective operations are effective MACs + effective ACs per
time step; both x axes are logarithmic, and values below OPS_FLOOR are drawn at OPS_FLOOR (the
axis label says so when it happens). When any row of metrics.tsv is not from the Zenodo data, the
published points (Zenodo numbers) are drawn in grey in a separate row of panels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import atomic_output, read_json
from rsnn_decoding.reporting import metrics_table
from rsnn_decoding.reporting.published_check import AUTHORS_FILE

# columns of results/metrics.tsv that the figure needs
NUMERIC_COLUMNS = ("r2", "footprint", "macs", "acs")
REQUIRED_COLUMNS = ("model", "session", "seed", *NUMERIC_COLUMNS, "source")
OPS_FLOOR = 1.0  # log axes: values below one operation (or byte) per step are drawn here
SVG_SALT = "rsnn-decoding-tradeoff"  # fixed ids in the SVG, so that two runs give the same bytes
# (colour, marker) per model id of this run; unknown ids are drawn grey with crosses
RUN_STYLE = {
    "tinyRSNN": ("tab:blue", "o"),
    "bigRSNN": ("tab:orange", "s"),
    "ridge": ("tab:green", "D"),
    "tinyRSNN_published": ("tab:cyan", "o"),
    "bigRSNN_published": ("tab:olive", "s"),
}
AUTHORS_STYLE = {"tinyRSNN": ("tab:purple", "^"), "bigRSNN": ("tab:red", "v")}
BASELINE_STYLE = ("black", "*")
GREY = "0.6"
PANELS = (("ops", "effective synaptic operations per step (MACs + ACs)"), ("footprint", "footprint (bytes)"))


def read_metrics(path: str | os.PathLike) -> pd.DataFrame:
    """The rows of results/metrics.tsv (the one reader, metrics_table.read_metrics) with `ops` = MACs + ACs."""
    df = metrics_table.read_metrics(path).copy()
    for col in NUMERIC_COLUMNS:
        df[col] = df[col].astype(float)
    df["seed"] = df["seed"].astype(int)
    df["ops"] = df["macs"] + df["acs"]
    return df


def read_paper(path: str | os.PathLike) -> dict[str, Any]:
    """Sessions and the NeuroBench baselines (footprint, ops, mean R2) of paper_results.yaml; UserError if unusable."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise UserError(f"{p}: the paper's results file is missing; restore resources/paper_results.yaml") from None
    except yaml.YAMLError:
        raise UserError(f"{p}: not valid YAML; restore resources/paper_results.yaml") from None
    if not isinstance(doc, dict):
        raise UserError(f"{p}: not a mapping; restore resources/paper_results.yaml")
    sessions = doc.get("sessions")
    if not isinstance(sessions, dict) or not sessions:
        raise UserError(f"{p}: key 'sessions' (short name -> session id) is missing; restore the file")
    baselines = {}
    for name, comp in (doc.get("compute") or {}).items():
        try:
            baselines[name] = {"footprint": float(comp["footprint"]), "ops": float(comp["macs"]) + float(comp["acs"]),
                               "r2": float(doc["r2"][name]["mean"])}
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{p}: baseline {name!r} needs compute.{name}.footprint/macs/acs and r2.{name}.mean; "
                            "restore the file") from None
    return {"sessions": [str(s) for s in sessions.values()], "baselines": baselines}


def authors_files(folder: str | os.PathLike, sessions: Sequence[str]) -> dict[tuple[str, str], Path]:
    """The authors' result files per (architecture, session), in AUTHORS_FILE and session order."""
    return {(arch, s): Path(folder) / pattern.format(session=s) for arch, pattern in AUTHORS_FILE.items()
            for s in sessions}


def read_authors(folder: str | os.PathLike, sessions: Sequence[str]) -> pd.DataFrame:
    """The authors' per-seed points (model, session, index, r2, footprint, ops); UserError if a file is unusable."""
    rows = []
    for (arch, session), path in authors_files(folder, sessions).items():
        if not path.is_file():
            raise UserError(f"{path}: the authors' result file is missing; restore resources/published/"
                            "authors_results or set published.authors_results")
        try:
            doc = read_json(path)
            lists = {k: [float(v) for v in doc[k]] for k in NUMERIC_COLUMNS}
        except (ValueError, UnicodeDecodeError, KeyError, TypeError):
            raise UserError(f"{path}: needs lists {', '.join(NUMERIC_COLUMNS)} of numbers; restore the authors' "
                            "result file") from None
        if len({len(v) for v in lists.values()}) != 1:
            raise UserError(f"{path}: lists {', '.join(NUMERIC_COLUMNS)} differ in length; restore the file")
        for i, values in enumerate(zip(*lists.values(), strict=True)):
            rows.append({"model": arch, "session": session, "index": i, **dict(zip(lists, values, strict=True))})
    df = pd.DataFrame(rows, columns=["model", "session", "index", *NUMERIC_COLUMNS])
    df["ops"] = df["macs"] + df["acs"]
    return df


def session_means(df: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds of r2, ops and footprint per model and session (models and sessions in first-seen order)."""
    return df.groupby(["model", "session"], sort=False)[["r2", "ops", "footprint"]].mean().reset_index()


def is_synthetic(metrics: pd.DataFrame) -> bool:
    """True when any row of the metrics table is not from the Zenodo data."""
    return bool((metrics["source"] != "zenodo").any())


def _pyplot() -> Any:
    """matplotlib.pyplot with the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _clip(values: Any) -> np.ndarray:
    """Values raised to OPS_FLOOR, for a log axis."""
    return np.maximum(np.asarray(values, dtype=float), OPS_FLOOR)


def _scatter(ax: Any, df: pd.DataFrame, xkey: str, gid: str, label: str | None, **kw: Any) -> None:
    """One scatter series (x clipped to OPS_FLOOR), tagged with a gid for tests and SVG readers."""
    if df.empty:
        return
    coll = ax.scatter(_clip(df[xkey]), df["r2"].to_numpy(dtype=float), label=label, **kw)
    coll.set_gid(gid)


def _draw_run(ax: Any, metrics: pd.DataFrame, means: pd.DataFrame, xkey: str) -> None:
    """This run's per-seed points and session means, one colour and marker per model."""
    for model in dict.fromkeys(metrics["model"]):
        color, marker = RUN_STYLE.get(model, ("tab:gray", "x"))
        _scatter(ax, metrics[metrics["model"] == model], xkey, f"run:{model}:seeds", f"{model} (this run, per seed)",
                 color=color, marker=marker, s=18, alpha=0.6, linewidths=0)
        edge = {} if marker == "x" else {"edgecolors": "black", "linewidths": 1.0}
        _scatter(ax, means[means["model"] == model], xkey, f"run:{model}:means", f"{model} (this run, session mean)",
                 color=color, marker=marker, s=80, zorder=3, **edge)


def _draw_published(ax: Any, authors: pd.DataFrame, baselines: dict[str, dict[str, float]], xkey: str,
                    grey: bool) -> None:
    """The authors' per-seed points and session means, and the labelled NeuroBench baselines."""
    means = session_means(authors)
    for model, (color, marker) in AUTHORS_STYLE.items():
        color = GREY if grey else color
        _scatter(ax, authors[authors["model"] == model], xkey, f"authors:{model}:seeds",
                 f"{model} (authors' files, per seed)", color=color, marker=marker, s=18, alpha=0.6, linewidths=0)
        _scatter(ax, means[means["model"] == model], xkey, f"authors:{model}:means",
                 f"{model} (authors' files, session mean)", facecolors="none", edgecolors=color, marker=marker,
                 s=80, linewidths=1.2, zorder=3)
    color, marker = BASELINE_STYLE
    color = GREY if grey else color
    for i, (name, point) in enumerate(baselines.items()):
        df = pd.DataFrame([point])
        _scatter(ax, df, xkey, f"baseline:{name}", "NeuroBench baselines (paper)" if i == 0 else None,
                 color=color, marker=marker, s=120, zorder=4)
        ax.annotate(name, (float(_clip([point[xkey]])[0]), point["r2"]), textcoords="offset points",
                    xytext=(5, 5), fontsize=8, color=color)


def _finish(ax: Any, xkey: str, xlabel: str, clipped: bool, title: str) -> None:
    """Log x axis (labels at 1, 2 and 5 per decade when it spans two decades or less), labels, grid, title."""
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter

    ax.set_xscale("log")
    lo, hi = ax.get_xlim()
    subs = (1.0,) if np.log10(hi / lo) > 2 else (1.0, 2.0, 5.0)
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(np.inf, np.inf)))
    ax.xaxis.set_minor_formatter(NullFormatter())
    note = f" (values < {OPS_FLOOR:g} drawn at {OPS_FLOOR:g})" if clipped else ""
    ax.set_xlabel(xlabel + note, fontsize=9)
    ax.set_ylabel("test R2")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both", lw=0.5)


def build_tradeoff_figure(metrics: pd.DataFrame, authors: pd.DataFrame,
                          baselines: dict[str, dict[str, float]]) -> Any:
    """The figure (not saved): one row of two panels on Zenodo data; on synthetic data a second, grey row
    holds the published points."""
    plt = _pyplot()
    synthetic = is_synthetic(metrics)
    means = session_means(metrics)
    rows = 2 if synthetic else 1
    fig, axes = plt.subplots(rows, 2, figsize=(12, 4.6 * rows), squeeze=False)
    for col, (xkey, xlabel) in enumerate(PANELS):
        published_x = [*authors[xkey], *(b[xkey] for b in baselines.values())]
        run_ax = axes[0][col]
        pub_ax = axes[1][col] if synthetic else run_ax
        _draw_run(run_ax, metrics, means, xkey)
        _draw_published(pub_ax, authors, baselines, xkey, grey=synthetic)
        run_title = "this run (synthetic data)" if synthetic else "this run and the published results (Zenodo data)"
        run_clipped = bool((metrics[xkey] < OPS_FLOOR).any()) or (
            not synthetic and any(x < OPS_FLOOR for x in published_x))
        _finish(run_ax, xkey, xlabel, run_clipped, run_title)
        if synthetic:
            _finish(pub_ax, xkey, xlabel, any(x < OPS_FLOOR for x in published_x),
                    "published results (Zenodo data; not comparable with this run)")
    for row in range(rows):
        axes[row][1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    title = "Test R2 against effective synaptic operations per step and against footprint"
    if synthetic:
        title += ("\nthis run used synthetic data; the grey points are the authors' and NeuroBench's numbers on "
                  "the Zenodo data, shown apart because they are not comparable")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def save_figure(fig: Any, out_path: str | os.PathLike) -> None:
    """Save a figure atomically as SVG or PNG (by suffix) with no date metadata, so the bytes are reproducible."""
    plt = _pyplot()
    suffix = Path(out_path).suffix.lower()
    if suffix not in (".svg", ".png"):
        raise UserError(f"{out_path}: the trade-off figure is written as .svg or .png; rename the output")
    fmt = suffix[1:]
    metadata = {"Date": None} if fmt == "svg" else {"Software": None}
    try:
        with plt.rc_context({"svg.hashsalt": SVG_SALT}), atomic_output(out_path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=120, bbox_inches="tight", metadata=metadata)
    finally:
        plt.close(fig)


def plot_tradeoff(metrics_path: str | os.PathLike, authors_folder: str | os.PathLike,
                  paper_path: str | os.PathLike, out_path: str | os.PathLike,
                  sessions: Sequence[str] | None = None) -> None:
    """Read metrics.tsv, the authors' result files of `sessions` (default: every session of paper_results.yaml)
    and paper_results.yaml; write the trade-off figure."""
    metrics = read_metrics(metrics_path)
    paper = read_paper(paper_path)
    authors = read_authors(authors_folder, paper["sessions"] if sessions is None else sessions)
    save_figure(build_tradeoff_figure(metrics, authors, paper["baselines"]), out_path)
