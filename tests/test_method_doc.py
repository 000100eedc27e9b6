"""docs/METHOD.md stays inside the repository, its section references resolve, and its numbers match the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from rsnn_decoding.network.config import big_config, tiny_config
from rsnn_decoding.network.rsnn import RSNN
from rsnn_decoding.training.optim import SMORMS3
from rsnn_decoding.training.prune import search_schedule

REPO = Path(__file__).resolve().parents[1]
METHOD = REPO / "docs" / "METHOD.md"
TEXT = METHOD.read_text(encoding="utf-8")
CHANNELS = {"Indy": 96, "Loco": 192}


def headings() -> set[str]:
    """Section numbers of METHOD.md: '3' for '## 3. Network', '3.2' for '### 3.2 ...'."""
    return set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", TEXT, flags=re.M))


def section(number: str) -> str:
    """Text of one top-level section of METHOD.md."""
    start = re.search(rf"^## {number}\. ", TEXT, flags=re.M)
    assert start is not None
    end = re.search(r"^## \d+\. ", TEXT[start.end() :], flags=re.M)
    return TEXT[start.start() : start.end() + end.start()] if end else TEXT[start.start() :]


def test_sections_one_to_seven() -> None:
    assert {"1", "2", "3", "4", "5", "6", "7"} <= headings()


@pytest.mark.parametrize("doc", ["docs/METHOD.md", "docs/ARCHITECTURE.md", "README.md", "config/README.md"])
def test_docs_point_inside_the_repository(doc: str) -> None:
    text = (REPO / doc).read_text(encoding="utf-8")
    for outside in (r"\.\./shared", r"\bshared/", r"\bSPEC\b"):
        assert re.search(outside, text) is None, f"{doc} refers to {outside!r}, outside the repository"


def test_paths_named_in_method_exist() -> None:
    paths = re.findall(r"`((?:config|resources|docs|src|workflow|tests)/[\w./-]+)`", TEXT)
    assert "config/sessions.tsv" in paths
    assert [p for p in paths if not (REPO / p).exists()] == []


def test_references_to_method_sections_resolve() -> None:
    known = headings()
    refs = re.findall(r"§(\d+(?:\.\d+)?)", TEXT)
    for folder in ("src", "tests", "docs", "config", "workflow"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix in (".py", ".md", ".yaml", ".smk") and path.is_file():
                text = path.read_text(encoding="utf-8")
                refs += re.findall(r"METHOD\.md (?:§|section )(\d+)", text)
    assert len(refs) > 40
    assert sorted({r for r in refs if r not in known}) == []


def test_parameter_table_matches_the_network() -> None:
    row = r"^\| (tinyRSNN|bigRSNN) \| (Indy|Loco)[^|]* \|[^|]*\|[^|]*\| ([\d,]+) \| ([\d,]+) \((float16|float32)\) \|$"
    rows = re.findall(row, section("3"), flags=re.M)
    assert len(rows) == 4
    for name, monkey, n_params, n_bytes, dtype in rows:
        cfg = tiny_config() if name == "tinyRSNN" else big_config()
        net = RSNN(CHANNELS[monkey], cfg)
        count = sum(p.numel() for p in net.parameters())
        assert int(n_params.replace(",", "")) == count
        assert int(n_bytes.replace(",", "")) == count * (2 if dtype == "float16" else 4)


def test_dense_figures_match_the_weight_matrices() -> None:
    m = re.search(r"Dense is ([\d,]+) / ([\d,]+)\s+for tinyRSNN \(Indy / Loco\) and ([\d,]+) / ([\d,]+) for bigRSNN",
                  section("6"))
    assert m is not None
    stated = [int(v.replace(",", "")) for v in m.groups()]
    actual = [sum(w.numel() for w in RSNN(c, cfg).weight_matrices())
              for cfg in (tiny_config(), big_config()) for c in (96, 192)]
    assert stated == actual


def test_pruning_sequences_match_the_search() -> None:
    rows = re.findall(r"^\| (every round accepted|rejected at ([\d.]+), then accepted) \| ([^|]+) \|$",
                      section("5"), flags=re.M)
    assert len(rows) == 3
    for _, rejected_at, values in rows:
        tried = re.findall(r"\d\.\d+", values.split("(then")[0])
        first_reject = [True]

        def evaluate(k: int, p: float, rejected_at: str = rejected_at, first_reject: list = first_reject) -> float:
            if rejected_at and repr(p) == rejected_at and first_reject[0]:
                first_reject[0] = False
                return 0.0
            return 0.5

        rounds = search_schedule(0.5, evaluate)
        assert [repr(r.p) for r in rounds] == tried


def test_float16_readout_start() -> None:
    value = float(torch.tensor(-0.01, dtype=torch.float16))
    assert repr(value) == "-0.01000213623046875" and repr(value) in TEXT
    assert f"{value:.7f}" == "-0.0100021" and "-0.0100021" in TEXT


def test_pretraining_last_learning_rate() -> None:
    opt = SMORMS3([torch.nn.Parameter(torch.zeros(1))], lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=200, eta_min=0.0)
    for _ in range(99):
        opt.step()  # no gradients: nothing changes, but the scheduler sees the usual order
        sched.step()
    ratio = opt.param_groups[0]["lr"] / 2e-3
    assert f"{ratio:.3f}" == "0.508" and r"\eta_{99} \approx 0.508\,\eta" in TEXT
