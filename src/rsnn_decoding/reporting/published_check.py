"""This run's evaluation of the authors' released networks, checked number by number against their results.

The authors' per-seed result lists are in the order in which their evaluation listed each
session's folder, not in seed order. On the Zenodo data (the session's download verified
against the sessions table's MD5), this run's five records of a session are matched to the
authors' five: only assignments that agree exactly on connection sparsity are allowed, and of
those the one with the smallest summed absolute R2 difference is taken; ties and near-ties are
reported. On any other data the numbers cannot be paired by seed: each column is compared as
a multiset (both sides sorted, paired by rank).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import read_json
from rsnn_decoding.models import architecture, display_name
from rsnn_decoding.reporting.document import Block, Table, write_document
from rsnn_decoding.reporting.metrics_table import read_metrics

R2_TOL = 1e-4
# (key, title, how it is judged): "abs" within R2_TOL, "equal" exactly, "rel" relative difference shown
CHECK_COLUMNS = (
    ("r2", "R2", "abs"),
    ("footprint", "Footprint", "equal"),
    ("connection_sparsity", "Connection sparsity", "equal"),
    ("dense", "Dense", "equal"),
    ("activation_sparsity", "Activation sparsity", "rel"),
    ("acs", "Effective ACs", "rel"),
)
AUTHORS_FILE = {"tinyRSNN": "results_tinyRSNN_{session}.json", "bigRSNN": "results_maxR2_{session}.json"}


@dataclass
class Matching:
    """How this run's seeds were paired with the authors' list entries for one session."""

    mode: str  # "matched" (by connection sparsity, then R2) or "multiset" (no pairing by seed)
    pairs: dict[int, int] = field(default_factory=dict)  # our seed -> authors' index (0-based)
    notes: list[str] = field(default_factory=list)


def authors_results(folder: str | os.PathLike, model_id: str, session: str) -> dict[str, list[float]]:
    """The authors' per-seed lists (their order) of a released model on a session; UserError if unusable."""
    p = Path(folder) / AUTHORS_FILE[architecture(model_id)].format(session=session)
    if not p.is_file():
        raise UserError(f"{p}: the authors' result file is missing; restore resources/published/authors_results "
                        "or set published.authors_results")
    try:
        doc = read_json(p)
    except (ValueError, UnicodeDecodeError):
        raise UserError(f"{p}: not valid JSON; restore the authors' result file") from None
    lengths = {len(doc.get(k, [])) if isinstance(doc, dict) else 0 for k, _, _ in CHECK_COLUMNS}
    if len(lengths) != 1 or 0 in lengths:
        raise UserError(f"{p}: needs equally long lists {[k for k, _, _ in CHECK_COLUMNS]}; restore the file")
    return {k: [float(v) for v in doc[k]] for k, _, _ in CHECK_COLUMNS}


def read_evals(df: Any, model_id: str, session: str, metrics_path: str) -> dict[int, dict[str, Any]]:
    """This run's per-seed rows of one model and session from metrics.tsv, by seed."""
    rows = df[(df["model"] == model_id) & (df["session"] == session)]
    if rows.empty:
        raise UserError(f"{metrics_path}: no rows of {model_id} on {session}; rerun metrics_table with its "
                        "evaluations")
    return {int(r["seed"]): {**{k: r[k] for k, _, _ in CHECK_COLUMNS}, "device": r["device"]}
            for _, r in rows.iterrows()}


def zenodo_verified(record_path: str | os.PathLike | None, expected_md5: str | None) -> bool:
    """True when a session's download record shows the MD5-verified Zenodo file of the sessions table."""
    if record_path is None or not expected_md5 or not Path(record_path).is_file():
        return False
    record = read_json(record_path)
    return bool(record.get("verified_md5")) and record.get("md5") == str(expected_md5).lower()


def match_seeds(ours: Mapping[int, Mapping[str, Any]], authors: Mapping[str, list[float]]) -> Matching:
    """Pair our seeds with the authors' entries: connection sparsity exactly equal, then least |R2 diff|."""
    seeds = sorted(ours)
    n = len(authors["r2"])
    if len(seeds) != n:
        return Matching("multiset", notes=[f"{len(seeds)} records here, {n} in the authors' file: not matched"])
    feasible = []
    for perm in itertools.permutations(range(n)):
        if all(float(ours[s]["connection_sparsity"]) == authors["connection_sparsity"][j]
               for s, j in zip(seeds, perm, strict=True)):
            cost = sum(abs(float(ours[s]["r2"]) - authors["r2"][j]) for s, j in zip(seeds, perm, strict=True))
            feasible.append((cost, perm))
    if not feasible:
        return Matching("multiset", notes=["no assignment agrees on connection sparsity: compared as multisets"])
    feasible.sort()
    best_cost, best = feasible[0]
    notes = [f"{len(feasible)} assignment(s) agree on connection sparsity; the one with the least summed "
             f"|R2 difference| ({best_cost:.2e}) is used"]
    ties = [perm for cost, perm in feasible[1:] if math.isclose(cost, best_cost, rel_tol=0, abs_tol=1e-12)]
    near = [perm for cost, perm in feasible[1:] if cost - best_cost <= R2_TOL and perm not in ties]
    if ties:
        notes.append(f"TIE: {len(ties)} other assignment(s) have the same R2 difference; the pairing is not unique")
    if near:
        notes.append(f"AMBIGUOUS: {len(near)} other assignment(s) are within {R2_TOL:g} in summed |R2 difference|")
    return Matching("matched", dict(zip(seeds, best, strict=True)), notes)


def _verdict(kind: str, ours: float, theirs: float, device: str) -> tuple[str, str, str]:
    """(difference, tolerance, verdict) of one value."""
    diff = ours - theirs
    if kind == "abs":
        ok = abs(diff) <= R2_TOL
        if device != "cpu":
            return f"{diff:+.2e}", f"abs(diff) ≤ {R2_TOL:g} (CPU)", "pass" if ok else f"differs (device {device})"
        return f"{diff:+.2e}", f"abs(diff) ≤ {R2_TOL:g} (CPU)", "pass" if ok else "FAIL"
    if kind == "equal":
        return f"{diff:+.6g}", "equal", "pass" if ours == theirs else "FAIL"
    rel = diff / theirs if theirs else float("nan")
    return f"{rel:+.2%} (rel.)", "not judged", "shown"


def _fmt(key: str, value: float) -> str:
    """A value as printed in the table."""
    if key in ("footprint", "dense"):
        return f"{value:.0f}"
    if key == "acs":
        return f"{value:.2f}"
    return f"{value:.6f}"


def check_rows(ours: Mapping[int, Mapping[str, Any]], authors: Mapping[str, list[float]], matching: Matching,
               device: str) -> list[dict[str, str]]:
    """One row per (seed, column): this run, the authors, difference, tolerance and verdict."""
    rows = []
    for key, title, kind in CHECK_COLUMNS:
        if matching.mode == "matched":
            pairs = [(s, j) for s, j in sorted(matching.pairs.items())]
            entry = {s: f"{j + 1}" for s, j in pairs}
        else:  # multiset: both sides sorted, paired by rank
            our_order = sorted(ours, key=lambda s: (float(ours[s][key]), s))
            their_order = sorted(range(len(authors[key])), key=lambda j: (authors[key][j], j))
            pairs = list(zip(our_order, their_order, strict=False))
            entry = {s: f"{j + 1} (rank {r + 1})" for r, (s, j) in enumerate(pairs)}
        for s, j in pairs:
            mine, theirs = float(ours[s][key]), authors[key][j]
            diff, tol, verdict = _verdict(kind, mine, theirs, device)
            rows.append({"seed": str(s), "entry": entry[s], "column": title, "ours": _fmt(key, mine),
                         "authors": _fmt(key, theirs), "diff": diff, "tolerance": tol, "verdict": verdict})
    return rows


def check_session(ours: Mapping[int, Mapping[str, Any]], authors_folder: str | os.PathLike, model_id: str,
                  session: str, zenodo: bool) -> tuple[Matching, list[dict[str, str]], str]:
    """Matching, check rows and evaluation device of one released model on one session."""
    authors = authors_results(authors_folder, model_id, session)
    devices = sorted({str(doc.get("device", "unknown")) for doc in ours.values()})
    device = devices[0] if len(devices) == 1 else "+".join(devices)
    if zenodo:
        matching = match_seeds(ours, authors)
    else:
        matching = Matching("multiset", notes=["not the MD5-verified Zenodo data: columns compared as "
                                               "multisets (sorted, paired by rank), not by seed"])
    return matching, check_rows(ours, authors, matching, device), device


def _matching_line(session: str, matching: Matching) -> str:
    """One bullet describing the pairing of a session."""
    if matching.mode == "matched":
        pairs = ", ".join(f"seed {s} ↔ entry {j + 1}" for s, j in sorted(matching.pairs.items()))
        return f"- {session}: {pairs}. " + " ".join(matching.notes)
    return f"- {session}: " + " ".join(matching.notes)


HEADER = ["Session", "Seed", "Authors' entry", "Column", "This run", "Authors", "Difference", "Tolerance",
          "Verdict"]
EXPLANATION = [
    "Tolerances: R2 within 1e-4 absolute when evaluated on the CPU (the device is recorded above); "
    "footprint, connection sparsity and dense must be equal.",
    "Activation sparsity and effective ACs were computed by the authors with their own NeuroBench 1.x "
    "wrapper; this run uses NeuroBench 2.3.0, whose hooks count the same quantities per step but are not "
    "the same code, so the relative difference is shown and explained, not passed or failed.",
    "Authors' entry: position (1-5) in the authors' per-seed lists, which are in directory order, not "
    "seed order. Difference: this run minus the authors' (relative for activation sparsity and ACs).",
]


def write_check(metrics_path: str | os.PathLike, models: Sequence[str], sessions: Sequence[str],
                authors_folder: str | os.PathLike, zenodo: Mapping[str, bool], short_names: Mapping[str, str],
                out_md: str | os.PathLike, out_html: str | os.PathLike | None = None) -> dict:
    """The check table (Markdown, HTML) of every released model and session from metrics.tsv; failure counts."""
    df = read_metrics(metrics_path)
    title = "Released networks: this run against the authors' own results"
    blocks: list[Block] = [f"# {title}", "\n".join(EXPLANATION)]
    counts: dict[str, int] = {}
    for model_id in models:
        rows, lines, devices = [], [], set()
        for session in sessions:
            ours = read_evals(df, model_id, session, str(metrics_path))
            matching, srows, device = check_session(ours, authors_folder, model_id, session, zenodo[session])
            devices.add(device)
            lines.append(_matching_line(session, matching))
            short = short_names.get(session, session)
            rows += [[short, r["seed"], r["entry"], r["column"], r["ours"], r["authors"], r["diff"],
                      r["tolerance"], r["verdict"]] for r in srows]
        fails = sum(r[-1] not in ("pass", "shown") for r in rows)
        counts[model_id] = fails
        data = ", ".join(f"{s}: {'Zenodo (MD5 verified)' if zenodo[s] else 'not the verified Zenodo file'}"
                         for s in sessions)
        blocks += [f"## {display_name(model_id)}",
                   f"Evaluation device: {', '.join(sorted(devices))}. Data: {data}. "
                   f"Values outside tolerance: {fails}.",
                   "Pairing of this run's seeds with the authors' entries:\n" + "\n".join(lines),
                   Table(HEADER, rows)]
    blocks.append(f"Computed from `{Path(metrics_path).as_posix()}` (each row names its eval JSON) and the "
                  f"authors' files in `{Path(authors_folder).as_posix()}`.")
    write_document(blocks, title, out_md, out_html)
    return counts
