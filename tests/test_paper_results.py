"""The ± figures of resources/paper_results.yaml, recomputed from the authors' own result files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PAPER = yaml.safe_load((ROOT / "resources" / "paper_results.yaml").read_text())
AUTHORS = ROOT / "resources" / "published" / "authors_results"
FILES = {"tinyRSNN": "results_tinyRSNN_{}.json", "bigRSNN": "results_maxR2_{}.json"}


def lists(model: str, key: str) -> dict[str, list[float]]:
    """short session name -> the authors' per-seed values of one metric."""
    return {short: json.loads((AUTHORS / FILES[model].format(sid)).read_text())[key]
            for short, sid in PAPER["sessions"].items()}


@pytest.mark.parametrize("model", ["tinyRSNN", "bigRSNN"])
def test_r2_means_and_spreads(model: str) -> None:
    r2 = lists(model, "r2")
    means = {s: float(np.mean(v)) for s, v in r2.items()}
    for short, values in r2.items():
        assert PAPER["r2"][model][short] == round(means[short], 3)
        assert PAPER["r2_std"][model][short] == round(float(np.std(values)), 3)  # population std over seeds
    assert PAPER["r2"][model]["mean"] == round(float(np.mean(list(means.values()))), 3)
    # the README's ±: population std over the six session means (0.076 / 0.070)
    assert PAPER["r2_std"][model]["mean"] == round(float(np.std(list(means.values()))), 3)


def test_compute_mean_rows_are_pooled_over_sessions_and_seeds() -> None:
    pub = PAPER["compute_published"]
    cs = np.concatenate(list(lists("tinyRSNN", "connection_sparsity").values()))
    assert (pub["tinyRSNN"]["connection_sparsity"]["mean"], pub["tinyRSNN"]["connection_sparsity"]["std"]) == (
        round(float(cs.mean()), 2), round(float(cs.std()), 2))
    for model, monkey in (("tinyRSNN", "indy"), ("bigRSNN", "loco")):
        acs = lists(model, "acs")
        one_monkey = np.concatenate([v for s, v in acs.items() if s.startswith(monkey[0].upper())])
        entry = pub[model]["acs"]
        assert entry["monkey"] == monkey
        assert (entry["mean"], entry["std"]) == (round(float(one_monkey.mean())), round(float(one_monkey.std())))
