"""results/metrics.tsv: one row per model, session and seed, every metric a column.

The tidy table is the one source of the Markdown/HTML tables, the trade-off figure and the check of
the released networks: each row names the eval JSON it came from, so every table cell is one hop
from its file. `pandas.read_csv(path, sep="\\t")` reads it; empty cells are missing values (the
ridge baseline's activation sparsity).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import atomic_output, read_json_or_fail

METRICS = ("r2", "r2_x", "r2_y", "footprint", "connection_sparsity", "activation_sparsity", "dense", "macs",
           "acs")
COLUMNS = ("model", "session", "seed", *METRICS, "source", "device", "dtype", "eval_json")
NULLABLE = ("activation_sparsity",)  # may be empty (does not apply to the ridge baseline)


def _cell(value: Any) -> str:
    """A TSV cell: empty for None, repr for floats (round-trips exactly), str otherwise."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if "\t" in text or "\n" in text:
        raise UserError(f"metrics.tsv: value {text!r} holds a tab or newline; rename it")
    return text


def eval_row(path: str | os.PathLike, source: str) -> dict[str, Any]:
    """The metrics.tsv row of one eval JSON; UserError naming the file when it lacks a column."""
    p = Path(path)
    doc = read_json_or_fail(p, "run the evaluate step that writes it", "delete it and rerun evaluate")
    needed = ("model", "session", "seed", *METRICS, "device", "dtype")
    missing = [k for k in needed if not isinstance(doc, dict) or k not in doc]
    if missing:
        raise UserError(f"{p}: evaluation lacks {', '.join(missing)}; delete it and rerun evaluate")
    for key in METRICS:
        value = doc[key]
        ok = value is None and key in NULLABLE or isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or (isinstance(value, float) and not math.isfinite(value)):
            raise UserError(f"{p}: {key} is {value!r}, not a finite number; delete it and rerun evaluate")
    row = {k: doc[k] for k in ("model", "session", "seed", *METRICS, "device", "dtype")}
    row.update(source=source, eval_json=str(path))
    return row


def collect_rows(eval_jsons: Sequence[str | os.PathLike], sources: Mapping[str, str]) -> list[dict[str, Any]]:
    """Rows of all eval JSONs, in the given order; each session's data source from `sources`."""
    rows, seen = [], {}
    for path in eval_jsons:
        session = Path(path).parent.name
        if session not in sources:
            raise UserError(f"{path}: session {session!r} is not in the sessions table; check the file's place")
        row = eval_row(path, sources[session])
        key = (row["model"], row["session"], row["seed"])
        if row["session"] != session:
            raise UserError(f"{path}: evaluates session {row['session']!r} but lies under {session!r}; rerun evaluate")
        if key in seen:
            raise UserError(f"{path}: model {key[0]}, session {key[1]}, seed {key[2]} also in {seen[key]}; "
                            "give each evaluation once")
        seen[key] = path
        rows.append(row)
    return rows


def write_metrics_tsv(eval_jsons: Sequence[str | os.PathLike], sources: Mapping[str, str],
                      out: str | os.PathLike) -> int:
    """Write metrics.tsv from the eval JSONs (atomically); returns the number of rows."""
    rows = collect_rows(eval_jsons, sources)
    lines = ["\t".join(COLUMNS)] + ["\t".join(_cell(r[c]) for c in COLUMNS) for r in rows]
    with atomic_output(out) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(rows)


def read_metrics(path: str | os.PathLike) -> Any:
    """metrics.tsv as a pandas DataFrame, checked: every column present, metrics numeric."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: not found; run the metrics_table step that writes it")
    try:
        text_columns = dict.fromkeys(("model", "session", "source", "device", "dtype", "eval_json"), str)
        df = pd.read_csv(p, sep="\t", keep_default_na=False, na_values=[""], dtype=text_columns)
    except (ValueError, pd.errors.ParserError) as exc:
        raise UserError(f"{p}: not a readable TSV ({' '.join(str(exc).split())[:80]}); delete it and rerun") \
            from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise UserError(f"{p}: column {', '.join(missing)} missing; delete the file and rerun metrics_table")
    if df.empty:
        raise UserError(f"{p}: has no rows; delete the file and rerun metrics_table")
    for column in ("model", "session", "source"):
        if df[column].isna().any():
            line = int(df.index[df[column].isna()][0]) + 2
            raise UserError(f"{p}: column {column} is empty on line {line}; delete the file and rerun metrics_table")
    for column in ("seed", *METRICS):
        if not pd.api.types.is_numeric_dtype(df[column]):
            bad = pd.to_numeric(df[column], errors="coerce").isna() & df[column].notna()
            line = int(df.index[bad][0]) + 2
            raise UserError(f"{p}: column {column} holds a non-number on line {line}; delete the file and rerun "
                            "metrics_table")
        if column not in NULLABLE and df[column].isna().any():
            line = int(df.index[df[column].isna()][0]) + 2
            raise UserError(f"{p}: column {column} is empty on line {line}; delete the file and rerun metrics_table")
    return df
