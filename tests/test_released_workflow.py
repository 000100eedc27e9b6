"""Released networks in the workflow: model kinds, tables, dry runs and one end-to-end run on a local server."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml
from fileserver import file_server
from test_released import small_big
from test_report import PAPER, SESSIONS, build_metrics, table_header, table_rows
from test_workflow import SNAKEMAKE, job_counts, snakemake

from rsnn_decoding.data import simulate
from rsnn_decoding.evaluation import released
from rsnn_decoding.evaluation.released_fetch import git_blob_sha1
from rsnn_decoding.models import MODEL_KINDS, display_name, model_kind, models_of_kind, wildcard_pattern
from rsnn_decoding.reporting import tables

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "published"
AUTHORS = ROOT / "resources" / "published" / "authors_results"


def test_schema_enum_lists_exactly_the_model_kinds():
    schema = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
    assert sorted(schema["definitions"]["model_id"]["enum"]) == sorted(MODEL_KINDS)
    assert models_of_kind(["ridge", "tinyRSNN_published", "bigRSNN"], "trained") == ["bigRSNN"]
    assert model_kind("bigRSNN_published") == "released"
    assert set(wildcard_pattern(("released",)).split("|")) == {"tinyRSNN_published", "bigRSNN_published"}
    assert display_name("bigRSNN_published") == "bigRSNN (released)" and display_name("ridge") == "ridge"
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    assert {"tinyRSNN_published", "bigRSNN_published"} <= set(config["models"])


def test_tables_get_released_columns_and_rows(tmp_path):
    metrics = build_metrics(tmp_path)
    lines = metrics.read_text().splitlines()
    released_rows = [ln.replace("tinyRSNN", "tinyRSNN_published", 1) for ln in lines[1:] if ln.startswith("tinyRSNN\t")]
    metrics.write_text("\n".join(lines + released_rows) + "\n")
    t1, t2 = tmp_path / "t1.md", tmp_path / "t2.md"
    tables.write_tables(metrics, ["tinyRSNN", "tinyRSNN_published"], SESSIONS, PAPER, t1, t2)
    assert table_header(t1) == ["Session", "SNN2 (paper)", "SNN3 (paper)", "tinyRSNN", "tinyRSNN (paper)",
                                "tinyRSNN (released)"]
    assert table_rows(t1)[0] == ["I1", "0.677", "0.697", "0.710 ± 0.010", "0.752 ± 0.003", "0.710 ± 0.010"]
    labels = [(r[0], r[1]) for r in table_rows(t2)]
    assert ("tinyRSNN (released)", "I1") in labels and ("tinyRSNN (released)", "Mean") in labels
    assert labels.count(("tinyRSNN (paper)", "Mean")) == 1
    assert "the authors' released networks" in t1.read_text()


def test_dry_run_with_only_released_models_trains_nothing():
    result = snakemake("-n", "--config", "models=[tinyRSNN_published,bigRSNN_published]")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    assert not {"pretrain", "finetune", "prune", "to_half", "fit_ridge", "plot_curves"} & set(counts)
    assert counts["fetch_published"] == 60 and counts["evaluate"] == 60
    assert counts["published_check"] == 1 and counts["download"] == 6


def test_released_model_on_another_session_stops_before_any_job():
    result = snakemake("-n", "--configfile", "config/demo.yaml", "--config", "models=[tinyRSNN_published]")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "indy_20160622_01, indy_20160630_01, indy_20170131_02, loco_20170210_03" in errors[0]
    assert "indy_synth_01" in errors[0]


# ----------------------------------------------------------------------------- end to end

E2E_BUDGET_S = 600
SIM_SECONDS = 10.0
BIG_HIDDEN = 16  # the released bigRSNN has 1024 hidden units; a small H keeps this test fast
E2E_SESSIONS = {"indy_20160622_01": ("indy01", "I1", 96), "loco_20170210_03": ("loco01", "L1", 192)}


def _big_authors_file(hidden: int, channels: int) -> dict:
    """An authors'-format bigRSNN result file for the small test networks (static columns by formula)."""
    params = hidden * channels + hidden * hidden + 2 * hidden + 5 * (2 * hidden + 2 * 2)
    return {"footprint": [4 * params] * 5, "connection_sparsity": [0.0] * 5,
            "activation_sparsity": [0.97] * 5, "dense": [float(hidden * channels + hidden * hidden + 10 * hidden)] * 5,
            "macs": [0.0] * 5, "acs": [1000.0] * 5, "r2": [0.7, 0.69, 0.71, 0.68, 0.72]}


def _setup(work: Path) -> tuple[dict[str, bytes], list[str]]:
    """Sessions table, manifest, authors' results and served files of the end-to-end run."""
    files: dict[str, bytes] = {}
    manifest = ["path\tsession\tmodel\tseed\tgit_blob_sha1\tsize\tsha256"]
    real = (ROOT / "resources/published/manifest.tsv").read_text().splitlines()[1:]
    (work / "authors").mkdir()
    rows = ["id\tshort_name\tmonkey\tchannels\trole\tmd5\tsource\tduration_s\tsim_seed"]
    for session, (folder, short, channels) in E2E_SESSIONS.items():
        monkey = session.split("_")[0]
        rows.append(f"{session}\t{short}\t{monkey}\t{channels}\tchallenge\t\tzenodo\t\t")
        mat = work / f"{session}.mat"
        simulate.simulate_to_mat(mat, monkey, SIM_SECONDS, 3)
        files[f"/zenodo/{session}.mat"] = mat.read_bytes()
        manifest += [line for line in real if line.startswith(f"models/{folder}/tinyRSNN-")]
        shutil.copy(AUTHORS / f"results_tinyRSNN_{session}.json", work / "authors")
        for seed in range(1, 6):
            files[f"/models/{folder}/tinyRSNN-{seed}.pth"] = (FIXTURES / folder / f"tinyRSNN-{seed}.pth").read_bytes()
            big = work / f"big_{folder}_{seed}.pth"
            released.save_released(big, small_big(channels, BIG_HIDDEN, seed=seed))
            files[f"/models/{folder}/bigRSNN-{seed}.pth"] = big.read_bytes()
            manifest.append(f"models/{folder}/bigRSNN-{seed}.pth\t{session}\tbigRSNN\t{seed}\t{git_blob_sha1(big)}\t\t")
        (work / "authors" / f"results_maxR2_{session}.json").write_text(
            json.dumps(_big_authors_file(BIG_HIDDEN, channels)))
    # the record metadata Zenodo publishes, with the md5 of every served session file
    entries = [{"key": path.rsplit("/", 1)[1], "size": len(body), "checksum": "md5:" + hashlib.md5(body).hexdigest()}
               for path, body in files.items() if path.startswith("/zenodo/")]
    files["/api/records/583331"] = json.dumps({"id": 583331, "files": entries}).encode()
    (work / "config").mkdir()
    (work / "resources").mkdir()
    shutil.copy(ROOT / "resources/paper_results.yaml", work / "resources")
    (work / "config/sessions.tsv").write_text("\n".join(rows) + "\n")
    (work / "manifest.tsv").write_text("\n".join(manifest) + "\n")
    return files, list(E2E_SESSIONS)


@pytest.mark.slow
def test_released_networks_end_to_end(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    files, _ = _setup(work)
    torch.set_num_threads(1)
    with file_server(files) as srv:
        config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
        config.update(sessions_table="config/sessions.tsv", models=["tinyRSNN_published", "bigRSNN_published"],
                      device="cpu")
        config["zenodo"] = {"base_url": f"{srv.url}/zenodo", "record_api": f"{srv.url}/api/records/583331",
                            "retries": 1, "backoff_s": 0.1, "timeout_s": 30}
        config["published"] = {"base_url": srv.url, "manifest": str(work / "manifest.tsv"),
                               "authors_results": str(work / "authors")}
        (work / "config/config.yaml").write_text(yaml.safe_dump(config))
        t0 = time.perf_counter()
        result = subprocess.run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(work), "--cores", "2"],
                                capture_output=True, text=True, timeout=E2E_BUDGET_S)
        seconds = time.perf_counter() - t0
    assert result.returncode == 0, result.stderr[-3000:]
    print(f"end-to-end released-network run: {seconds:.0f} s")
    assert seconds < E2E_BUDGET_S
    assert not any(w in result.stderr for w in ("rule pretrain", "rule finetune", "rule prune"))
    t1, t2 = work / "results/tables/table1_r2.md", work / "results/tables/table2_compute.md"
    assert table_header(t1)[3:] == ["tinyRSNN (released)", "bigRSNN (released)"]
    assert [r[0] for r in table_rows(t1)] == ["I1", "L1", "Mean"]
    labels = {(r[0], r[1]) for r in table_rows(t2)}
    assert {("tinyRSNN (released)", "I1"), ("bigRSNN (released)", "L1")} <= labels
    evals = json.loads((work / "results/eval/bigRSNN_published/loco_20170210_03/seed3.json").read_text())
    assert evals["model"] == "bigRSNN_published" and evals["seed"] == 3 and evals["device"] == "cpu"
    check = (work / "results/tables/published_check.md").read_text()
    assert "## tinyRSNN (released)" in check and "## bigRSNN (released)" in check
    assert "not the verified Zenodo file" in check and "multisets" in check
    verdicts = {}
    for line in check.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 9 and cells[0] in ("I1", "L1"):
            verdicts.setdefault(cells[3], []).append(cells[8])
    for column in ("Footprint", "Connection sparsity", "Dense"):
        assert verdicts[column] == ["pass"] * 20, column  # 2 models x 2 sessions x 5 seeds
    assert "FAIL" in verdicts["R2"]  # simulated data: R2 differs from the authors'
    assert set(verdicts["Effective ACs"]) == {"shown"}
