"""The trade-off figure: points per series, session means by hand, the authors' points, synthetic layout, errors."""

from __future__ import annotations

import csv
import json
import types
from pathlib import Path

import jinja2
import numpy as np
import pytest

from rsnn_decoding.errors import UserError
from rsnn_decoding.reporting import tradeoff

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "resources" / "paper_results.yaml"
AUTHORS = ROOT / "resources" / "published" / "authors_results"
# the six sessions of the authors' files, in the order of paper_results.yaml (I1, I2, I3, L1, L2, L3)
PAPER_SESSIONS = ["indy_20160622_01", "indy_20160630_01", "indy_20170131_02", "loco_20170210_03",
                  "loco_20170215_02", "loco_20170301_05"]
COLUMNS = ["model", "session", "seed", "r2", "r2_x", "r2_y", "footprint", "connection_sparsity",
           "activation_sparsity", "dense", "macs", "acs", "source", "device", "dtype", "eval_json"]
I1, L1 = "indy_20160622_01", "loco_20170210_03"
# (model, session, seed, r2, footprint, macs, acs); ridge: acs 0, one fit per session
ROWS = [
    ("tinyRSNN", I1, 1, 0.70, 21000, 0.0, 300.0),
    ("tinyRSNN", I1, 2, 0.72, 21000, 0.0, 200.0),
    ("tinyRSNN", L1, 1, 0.60, 33288, 0.0, 400.0),
    ("tinyRSNN", L1, 2, 0.66, 33288, 0.0, 500.0),
    ("bigRSNN", I1, 1, 0.75, 4636752, 0.0, 40000.0),
    ("bigRSNN", I1, 2, 0.77, 4636752, 0.0, 42000.0),
    ("bigRSNN", L1, 1, 0.68, 5029968, 0.0, 45000.0),
    ("bigRSNN", L1, 2, 0.70, 5029968, 0.0, 47000.0),
    ("ridge", I1, 0, 0.55, 15376, 1920.0, 0.0),
    ("ridge", L1, 0, 0.51, 30736, 3840.0, 0.0),
]


def write_metrics(path: Path, rows=ROWS, source: str = "zenodo", drop: str | None = None) -> Path:
    """A metrics.tsv fixture in the lead's column layout (ridge's activation sparsity empty)."""
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow([c for c in COLUMNS if c != drop])
        for model, session, seed, r2, fp, macs, acs in rows:
            rec = dict(model=model, session=session, seed=seed, r2=r2, r2_x=r2 - 0.01, r2_y=r2 + 0.01,
                       footprint=fp, connection_sparsity=0.4, activation_sparsity="" if model == "ridge" else 0.98,
                       dense=1000, macs=macs, acs=acs, source=source, device="cpu", dtype="float32",
                       eval_json=f"results/eval/{model}/{session}/seed{seed}.json")
            w.writerow([rec[c] for c in COLUMNS if c != drop])
    return path


def build(path: Path):
    """The figure built from a metrics file, the authors' files and paper_results.yaml."""
    paper = tradeoff.read_paper(PAPER)
    authors = tradeoff.read_authors(AUTHORS, paper["sessions"])
    return tradeoff.build_tradeoff_figure(tradeoff.read_metrics(path), authors, paper["baselines"])


def series(ax) -> dict[str, np.ndarray]:
    """Scatter offsets (x, y) of one panel by gid."""
    return {c.get_gid(): np.asarray(c.get_offsets(), dtype=float) for c in ax.collections if c.get_gid()}


def authors_oracle(arch_file: str) -> tuple[list[float], list[float], list[float]]:
    """(macs + acs, footprint, r2) of all per-seed entries of the authors' files, read with json alone."""
    ops, fp, r2 = [], [], []
    for s in PAPER_SESSIONS:
        doc = json.loads((AUTHORS / arch_file.format(session=s)).read_text())
        ops += [m + a for m, a in zip(doc["macs"], doc["acs"], strict=True)]
        fp += doc["footprint"]
        r2 += doc["r2"]
    return ops, fp, r2


def test_run_points_and_session_means_by_hand(tmp_path):
    fig = build(write_metrics(tmp_path / "metrics.tsv"))
    ops_ax, fp_ax = fig.axes
    ops, fps = series(ops_ax), series(fp_ax)
    np.testing.assert_allclose(ops["run:tinyRSNN:seeds"], [[300, 0.70], [200, 0.72], [400, 0.60], [500, 0.66]])
    np.testing.assert_allclose(fps["run:tinyRSNN:seeds"][:, 0], [21000, 21000, 33288, 33288])
    # session means by hand: mean over the two seeds of x and of R2
    np.testing.assert_allclose(ops["run:tinyRSNN:means"], [[250, 0.71], [450, 0.63]])
    np.testing.assert_allclose(ops["run:bigRSNN:means"], [[41000, 0.76], [46000, 0.69]])
    np.testing.assert_allclose(fps["run:bigRSNN:means"], [[4636752, 0.76], [5029968, 0.69]])
    # ridge: x is its MACs (ACs are 0); one fit per session, so its mean is the point itself
    np.testing.assert_allclose(ops["run:ridge:seeds"], [[1920, 0.55], [3840, 0.51]])
    np.testing.assert_allclose(ops["run:ridge:means"], [[1920, 0.55], [3840, 0.51]])
    for ax in fig.axes:
        assert ax.get_xscale() == "log"
        assert "drawn at" not in ax.get_xlabel()  # nothing below the floor here


def test_authors_points_and_baselines(tmp_path):
    fig = build(write_metrics(tmp_path / "metrics.tsv"))
    ops_ax, fp_ax = fig.axes
    ops, fps = series(ops_ax), series(fp_ax)
    for arch, pattern in (("tinyRSNN", "results_tinyRSNN_{session}.json"), ("bigRSNN", "results_maxR2_{session}.json")):
        x_ops, x_fp, r2 = authors_oracle(pattern)
        assert ops[f"authors:{arch}:seeds"].shape == (30, 2)
        np.testing.assert_array_equal(ops[f"authors:{arch}:seeds"][:, 0], x_ops)
        np.testing.assert_array_equal(ops[f"authors:{arch}:seeds"][:, 1], r2)
        np.testing.assert_array_equal(fps[f"authors:{arch}:seeds"][:, 0], x_fp)
        np.testing.assert_allclose(ops[f"authors:{arch}:means"][:, 1], np.mean(np.reshape(r2, (6, 5)), axis=1))
    # one number straight from the authors' file: first entry of tinyRSNN on I1
    assert ops["authors:tinyRSNN:seeds"][0, 0] == 283.79517872612905
    # NeuroBench baselines: MACs + ACs and footprint of compute:, R2 of r2: ... mean
    np.testing.assert_array_equal(ops["baseline:SNN2"], [[0 + 414, 0.581]])
    np.testing.assert_array_equal(ops["baseline:SNN3"], [[3226 + 5831, 0.633]])
    np.testing.assert_array_equal(fps["baseline:SNN3"], [[33996, 0.633]])
    assert {t.get_text() for t in ops_ax.texts} == {"SNN2", "SNN3"}


def _rgb(collection) -> set[tuple[float, ...]]:
    """Face and edge colours (RGB, no alpha) of a scatter series, ignoring 'none'."""
    cols = [*collection.get_facecolor(), *collection.get_edgecolor()]
    return {tuple(np.round(c[:3], 3)) for c in cols if c[3] > 0}


def test_synthetic_published_points_in_separate_grey_row(tmp_path):
    fig = build(write_metrics(tmp_path / "metrics.tsv", source="synthetic"))
    assert len(fig.axes) == 4
    top, bottom = fig.axes[:2], fig.axes[2:]
    for ax in top:
        assert set(series(ax)) == {f"run:{m}:{k}" for m in ("tinyRSNN", "bigRSNN", "ridge") for k in ("seeds", "means")}
    for ax in bottom:
        gids = set(series(ax))
        assert gids == {"authors:tinyRSNN:seeds", "authors:tinyRSNN:means", "authors:bigRSNN:seeds",
                        "authors:bigRSNN:means", "baseline:SNN2", "baseline:SNN3"}
        assert len(series(ax)["authors:bigRSNN:seeds"]) == 30
        for c in ax.collections:
            assert _rgb(c) == {(0.6, 0.6, 0.6)}, c.get_gid()
        assert "not comparable" in ax.get_title()
    title = fig._suptitle.get_text()
    assert "synthetic" in title and "Zenodo" in title and "not comparable" in title
    # on Zenodo data the published points share the panels, in colour
    fig = build(write_metrics(tmp_path / "zenodo.tsv"))
    assert len(fig.axes) == 2
    authors = next(c for c in fig.axes[0].collections if c.get_gid() == "authors:tinyRSNN:seeds")
    assert (0.6, 0.6, 0.6) not in _rgb(authors)


def test_mixed_sources_count_as_synthetic(tmp_path):
    path = write_metrics(tmp_path / "metrics.tsv")
    lines = path.read_text().splitlines()
    lines[-1] = lines[-1].replace("\tzenodo\t", "\tsynthetic\t")
    path.write_text("\n".join(lines) + "\n")
    assert len(build(path).axes) == 4


def test_zero_ops_drawn_at_floor_and_only_some_models(tmp_path):
    rows = [("ridge", I1, 0, 0.55, 15376, 1920.0, 0.0), ("tinyRSNN", I1, 1, 0.10, 21000, 0.0, 0.0)]
    fig = build(write_metrics(tmp_path / "metrics.tsv", rows=rows))
    ops = series(fig.axes[0])
    assert {g for g in ops if g.startswith("run:")} == {"run:ridge:seeds", "run:ridge:means", "run:tinyRSNN:seeds",
                                                         "run:tinyRSNN:means"}
    np.testing.assert_array_equal(ops["run:tinyRSNN:seeds"], [[tradeoff.OPS_FLOOR, 0.10]])
    assert "values < 1 drawn at 1" in fig.axes[0].get_xlabel()
    assert "drawn at" not in fig.axes[1].get_xlabel()


def test_missing_column_names_file_and_column(tmp_path):
    path = write_metrics(tmp_path / "metrics.tsv", drop="acs")
    with pytest.raises(UserError, match=r"metrics\.tsv: column acs missing") as exc:
        tradeoff.read_metrics(path)
    assert "\n" not in str(exc.value)


def test_bad_value_and_missing_file(tmp_path):
    path = write_metrics(tmp_path / "metrics.tsv")
    text = path.read_text().splitlines()
    text[3] = text[3].replace("\t0.6\t", "\tn/a\t", 1)  # r2 of the third data row (file line 4)
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(UserError, match=r"metrics\.tsv: column r2 holds a non-number on line 4"):
        tradeoff.read_metrics(path)
    with pytest.raises(UserError, match=r"nothing\.tsv: not found"):
        tradeoff.read_metrics(tmp_path / "nothing.tsv")
    (tmp_path / "empty.tsv").write_text("")
    with pytest.raises(UserError, match=r"empty\.tsv: not a readable TSV"):
        tradeoff.read_metrics(tmp_path / "empty.tsv")


def test_missing_authors_file(tmp_path):
    with pytest.raises(UserError, match=r"results_tinyRSNN_indy_20160622_01\.json: the authors' result file is"):
        tradeoff.read_authors(tmp_path, [I1])


def test_two_runs_give_identical_bytes_and_atomic_output(tmp_path):
    metrics = write_metrics(tmp_path / "metrics.tsv", source="synthetic")
    outs = [tmp_path / "a" / "tradeoff.svg", tmp_path / "b" / "tradeoff.svg"]
    for out in outs:
        tradeoff.plot_tradeoff(metrics, AUTHORS, PAPER, out)
    a, b = (o.read_bytes() for o in outs)
    assert a == b and a.startswith(b"<?xml")
    assert b"<dc:date>" not in a
    pngs = [tmp_path / "a.png", tmp_path / "b.png"]
    for out in pngs:
        tradeoff.plot_tradeoff(metrics, AUTHORS, PAPER, out)
    assert pngs[0].read_bytes() == pngs[1].read_bytes()
    # a failing run leaves no output and no temporary file behind
    with pytest.raises(UserError):
        tradeoff.plot_tradeoff(write_metrics(tmp_path / "bad.tsv", drop="r2"), AUTHORS, PAPER, tmp_path / "c.svg")
    assert not list(tmp_path.glob("*c.svg*"))
    with pytest.raises(UserError, match=r"\.pdf: the trade-off figure is written as \.svg or \.png"):
        tradeoff.plot_tradeoff(metrics, AUTHORS, PAPER, tmp_path / "x.pdf")


def test_authors_files_are_the_tracked_copies():
    files = tradeoff.authors_files(AUTHORS, tradeoff.read_paper(PAPER)["sessions"])
    assert [p.name for p in files.values()] == ([f"results_tinyRSNN_{s}.json" for s in PAPER_SESSIONS]
                                                + [f"results_maxR2_{s}.json" for s in PAPER_SESSIONS])
    assert all(p.is_file() for p in files.values())


@pytest.mark.parametrize(("sources", "separate"), [(["zenodo"], False), (["synthetic"], True)])
def test_caption_says_why_published_points_are_apart(sources, separate):
    text = (ROOT / "workflow" / "report" / "tradeoff.rst").read_text()
    params = types.SimpleNamespace(sources=sources, authors_sessions=PAPER_SESSIONS if separate else [I1, L1])
    snakemake = types.SimpleNamespace(params=params,
                                      config={"published": {"authors_results": "resources/published/authors_results"}})
    out = jinja2.Template(text).render(snakemake=snakemake)
    assert "c8a96667404c83664784217191a67ce95991eac7" in out and "results/metrics.tsv" in out
    assert ("drawn in grey in a separate row" in out) is separate
    assert ("all six sessions of their files" in out) is separate
    assert ", ".join(PAPER_SESSIONS if separate else [I1, L1]) in out


def test_authors_points_of_chosen_sessions_only(tmp_path):
    metrics = write_metrics(tmp_path / "metrics.tsv")
    paper = tradeoff.read_paper(PAPER)
    fig = tradeoff.build_tradeoff_figure(tradeoff.read_metrics(metrics), tradeoff.read_authors(AUTHORS, [L1]),
                                         paper["baselines"])
    ops = series(fig.axes[0])
    doc = json.loads((AUTHORS / f"results_maxR2_{L1}.json").read_text())
    np.testing.assert_array_equal(ops["authors:bigRSNN:seeds"][:, 1], doc["r2"])
    assert len(ops["authors:bigRSNN:means"]) == 1
    # no authors' session at all (a Zenodo run on sessions the paper did not use): baselines only
    tradeoff.plot_tradeoff(metrics, AUTHORS, PAPER, tmp_path / "none.svg", sessions=[])
    fig = tradeoff.build_tradeoff_figure(tradeoff.read_metrics(metrics), tradeoff.read_authors(AUTHORS, []),
                                         paper["baselines"])
    assert not any(g.startswith("authors:") for g in series(fig.axes[0]))
