"""The check of the released networks against the authors' result files (published_check)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from rsnn_decoding.evaluation import neurobench, released
from rsnn_decoding.reporting.metrics_table import write_metrics_tsv
from rsnn_decoding.reporting.published_check import authors_results, match_seeds, write_check, zenodo_verified

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
AUTHORS = REPO / "resources" / "published" / "authors_results"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "published"
FOLDERS = {"indy01": ("indy_20160622_01", 96, 21000, 10368), "loco01": ("loco_20170210_03", 192, 33288, 16512)}


def _tiny_pre(channels: int, steps: int = 30) -> SimpleNamespace:
    """A stand-in preprocessed session with `steps` random test steps (enough for NeuroBench's Dense)."""
    rng = np.random.default_rng(0)
    return SimpleNamespace(test_index=np.arange(steps), spikes=(rng.random((steps, channels)) < 0.1).astype(np.float32),
                           velocity=rng.standard_normal((steps, 2)).astype(np.float32), path=None,
                           session="stand-in", n_channels=channels)


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_static_columns_of_released_fixtures_equal_the_authors(folder):
    session, channels, footprint, dense = FOLDERS[folder]
    authors = authors_results(AUTHORS, "tinyRSNN_published", session)
    ours_cs, ours_dense = [], []
    for seed in range(1, 6):
        model = released.load_released(FIXTURES / folder / f"tinyRSNN-{seed}.pth")
        static = neurobench.static_metrics(model)
        assert static["footprint"] == footprint
        ours_cs.append(static["connection_sparsity"])
        results, _ = neurobench.run_benchmark(model, _tiny_pre(channels), batch_steps=10)
        ours_dense.append(results["SynapticOperations"]["Dense"])
    assert authors["footprint"] == [footprint] * 5
    assert authors["dense"] == [dense] * 5 and ours_dense == [dense] * 5
    assert Counter(ours_cs) == Counter(authors["connection_sparsity"])  # exactly, as a multiset


def _write_evals(tmp_path: Path, model: str, session: str, records: dict[int, dict]) -> Path:
    """Eval JSONs of the records and the metrics.tsv made from them (what published_check reads)."""
    paths = []
    for seed, rec in records.items():
        p = tmp_path / model / session / f"seed{seed}.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        doc = {"r2_x": rec["r2"], "r2_y": rec["r2"], "macs": 0.0, **rec, "seed": seed, "model": model,
               "session": session, "device": "cpu", "dtype": "float16"}
        p.write_text(json.dumps(doc))
        paths.append(str(p))
    metrics = tmp_path / "metrics.tsv"
    write_metrics_tsv(paths, {session: "zenodo"}, metrics)
    return metrics


def _records_from_authors(authors: dict, perm: list[int]) -> dict[int, dict]:
    """Our seed s (1-based) gets the authors' entry perm[s-1]: the authors' numbers in another order."""
    return {s: {k: v[perm[s - 1]] for k, v in authors.items()} for s in range(1, 6)}


def test_matching_recovers_the_authors_order_and_the_check_passes(tmp_path):
    session = "indy_20160622_01"
    authors = authors_results(AUTHORS, "tinyRSNN_published", session)
    perm = [3, 0, 4, 1, 2]
    records = _records_from_authors(authors, perm)
    matching = match_seeds(records, authors)
    assert matching.mode == "matched"
    assert matching.pairs == {s: perm[s - 1] for s in range(1, 6)}
    assert not any(n.startswith(("TIE", "AMBIGUOUS")) for n in matching.notes)
    paths = _write_evals(tmp_path, "tinyRSNN_published", session, records)
    out = tmp_path / "check.md"
    counts = write_check(paths, ["tinyRSNN_published"], [session], AUTHORS, {session: True}, {session: "I1"}, out,
                         out.with_suffix(".html"))
    assert counts == {"tinyRSNN_published": 0}
    text = out.read_text()
    assert "## tinyRSNN (released)" in text and "seed 1 ↔ entry 4" in text
    assert "FAIL" not in text and "abs(diff) ≤ 0.0001 (CPU)" in text and "Evaluation device: cpu" in text
    page = out.with_suffix(".html").read_text()
    assert "<h2>tinyRSNN (released)</h2>" in page and page.count("<td>pass</td>") == 20


def test_a_perturbed_r2_is_flagged(tmp_path):
    session = "loco_20170210_03"
    authors = authors_results(AUTHORS, "tinyRSNN_published", session)
    records = _records_from_authors(authors, [0, 1, 2, 3, 4])
    records[3]["r2"] += 2e-4
    paths = _write_evals(tmp_path, "tinyRSNN_published", session, records)
    out = tmp_path / "check.md"
    counts = write_check(paths, ["tinyRSNN_published"], [session], AUTHORS, {session: True}, {session: "L1"}, out)
    assert counts == {"tinyRSNN_published": 1}
    fails = [line for line in out.read_text().splitlines() if "FAIL" in line]
    assert len(fails) == 1 and "| L1 " in fails[0] and "| 3 " in fails[0] and "| R2 " in fails[0]
    assert "+2.00e-04" in fails[0]


def test_non_zenodo_data_compares_multisets(tmp_path):
    session = "indy_20160622_01"
    authors = authors_results(AUTHORS, "tinyRSNN_published", session)
    records = _records_from_authors(authors, [4, 3, 2, 1, 0])
    for rec in records.values():
        rec["r2"] = 0.1  # simulated data: R2 far from the authors'
    paths = _write_evals(tmp_path, "tinyRSNN_published", session, records)
    out = tmp_path / "check.md"
    counts = write_check(paths, ["tinyRSNN_published"], [session], AUTHORS, {session: False}, {session: "I1"}, out)
    assert counts == {"tinyRSNN_published": 5}  # the five R2 values; static columns equal as multisets
    lines = out.read_text().splitlines()
    assert all("| R2 " in line for line in lines if "FAIL" in line)
    assert "multisets" in out.read_text() and "(rank 1)" in out.read_text()


def test_identical_records_are_reported_as_a_tie():
    authors = {"r2": [0.5, 0.5, 0.6], "connection_sparsity": [0.1, 0.1, 0.2], "footprint": [1, 1, 1],
               "dense": [1, 1, 1], "activation_sparsity": [0.9, 0.9, 0.9], "acs": [1, 1, 1]}
    ours = {s: {k: v[s - 1] for k, v in authors.items()} for s in (1, 2, 3)}
    matching = match_seeds(ours, authors)
    assert matching.mode == "matched" and matching.pairs[3] == 2
    assert any(n.startswith("TIE") for n in matching.notes)
    ours[1]["connection_sparsity"] = 0.3
    assert match_seeds(ours, authors).mode == "multiset"


def test_zenodo_criterion_needs_the_verified_md5(tmp_path):
    rec = tmp_path / "s.checksums.json"
    md5 = "c33d5fff31320d709d23fe445561fb6e"
    rec.write_text(json.dumps({"md5": md5, "verified_md5": True}))
    assert zenodo_verified(rec, md5)
    assert not zenodo_verified(rec, "")
    assert not zenodo_verified(None, md5)
    rec.write_text(json.dumps({"md5": md5, "verified_md5": False}))
    assert not zenodo_verified(rec, md5)
