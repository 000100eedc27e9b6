"""Summaries and tables from hand-made evaluation JSONs (exact numbers), and the plots."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_evaluate import make_session, save_ckpt, small_net, write_session

from rsnn_decoding.errors import UserError
from rsnn_decoding.evaluation import jobs, neurobench, predictions, ridge
from rsnn_decoding.reporting import figures, metrics_table, summaries, tables

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "resources" / "paper_results.yaml"
SESSIONS = [("indy_20160622_01", "I1"), ("loco_20170210_03", "L1")]
KEYS = ("r2", "r2_x", "r2_y", "footprint", "connection_sparsity", "activation_sparsity", "dense", "macs",
        "acs")
# (model, session, seed) -> metrics in KEYS order
EVALS = {
    ("tinyRSNN", "indy_20160622_01", 1): (0.70, 0.68, 0.72, 21000, 0.45, 0.98, 10368, 0.0, 300.0),
    ("tinyRSNN", "indy_20160622_01", 2): (0.72, 0.70, 0.74, 21000, 0.50, 0.99, 10368, 0.0, 200.0),
    ("tinyRSNN", "loco_20170210_03", 1): (0.60, 0.58, 0.62, 33288, 0.40, 0.97, 16512, 0.0, 400.0),
    ("tinyRSNN", "loco_20170210_03", 2): (0.66, 0.64, 0.68, 33288, 0.45, 0.98, 16512, 0.0, 500.0),
    ("ridge", "indy_20160622_01", 0): (0.55, 0.50, 0.60, 15376, 0.0, None, 1920, 1920, 0.0),
    ("ridge", "loco_20170210_03", 0): (0.51, 0.50, 0.52, 30736, 0.0, None, 3840, 3840, 0.0),
}


def write_evals(tmp_path: Path) -> dict[tuple[str, str], list[Path]]:
    """Write the hand-made evaluations; (model, session) -> files (seeds in reverse order)."""
    files: dict[tuple[str, str], list[Path]] = {}
    for (model, session, seed), values in EVALS.items():
        doc = dict(zip(KEYS, values, strict=True))
        doc.update(checkpoint_sha256="ab" * 32, session=session, model=model, seed=seed, device="cpu",
                   dtype="float64" if model == "ridge" else "float16")
        path = tmp_path / "eval" / model / session / f"seed{seed}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc))
        files.setdefault((model, session), []).insert(0, path)
    return files


def build_summaries(tmp_path: Path) -> dict[str, dict[str, Path]]:
    """Session files, model summaries and spreads of the hand-made evaluations; model -> paths."""
    files = write_evals(tmp_path)
    out = {}
    for model in ("tinyRSNN", "ridge"):
        per_session = {}
        for sid, _ in SESSIONS:
            path = tmp_path / f"results_{model}_{sid}.json"
            path.write_text(json.dumps(summaries.summarize_session(files[(model, sid)])))
            per_session[sid] = path
        out[model] = {"summary": tmp_path / f"results_summary_{model}.json",
                      "spread": tmp_path / f"results_summary_{model}.spread.json"}
        out[model]["summary"].write_text(json.dumps(summaries.summarize_model(per_session)))
        out[model]["spread"].write_text(json.dumps(summaries.summarize_spread(per_session)))
    return out


def build_metrics(tmp_path: Path, source: str = "zenodo") -> Path:
    """metrics.tsv of the hand-made evaluations (tinyRSNN then ridge, sessions in SESSIONS order)."""
    files = write_evals(tmp_path)
    paths = [p for model in ("tinyRSNN", "ridge") for sid, _ in SESSIONS for p in sorted(files[(model, sid)])]
    out = tmp_path / "metrics.tsv"
    metrics_table.write_metrics_tsv(paths, {sid: source for sid, _ in SESSIONS}, out)
    return out


def table_rows(path: Path) -> list[list[str]]:
    """Body rows of the Markdown table in a file (header and separator dropped)."""
    lines = [ln for ln in path.read_text().splitlines() if ln.startswith("|")]
    return [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines[2:]]


def table_header(path: Path) -> list[str]:
    """Header cells of the Markdown table in a file."""
    line = next(ln for ln in path.read_text().splitlines() if ln.startswith("|"))
    return [c.strip() for c in line.strip().strip("|").split("|")]


def html_rows(path: Path) -> list[list[str]]:
    """Body rows of the first HTML table in a file, parsed with the standard library."""
    from html.parser import HTMLParser

    class Rows(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.rows: list[list[str]] = []
            self.cell: list[str] | None = None
            self.in_body = False

        def handle_starttag(self, tag, attrs):
            if tag == "tbody":
                self.in_body = True
            elif tag == "tr" and self.in_body:
                self.rows.append([])
            elif tag == "td":
                self.cell = []

        def handle_endtag(self, tag):
            if tag == "td" and self.cell is not None:
                self.rows[-1].append("".join(self.cell))
                self.cell = None
            elif tag == "tbody":
                self.in_body = False

        def handle_data(self, data):
            if self.cell is not None:
                self.cell.append(data)

    parser = Rows()
    parser.feed(path.read_text())
    return parser.rows


# ----------------------------------------------------------------------------- summaries


def test_summarize_session_has_the_authors_layout(tmp_path: Path) -> None:
    files = write_evals(tmp_path)
    doc = summaries.summarize_session(files[("tinyRSNN", "indy_20160622_01")])
    assert list(doc) == ["footprint", "connection_sparsity", "activation_sparsity", "dense", "macs", "acs", "r2",
                         "seeds", "details"]
    assert doc["seeds"] == [1, 2]  # files were given in reverse order: lists are in seed order
    assert doc["r2"] == [0.70, 0.72] and doc["acs"] == [300.0, 200.0]
    assert doc["details"]["r2_x"] == [0.68, 0.70] and doc["details"]["r2_y"] == [0.72, 0.74]
    assert (doc["details"]["model"], doc["details"]["session"]) == ("tinyRSNN", "indy_20160622_01")
    ridge = summaries.summarize_session(files[("ridge", "indy_20160622_01")])
    assert ridge["seeds"] == [0] and ridge["activation_sparsity"] is None and ridge["macs"] == [1920]
    mixed = files[("tinyRSNN", "indy_20160622_01")] + files[("tinyRSNN", "loco_20170210_03")]
    with pytest.raises(UserError, match="loco_20170210_03"):
        summaries.summarize_session(mixed)
    with pytest.raises(UserError, match="repeat"):
        summaries.summarize_session(files[("tinyRSNN", "indy_20160622_01")] * 2)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UserError, match="bad.json"):
        summaries.summarize_session([bad])


def test_summary_means_and_spreads(tmp_path: Path) -> None:
    paths = build_summaries(tmp_path)
    tiny = json.loads(paths["tinyRSNN"]["summary"].read_text())
    assert list(tiny) == ["indy_20160622_01", "loco_20170210_03", "average"]
    assert tiny["indy_20160622_01"]["r2"] == pytest.approx(0.71)
    assert tiny["loco_20170210_03"]["acs"] == pytest.approx(450.0)
    assert tiny["average"]["r2"] == pytest.approx(0.67)  # mean of the session means (0.71, 0.63)
    assert tiny["average"]["footprint"] == 27144.0 and isinstance(tiny["average"]["footprint"], float)
    spread = json.loads(paths["tinyRSNN"]["spread"].read_text())
    assert spread["std_over_seeds"]["indy_20160622_01"]["r2"] == pytest.approx(0.01)
    assert spread["std_over_session_means"]["r2"] == pytest.approx(0.04)  # std of (0.71, 0.63)
    # pooled: std of (0.45, 0.50, 0.40, 0.45) and of (300, 200, 400, 500)
    assert spread["std_pooled"]["connection_sparsity"] == pytest.approx((0.00125) ** 0.5)
    assert spread["std_pooled"]["acs"] == pytest.approx(12500 ** 0.5)
    assert spread["mean_r2_xy"]["average"] == pytest.approx({"r2_x": 0.65, "r2_y": 0.69})
    ridge = json.loads(paths["ridge"]["summary"].read_text())
    assert ridge["indy_20160622_01"]["r2"] == pytest.approx(0.55)
    assert ridge["average"]["activation_sparsity"] is None
    assert json.loads(paths["ridge"]["spread"].read_text())["std_pooled"]["activation_sparsity"] is None


# ----------------------------------------------------------------------------- metrics.tsv


def test_metrics_tsv_rows_read_back_exactly(tmp_path: Path) -> None:
    import pandas as pd

    path = build_metrics(tmp_path)
    df = pd.read_csv(path, sep="\t")
    assert list(df.columns) == list(metrics_table.COLUMNS)
    assert len(df) == len(EVALS)
    for (model, session, seed), values in EVALS.items():
        (row,) = df[(df.model == model) & (df.session == session) & (df.seed == seed)].itertuples()
        for key, value in zip(KEYS, values, strict=True):
            got = getattr(row, key)
            assert (pd.isna(got) if value is None else got == value), (model, session, seed, key)
        assert row.source == "zenodo" and row.device == "cpu"
        assert row.dtype == ("float64" if model == "ridge" else "float16")
        assert Path(row.eval_json) == tmp_path / "eval" / model / session / f"seed{seed}.json"
    assert metrics_table.read_metrics(path)["r2"].tolist() == df["r2"].tolist()


def test_metrics_tsv_bad_input_names_file_and_column(tmp_path: Path) -> None:
    files = write_evals(tmp_path)
    (one,) = files[("ridge", "indy_20160622_01")]
    with pytest.raises(UserError, match="not in the sessions table"):
        metrics_table.collect_rows([one], {"loco_20170210_03": "zenodo"})
    doc = json.loads(one.read_text())
    del doc["dtype"]
    one.write_text(json.dumps(doc))
    with pytest.raises(UserError, match=r"seed0\.json: evaluation lacks dtype"):
        metrics_table.collect_rows([one], {"indy_20160622_01": "zenodo"})
    tsv = tmp_path / "m.tsv"
    tsv.write_text("model\tsession\n")
    with pytest.raises(UserError, match=r"m\.tsv: column seed, r2"):
        metrics_table.read_metrics(tsv)


# ----------------------------------------------------------------------------- tables


def test_tables_zenodo_exact_numbers(tmp_path: Path) -> None:
    metrics = build_metrics(tmp_path)
    t1, t2 = tmp_path / "tables" / "table1_r2.md", tmp_path / "tables" / "table2_compute.md"
    h1, h2 = t1.with_suffix(".html"), t2.with_suffix(".html")
    tables.write_tables(metrics, ["tinyRSNN", "ridge"], SESSIONS, PAPER, t1, t2, h1, h2)
    assert table_header(t1) == ["Session", "SNN2 (paper)", "SNN3 (paper)", "tinyRSNN", "tinyRSNN (paper)",
                                "ridge"]
    # session rows: ± over seeds; Mean: mean of session means ± population std over the session means
    expected1 = [
        ["I1", "0.677", "0.697", "0.710 ± 0.010", "0.752 ± 0.003", "0.550 ± 0.000"],
        ["L1", "0.571", "0.623", "0.630 ± 0.030", "0.622 ± 0.003", "0.510 ± 0.000"],
        ["Mean", "0.624", "0.660", "0.670 ± 0.040", "0.687 ± 0.065", "0.530 ± 0.020"],
    ]
    assert table_rows(t1) == expected1 and html_rows(h1) == expected1
    text1 = t1.read_text()
    assert "Zenodo record 583331" in text1 and "Seeds: 0 (ridge); 1, 2 (tinyRSNN)" not in text1
    assert "Seeds: 1, 2 (tinyRSNN); 0 (ridge)" in text1 and f"Computed from `{metrics.as_posix()}` (one row" in text1
    assert table_header(t2) == ["Model", "Session", "Footprint (bytes)", "Connection sparsity",
                                "Activation sparsity", "Dense", "Effective MACs", "Effective ACs"]
    # Mean rows: ± over the four session x seed values pooled
    expected2 = [
        ["tinyRSNN", "I1", "21000 ± 0", "0.4750 ± 0.0250", "0.9850 ± 0.0050", "10368 ± 0", "0.0 ± 0.0",
         "250.0 ± 50.0"],
        ["tinyRSNN", "L1", "33288 ± 0", "0.4250 ± 0.0250", "0.9750 ± 0.0050", "16512 ± 0", "0.0 ± 0.0",
         "450.0 ± 50.0"],
        ["tinyRSNN", "Mean", "27144 ± 6144", "0.4500 ± 0.0354", "0.9800 ± 0.0071", "13440 ± 3072", "0.0 ± 0.0",
         "350.0 ± 111.8"],
        ["ridge", "I1", "15376 ± 0", "0.0000 ± 0.0000", "–", "1920 ± 0", "1920.0 ± 0.0", "0.0 ± 0.0"],
        ["ridge", "L1", "30736 ± 0", "0.0000 ± 0.0000", "–", "3840 ± 0", "3840.0 ± 0.0", "0.0 ± 0.0"],
        ["ridge", "Mean", "23056 ± 7680", "0.0000 ± 0.0000", "–", "2880 ± 960", "2880.0 ± 960.0", "0.0 ± 0.0"],
        ["tinyRSNN (paper)", "Mean", "21000 (Indy) / 33288 (Loco)", "0.4500 ± 0.0400", "–",
         "10368 (Indy) / 16512 (Loco)", "–", "213.0 ± 66.0 (Indy only)"],
        ["SNN2 (paper)", "Mean", "29248", "0.0000", "0.9967", "7300", "0.0", "414.0"],
        ["SNN3 (paper)", "Mean", "33996", "0.0000", "0.7880", "43680", "3226.0", "5831.0"],
    ]
    assert table_rows(t2) == expected2 and html_rows(h2) == expected2
    assert "one monkey only" in t2.read_text() and "<title>Table 2: computational demand</title>" in h2.read_text()


def test_tables_all_six_sessions_use_published_means(tmp_path: Path) -> None:
    six = [(sid, short) for short, sid in [("I1", "indy_20160622_01"), ("I2", "indy_20160630_01"),
                                           ("I3", "indy_20170131_02"), ("L1", "loco_20170210_03"),
                                           ("L2", "loco_20170215_02"), ("L3", "loco_20170301_05")]]
    paths = []
    for i, (sid, _) in enumerate(six):
        for seed in (1, 2):
            doc = dict(zip(KEYS, (0.5 + 0.01 * i, 0.5, 0.5, 1, 0.0, 0.9, 1, 0.0, 1.0), strict=True))
            doc.update(model="bigRSNN", session=sid, seed=seed, device="cpu", dtype="float16")
            path = tmp_path / "eval" / "bigRSNN" / sid / f"seed{seed}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(doc))
            paths.append(path)
    metrics = tmp_path / "metrics.tsv"
    metrics_table.write_metrics_tsv(paths, {sid: "zenodo" for sid, _ in six}, metrics)
    t1, t2 = tmp_path / "t1.md", tmp_path / "t2.md"
    tables.write_tables(metrics, ["bigRSNN"], six, PAPER, t1, t2)
    rows = table_rows(t1)
    assert rows[1] == ["I2", "0.501", "0.577", "0.510 ± 0.000", "0.585 ± 0.012"]
    # session means 0.50..0.55: mean 0.525, population std 0.01708
    assert rows[-1] == ["Mean", "0.581", "0.633", "0.525 ± 0.017", "0.698 ± 0.070"]
    assert "45266.0 ± 1376.0 (Loco only)" in t2.read_text()


def test_tables_synthetic_sessions_show_dashes(tmp_path: Path) -> None:
    metrics = build_metrics(tmp_path, source="synthetic")
    t1, t2 = tmp_path / "t1.md", tmp_path / "t2.md"
    tables.write_tables(metrics, ["tinyRSNN", "ridge"], SESSIONS, PAPER, t1, t2)
    rows = table_rows(t1)
    assert rows[0] == ["I1", "–", "–", "0.710 ± 0.010", "–", "0.550 ± 0.000"]
    assert rows[-1] == ["Mean", "–", "–", "0.670 ± 0.040", "–", "0.530 ± 0.020"]
    text = t1.read_text()
    assert "synthetic" in text and "do not apply" in text
    with pytest.raises(UserError, match="no rows of model tinyRSNN on session loco_20170301_05"):
        tables.write_tables(metrics, ["tinyRSNN"], [*SESSIONS, ("loco_20170301_05", "L3")], PAPER, t1, t2)
    with pytest.raises(UserError, match="no rows of model bigRSNN"):
        tables.write_tables(metrics, ["bigRSNN"], SESSIONS, PAPER, t1, t2)


# ----------------------------------------------------------------------------- plots


def assert_png(path: Path) -> None:
    """The file is a non-trivial PNG image."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_plot_training_curves_and_pruning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    histories = {}
    for stage in ("pretrain", "finetune"):
        for seed in (1, 2):
            epochs = [{"epoch": e, "loss_total": 1.0 / e + 0.1, "rmse": 1.0 / e, "lower": 0.05, "upper": 0.05,
                       "train_r2": 0.5 + 0.01 * e + 0.02 * seed, "val_loss_total": 1.2 / e + 0.1,
                       "val_rmse": 1.2 / e + 0.01 * seed, "val_lower": 0.05, "val_upper": 0.05,
                       "val_r2": 0.45 + 0.01 * e, "lr": 2e-3, "hidden_rate_hz": 10.0} for e in range(1, 6)]
            path = tmp_path / f"{stage}{seed}.history.json"
            path.write_text(json.dumps({"stage": stage, "epochs": epochs}))
            histories[f"{stage} seed{seed}"] = path
    bare = tmp_path / "bare.json"  # a bare per-epoch list is accepted too
    bare.write_text(json.dumps(json.loads(histories["pretrain seed1"].read_text())["epochs"]))
    out = tmp_path / "plots" / "curves.png"
    drawn, save = [], figures._save_png
    monkeypatch.setattr(figures, "_save_png", lambda fig, path: (drawn.append(fig), save(fig, path)))
    figures.plot_training_curves({**histories, "extra seed1": bare}, out, "tinyRSNN on I1")
    assert_png(out)
    # one column per stage (pretrain, finetune, extra): R2 on top, training and validation RMSE below
    axes = drawn[0].axes
    assert [ax.get_title() for ax in axes] == ["pretrain: R2", "finetune: R2", "extra: R2",
                                               "pretrain: RMSE", "finetune: RMSE", "extra: RMSE"]
    lines = {line.get_label(): line for line in axes[4].get_lines()}  # finetune RMSE
    assert set(lines) == {"finetune seed1 train", "finetune seed1 val", "finetune seed2 train", "finetune seed2 val"}
    assert list(lines["finetune seed2 train"].get_xdata()) == [1, 2, 3, 4, 5]
    assert list(lines["finetune seed2 train"].get_ydata()) == [1.0 / e for e in range(1, 6)]
    assert list(lines["finetune seed2 val"].get_ydata()) == [1.2 / e + 0.02 for e in range(1, 6)]
    assert lines["finetune seed2 val"].get_linestyle() == "--"
    no_rmse = tmp_path / "old.json"  # a history without the RMSE terms cannot be drawn
    no_rmse.write_text(json.dumps([{k: v for k, v in e.items() if k != "val_rmse"}
                                   for e in json.loads(bare.read_text())]))
    with pytest.raises(UserError, match="old.json: not a training history.*val_rmse"):
        figures.plot_training_curves({"x": no_rmse}, tmp_path / "old.png", "t")
    prunes = []
    for seed in (1, 2):
        rounds = [{"p": p, "sparsity": p * 0.99, "train_r2": 0.7 - 0.1 * p, "val_r2": 0.6,
                   "accepted": p < 0.6} for p in (0.4, 0.5, 0.6, 0.55)]
        path = tmp_path / f"prune{seed}.json"
        path.write_text(json.dumps({"reference_r2": 0.7, "p": 0.5, "rounds": rounds, "seed": seed,
                                    "tolerance": 0.02}))
        prunes.append(path)
    out2 = tmp_path / "plots" / "pruning.png"
    figures.plot_pruning(prunes, out2, "pruning")
    assert_png(out2)
    with pytest.raises(UserError, match="curves.png|bad"):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"rounds": []}))
        figures.plot_training_curves({"x": bad}, tmp_path / "no.png", "t")
    assert not (tmp_path / "no.png").exists()


def test_plot_predictions_checkpoint_and_ridge(tmp_path: Path) -> None:
    """The evaluations write their test predictions; the figure is drawn from those files alone."""
    pre = make_session(n_steps=1500)
    h5 = write_session(tmp_path / "s.h5", pre)
    ckpt = save_ckpt(tmp_path / "seed1.pt", small_net())
    ridge_json = tmp_path / "ridge.json"
    ridge.fit_ridge_model(h5, ridge_json)
    net_npz, ridge_npz = tmp_path / "seed1.predictions.npz", tmp_path / "seed0.predictions.npz"
    jobs.evaluate_to_json("tinyRSNN", ckpt, h5, tmp_path / "seed1.json", seed=1, batch_steps=500,
                          predictions_out=net_npz)
    jobs.evaluate_to_json("ridge", ridge_json, h5, tmp_path / "seed0.json", seed=0, predictions_out=ridge_npz)
    steps = 100
    x, y = neurobench.eval_sequence(pre)
    with torch.no_grad():
        full = small_net()(x.transpose(0, 1))[0].numpy()
    saved = predictions.load_predictions(net_npz)
    assert saved["prediction"].dtype == np.float32 and saved["prediction"].shape == (len(pre.test_index), 2)
    np.testing.assert_allclose(saved["prediction"][:steps], full[:steps], atol=1e-6)
    np.testing.assert_array_equal(saved["target"], y.numpy())
    decoder, _ = ridge.load_ridge(ridge_json)
    np.testing.assert_array_equal(predictions.load_predictions(ridge_npz)["prediction"],
                                  decoder.predict(pre.spikes[pre.test_index]).astype(np.float32))
    out = tmp_path / "pred.png"
    figures.plot_predictions({"tinyRSNN seed1": net_npz, "ridge": ridge_npz}, out, seconds=0.4)
    assert_png(out)
    with pytest.raises(UserError, match="not a predictions file"):
        figures.plot_predictions({"bad": ridge_json}, tmp_path / "no.png")
    assert not (tmp_path / "no.png").exists()


def test_metrics_tsv_round_trips_every_double(tmp_path: Path) -> None:
    """pandas reads back exactly the floats written (the released-network check compares them exactly)."""
    rng = np.random.default_rng(0)
    values = list(rng.random(300)) + list(rng.random(100) * 1e5) + [0.1 + 0.2, 1 / 3, 5e-324]
    paths = []
    for i, value in enumerate(values):
        doc = dict(zip(KEYS, (float(value),) * len(KEYS), strict=True))
        doc.update(model="tinyRSNN", session="s", seed=i, device="cpu", dtype="float16")
        path = tmp_path / "eval" / "tinyRSNN" / "s" / f"seed{i}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc))
        paths.append(path)
    out = tmp_path / "metrics.tsv"
    metrics_table.write_metrics_tsv(paths, {"s": "synthetic"}, out)
    df = metrics_table.read_metrics(out)
    assert df["acs"].tolist() == [float(v) for v in values]


def test_summaries_carry_provenance_outside_the_authors_keys(tmp_path: Path) -> None:
    from rsnn_decoding import jobinfo

    files = write_evals(tmp_path)
    evals = files[("tinyRSNN", "indy_20160622_01")]
    prov = jobinfo.collect({"evals": evals}, {}, "cpu", "float16", repo=tmp_path)
    doc = summaries.summarize_session(evals, provenance=prov)
    recorded = doc["details"]["provenance"]["inputs"]["evals"]
    assert [r["sha256"] for r in recorded] == [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in evals]
    assert doc["details"]["provenance"]["dtype"] == "float16"
    path = tmp_path / "results_tinyRSNN_indy_20160622_01.json"
    path.write_text(json.dumps(doc))
    spread = summaries.summarize_spread({"indy_20160622_01": path}, provenance={"x": 1})
    assert spread["provenance"] == {"x": 1}
    assert "provenance" not in summaries.summarize_model({"indy_20160622_01": path})  # the authors' layout
