"""The browser check's own oracle: Table 1's cells recomputed from metrics.tsv with the standard library."""

from __future__ import annotations

from pathlib import Path

from report_browser import expected_table1_cells
from test_report import PAPER, SESSIONS, build_metrics, table_rows

from rsnn_decoding.reporting import tables


def test_expected_cells_are_exactly_the_model_cells_of_table1(tmp_path: Path) -> None:
    metrics = build_metrics(tmp_path)
    cells = expected_table1_cells(metrics)
    assert cells == ["0.710 ± 0.010", "0.630 ± 0.030", "0.550 ± 0.000", "0.510 ± 0.000", "0.670 ± 0.040",
                     "0.530 ± 0.020"]
    t1, t2 = tmp_path / "t1.md", tmp_path / "t2.md"
    tables.write_tables(metrics, ["tinyRSNN", "ridge"], SESSIONS, PAPER, t1, t2)
    shown = {cell for row in table_rows(t1) for cell in row}
    assert set(cells) <= shown
