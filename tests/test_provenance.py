"""A preprocessed file of another session, or of a modified raw file, is caught by every reader (issue 14 item 5)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from rsnn_decoding.data import preprocess, simulate
from rsnn_decoding.data.provenance import check_preprocessed, write_source_record
from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import sha256_file

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))


@pytest.fixture(scope="module")
def two_sessions(tmp_path_factory):
    """Two 20 s Indy sessions: raw .mat, checksum record and preprocessed .h5 of each."""
    root = tmp_path_factory.mktemp("prov")
    out = {}
    for sid, seed in (("indy_a", 1), ("indy_b", 2)):
        mat, rec, h5 = root / f"{sid}.mat", root / f"{sid}.checksums.json", root / "pre" / f"{sid}.h5"
        simulate.simulate_to_mat(mat, "indy", 20.0, seed)
        write_source_record(mat, rec, source="simulate_session")
        preprocess.preprocess_file(mat, h5, session=sid, monkey="indy")
        out[sid] = (mat, rec, h5)
    return out


def _one_line_error(fn, *needles: str) -> str:
    with pytest.raises(UserError) as err:
        fn()
    msg = str(err.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, msg
    return msg


def test_source_record_holds_the_raw_sha256(two_sessions) -> None:
    mat, rec, _ = two_sessions["indy_a"]
    doc = json.loads(rec.read_text())
    assert doc["sha256"] == sha256_file(mat) and doc["bytes"] == mat.stat().st_size
    assert doc["source"] == "simulate_session"


def test_right_file_passes(two_sessions) -> None:
    for sid, (_, rec, h5) in two_sessions.items():
        check_preprocessed(h5, sid, rec)


def test_other_session_in_place_is_caught(two_sessions, tmp_path) -> None:
    _, rec_a, _ = two_sessions["indy_a"]
    swapped = tmp_path / "indy_a.h5"
    shutil.copyfile(two_sessions["indy_b"][2], swapped)  # indy_b's file where indy_a's belongs
    _one_line_error(lambda: check_preprocessed(swapped, "indy_a", rec_a), str(swapped), "'indy_b'", "'indy_a'")


def test_other_session_relabelled_is_caught_by_source_sha(two_sessions, tmp_path) -> None:
    _, rec_a, _ = two_sessions["indy_a"]
    forged = tmp_path / "indy_a.h5"
    shutil.copyfile(two_sessions["indy_b"][2], forged)
    with h5py.File(forged, "r+") as f:
        f.attrs["session"] = "indy_a"  # the right label on the wrong data
    _one_line_error(lambda: check_preprocessed(forged, "indy_a", rec_a), str(forged), str(rec_a), "sha256")


def test_modified_raw_file_is_caught(two_sessions, tmp_path) -> None:
    mat_a, rec_a, _ = two_sessions["indy_a"]
    modified = tmp_path / "indy_a.mat"
    shutil.copyfile(mat_a, modified)
    with h5py.File(modified, "r+") as f:
        f["cursor_pos"][0, 10] += 1.0  # one changed sample after the download was recorded
    h5 = tmp_path / "indy_a.h5"
    preprocess.preprocess_file(modified, h5, session="indy_a", monkey="indy")
    _one_line_error(lambda: check_preprocessed(h5, "indy_a", rec_a), str(h5), "modified or replaced")


def test_missing_or_bad_record_names_it(two_sessions, tmp_path) -> None:
    _, _, h5 = two_sessions["indy_a"]
    missing = tmp_path / "none.checksums.json"
    _one_line_error(lambda: check_preprocessed(h5, "indy_a", missing), str(missing), "not found")
    bad = tmp_path / "bad.checksums.json"
    bad.write_text('{"md5": "00"}')
    _one_line_error(lambda: check_preprocessed(h5, "indy_a", bad), str(bad), "sha256")


@pytest.mark.slow
def test_workflow_reader_stops_on_a_swapped_preprocessed_file(tmp_path) -> None:
    """Real Snakemake run: fit_ridge on indy_synth_01 with indy_synth_02's .h5 in its place."""
    work = tmp_path / "w"
    (work / "config").mkdir(parents=True)
    table = (ROOT / "config" / "sessions_demo.tsv").read_text().replace("\t90\t", "\t40\t")
    (work / "config" / "sessions_demo.tsv").write_text(table)
    shutil.copyfile(ROOT / "config" / "demo.yaml", work / "config" / "demo.yaml")
    base = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(work), "--configfile", "config/demo.yaml",
            "--cores", "1"]
    first = ["results/models/ridge/indy_synth_01.json", "results/preprocessed/indy_synth_02.h5"]
    run = subprocess.run([*base, *first], capture_output=True, text=True, timeout=600, cwd=work)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads((work / "resources/synthetic/indy_synth_01.checksums.json").read_text())["sha256"] == \
        sha256_file(work / "resources/synthetic/indy_synth_01.mat")
    target = work / "results/preprocessed/indy_synth_01.h5"
    shutil.copyfile(work / "results/preprocessed/indy_synth_02.h5", target)
    # the copied .h5 is newer than the ridge model, so fit_ridge reruns and reads it
    run = subprocess.run([*base, first[0]], capture_output=True, text=True, timeout=600, cwd=work)
    assert run.returncode != 0
    log = (work / "results/logs/fit_ridge/indy_synth_01.log").read_text()
    errors = [line for line in log.splitlines() if "error:" in line]
    assert len(errors) == 1 and "results/preprocessed/indy_synth_01.h5: holds session 'indy_synth_02'" in errors[0]
    assert not (work / "results/models/ridge/indy_synth_01.json").exists()
