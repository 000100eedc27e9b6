"""`rsnn-decoding cost` from hand-made benchmark files and logs: exact sums, maxima and projections."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rsnn_decoding.errors import UserError
from rsnn_decoding.reporting import cost

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
CONFIG = {"seeds": [1], "threads": {"train": 2, "evaluate": 1, "data": 1}}


def bench(results: Path, rule: str, name: str, seconds: float, rss: float, epochs: list[float] = ()) -> None:
    """One job's benchmark TSV (and its log with epoch lines, as the training loop writes them)."""
    path = results / "benchmarks" / rule / f"{name}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t50\t{seconds}\n")
    if epochs:
        log = results / "logs" / rule / f"{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("".join(f"INFO epoch {i + 1}/{len(epochs)} loss_total 1.0 train R2 0.100 val R2 0.100 lr 0.002 "
                               f"rate 5.0 Hz {s:.1f} s ETA 0:00:01\n" for i, s in enumerate(epochs)))


def test_cost_table_sums_maxima_and_projection(tmp_path: Path) -> None:
    bench(tmp_path, "pretrain", "tinyRSNN_indy_seed1", 30.0, 900.0, epochs=[20.0])
    bench(tmp_path, "finetune", "tinyRSNN_I1_seed1", 8.0, 500.0, epochs=[5.0])
    bench(tmp_path, "finetune", "tinyRSNN_I2_seed1", 10.0, 700.0, epochs=[7.0])
    bench(tmp_path, "prune", "tinyRSNN_I1_seed1", 6.0, 400.0, epochs=[4.0])  # one round of one epoch
    bench(tmp_path, "evaluate", "tinyRSNN_I1_seed1", 4.0, 300.0)
    bench(tmp_path, "evaluate", "ridge_I1_seed0", 2.0, 200.0)
    bench(tmp_path, "simulate_session", "I1", 40.0, 1000.0)
    rows = {r["rule"]: r for r in cost.cost_table(tmp_path, CONFIG, rounds=6)}
    assert rows["finetune"]["jobs"] == 2 and rows["finetune"]["wall_sum_s"] == 18.0
    assert rows["finetune"]["wall_max_s"] == 10.0 and rows["finetune"]["peak_rss_mb"] == 700.0
    # pretrain: fixed 30 - 20 = 10 s + 100 paper epochs x 20 s, 5 seeds, 2 threads
    assert rows["pretrain"]["paper_jobs"] == 5
    assert rows["pretrain"]["paper_core_hours"] == pytest.approx(5 * (10 + 100 * 20) * 2 / 3600)
    # finetune: mean job 9 s, mean epoch 6 s -> fixed 3 s + 200 x 6 s
    assert rows["finetune"]["paper_core_hours"] == pytest.approx(10 * (3 + 200 * 6) * 2 / 3600)
    # prune: fixed 2 s + 6 rounds x 100 epochs x 4 s
    assert rows["prune"]["paper_core_hours"] == pytest.approx(5 * (2 + 600 * 4) * 2 / 3600)
    assert rows["evaluate"]["paper_jobs"] == 5 and rows["evaluate_ridge"]["paper_jobs"] == 1
    assert rows["simulate_session"]["paper_core_hours"] == pytest.approx(40 / 3600)
    text = cost.format_table(list(rows.values()), 6)
    assert re.search(r"^\| total +\| 7 +\|", text, re.M) and "6 pruning rounds" in text


def test_missing_or_broken_benchmarks_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no benchmark folder"):
        cost.cost_table(tmp_path, CONFIG)
    bad = tmp_path / "benchmarks" / "pretrain" / "x.tsv"
    bad.parent.mkdir(parents=True)
    bad.write_text("nonsense\n")
    with pytest.raises(UserError, match=r"x\.tsv: not a Snakemake benchmark file"):
        cost.cost_table(tmp_path, CONFIG)


def test_report_item_is_the_same_table(tmp_path: Path) -> None:
    bench(tmp_path, "pretrain", "tinyRSNN_indy_seed1", 30.0, 900.0, epochs=[20.0])
    out = tmp_path / "tables" / "cost.md"
    cost.write_cost_table(tmp_path, CONFIG, out, tmp_path / "tables" / "cost.html", rounds=4)
    text = out.read_text()
    page = (tmp_path / "tables" / "cost.html").read_text()
    assert "<td>total</td>" in page and "4 pruning rounds" in page
    assert text.startswith("# What this run cost") and "4 pruning rounds" in text
    assert cost.format_table(cost.cost_table(tmp_path, CONFIG, 4), 4) in text
