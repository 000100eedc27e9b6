"""Our result files read like the authors': the same reader takes both (tests/fixtures/authors_results, MIT)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from test_report import build_summaries, write_evals

from rsnn_decoding.reporting import summaries

AUTHORS = Path(__file__).resolve().parent / "fixtures" / "authors_results"
SEVEN = ("footprint", "connection_sparsity", "activation_sparsity", "dense", "macs", "acs", "r2")


def read_per_session(path: Path) -> dict[str, Any]:
    """What code written for the authors' results_<model>_<session>.json does: per-seed lists, their means."""
    doc = json.loads(path.read_text())
    out = {}
    for key in SEVEN:
        values = doc[key]
        out[key] = None if values is None else float(np.mean([float(v) for v in values]))
    return out


def read_summary(path: Path) -> dict[str, dict[str, float | None]]:
    """What code written for the authors' results_summary_<model>.json does: every key a session or 'average'."""
    doc = json.loads(path.read_text())
    return {session: {k: (None if v is None else float(v)) for k, v in metrics.items()}
            for session, metrics in doc.items()}


def _types(doc: dict[str, Any]) -> dict[str, str]:
    """Key -> JSON type name (list element types joined), nulls marked."""
    def name(v: Any) -> str:
        if v is None:
            return "null"
        if isinstance(v, list):
            return "list[number]" if all(isinstance(x, (int, float)) for x in v) else "list[?]"
        return "number" if isinstance(v, (int, float)) else type(v).__name__
    return {k: name(v) for k, v in doc.items()}


def test_summary_file_has_exactly_the_authors_layout(tmp_path: Path) -> None:
    theirs_path = AUTHORS / "results_summary_tinyRSNN.json"
    theirs = json.loads(theirs_path.read_text())
    paths = build_summaries(tmp_path)
    for model in ("tinyRSNN", "ridge"):
        ours = json.loads(paths[model]["summary"].read_text())
        assert "average" in ours and "average" in theirs
        for session, metrics in ours.items():
            assert list(metrics) == list(theirs["average"]) == list(SEVEN)  # same keys, same order
            for key, kind in _types(metrics).items():
                allowed = {"number", "null"} if (model, key) == ("ridge", "activation_sparsity") else {"number"}
                assert kind in allowed and _types(theirs["average"])[key] == "number", (model, session, key)
                assert not isinstance(metrics[key], int)  # floats, as the authors' file
        read_summary(paths[model]["summary"])  # the same reader takes ours ...
    mine, authors = read_summary(paths["tinyRSNN"]["summary"]), read_summary(theirs_path)  # ... and theirs
    assert set(mine["average"]) == set(authors["average"])
    assert authors["average"]["r2"] == np.mean([authors[s]["r2"] for s in authors if s != "average"])


def test_per_session_file_has_the_authors_keys_plus_seeds_and_one_extra(tmp_path: Path) -> None:
    files = write_evals(tmp_path)
    for theirs_name in ("results_tinyRSNN_indy_20160622_01.json", "results_maxR2_loco_20170210_03.json"):
        theirs = json.loads((AUTHORS / theirs_name).read_text())
        assert set(theirs) == set(SEVEN)
        ours = summaries.summarize_session(files[("tinyRSNN", "indy_20160622_01")])
        assert set(ours) - set(theirs) == {"seeds", "details"} and set(theirs) <= set(ours)
        assert _types({k: ours[k] for k in SEVEN}) == _types(theirs)
        assert read_per_session(AUTHORS / theirs_name)["footprint"] in (21000.0, 5029968.0)
    path = tmp_path / "ours.json"
    path.write_text(json.dumps(summaries.summarize_session(files[("tinyRSNN", "indy_20160622_01")])))
    assert read_per_session(path)["r2"] == np.mean([0.70, 0.72])
    ridge = tmp_path / "ridge.json"
    ridge.write_text(json.dumps(summaries.summarize_session(files[("ridge", "indy_20160622_01")])))
    doc = read_per_session(ridge)
    assert doc["activation_sparsity"] is None and doc["macs"] == 1920.0
