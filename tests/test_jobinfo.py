"""Provenance (issue 13 item 9): the `provenance` block of result JSONs and the onstart run file."""

from __future__ import annotations

import hashlib
import json
import platform
import shlex
import shutil
import subprocess
import sys
from html import escape as html_escape
from importlib import metadata
from pathlib import Path

import pytest
import torch
import yaml
from test_evaluate import make_session, save_ckpt, small_net, write_session
from test_rerun_params import ROOT, SNAKEMAKE, TINY

import rsnn_decoding
from rsnn_decoding import jobinfo
from rsnn_decoding.errors import UserError
from rsnn_decoding.evaluation import jobs
from rsnn_decoding.evaluation import ridge as ridge_module
from rsnn_decoding.training import checkpoint

torch.set_num_threads(1)

GIT_ID = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]


@pytest.fixture
def no_repo_above(tmp_path, monkeypatch) -> Path:
    """tmp_path, with git forbidden to look for a repository above it."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return tmp_path


def make_repo(path: Path) -> str:
    """A git repository at `path` with one commit of a.txt; its HEAD as `git rev-parse HEAD` prints it."""
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    (path / "a.txt").write_text("one\n")
    subprocess.run(["git", "-C", str(path), "add", "a.txt"], check=True)
    subprocess.run(["git", "-C", str(path), *GIT_ID, "commit", "-qm", "one"], check=True)
    return subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()


# ----------------------------------------------------------------------------- helpers


def test_input_records_hold_the_path_and_hashlibs_sha256(tmp_path: Path) -> None:
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(bytes(range(256)) * 5000)
    b.write_bytes(b"")
    out = jobinfo.input_records({"model": a, "evals": [str(b), a]})
    assert out["model"] == {"path": a.as_posix(), "sha256": hashlib.sha256(a.read_bytes()).hexdigest()}
    assert [r["path"] for r in out["evals"]] == [b.as_posix(), a.as_posix()]
    assert out["evals"][0]["sha256"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    with pytest.raises(UserError, match="missing.h5") as err:
        jobinfo.input_records({"data": tmp_path / "missing.h5"})
    assert "\n" not in str(err.value)


def test_versions_are_the_installed_distributions() -> None:
    found = jobinfo.versions()
    assert found == {
        "rsnn_decoding": rsnn_decoding.__version__,
        "torch": metadata.version("torch"),
        "neurobench": metadata.version("neurobench"),
        "snakemake": metadata.version("snakemake"),
        "python": platform.python_version(),
    }
    assert found["torch"].split("+")[0] == torch.__version__.split("+")[0]


def test_jobinfo_imports_neither_torch_nor_neurobench() -> None:
    code = ("import sys, rsnn_decoding.jobinfo as j; j.versions(); j.git_commit('.'); "
            "assert 'torch' not in sys.modules and 'neurobench' not in sys.modules, 'imported'")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_git_commit_and_dirty_state_of_a_repository(no_repo_above: Path) -> None:
    repo = no_repo_above / "repo"
    head = make_repo(repo)
    (repo / "sub").mkdir()
    assert jobinfo.git_commit(repo) == head and jobinfo.git_commit(repo / "sub") == head
    assert jobinfo.git_dirty(repo) is False
    (repo / "untracked.txt").write_text("x")  # untracked files (results, resources) do not count
    assert jobinfo.git_dirty(repo) is False
    (repo / "a.txt").write_text("two\n")
    assert jobinfo.git_dirty(repo) is True
    assert jobinfo.git_commit(repo) == head


def test_git_state_is_null_outside_a_repository_or_without_git(no_repo_above: Path, monkeypatch) -> None:
    plain = no_repo_above / "plain"
    plain.mkdir()
    assert jobinfo.git_commit(plain) is None and jobinfo.git_dirty(plain) is None
    assert jobinfo.git_commit(no_repo_above / "does_not_exist") is None
    repo = no_repo_above / "repo"
    make_repo(repo)
    monkeypatch.setenv("PATH", str(no_repo_above / "empty_bin"))  # no git executable at all
    assert jobinfo.git_commit(repo) is None and jobinfo.git_dirty(repo) is None


def test_collect_records_inputs_config_versions_and_commit(no_repo_above: Path, caplog) -> None:
    repo = no_repo_above / "repo"
    head = make_repo(repo)
    data = no_repo_above / "d.h5"
    data.write_bytes(b"data")
    run_dir = no_repo_above / "prov"
    run = jobinfo.run_record(["snakemake", "--cores", "2"], repo, {"s1": "synthetic"}, ["c.yaml"], "t.tsv",
                             started=0.0)
    jobinfo.write_run_file(run, run_dir)
    with caplog.at_level("INFO", logger="rsnn_decoding.jobinfo"):
        doc = jobinfo.collect({"data": data}, {"b": (1, 2), "a": {"y": 1, "x": None}}, "cpu", "float16",
                              repo=repo, run_dir=run_dir)
    assert doc == {
        "inputs": {"data": {"path": data.as_posix(), "sha256": hashlib.sha256(b"data").hexdigest()}},
        "config": {"a": {"x": None, "y": 1}, "b": [1, 2]},
        "versions": jobinfo.versions(),
        "device": "cpu",
        "dtype": "float16",
        "git_commit": head,
        "git_dirty": False,
    }
    assert list(doc["config"]) == ["a", "b"] and list(doc["config"]["a"]) == ["x", "y"]
    # the invocation goes to the job's log, never into the result
    assert f"run {run['run_id']}: snakemake --cores 2" in caplog.text
    assert "command_line" not in json.dumps(doc)


def test_agreed_gives_the_shared_value_or_every_distinct_one() -> None:
    assert jobinfo.agreed(["float16", "float16"]) == "float16"
    assert jobinfo.agreed(["float32", "float16", "float32"]) == ["float16", "float32"]
    assert jobinfo.agreed([None, "cpu"]) == ["cpu", None]  # JSON text order: '"cpu"' < 'null'
    assert jobinfo.agreed([]) is None


# ----------------------------------------------------------------------------- run file (onstart)


def test_run_record_describes_the_invocation(no_repo_above: Path) -> None:
    repo = no_repo_above / "repo"
    head = make_repo(repo)
    argv = ["/venv/bin/snakemake", "--cores", "2", "--configfile", "config/demo.yaml", "--config", "seeds=[1, 2]"]
    sessions = {"loco_b": "synthetic", "indy_a": "zenodo", "indy_c": "synthetic"}
    rec = jobinfo.run_record(argv, repo, sessions, ["config/config.yaml", Path("config/demo.yaml")],
                             "config/sessions_demo.tsv", started=1_800_000_000.0)
    assert rec["started_utc"] == "2027-01-15T08:00:00Z"
    assert rec["run_id"].startswith("20270115T080000Z-")
    assert rec["command_line"] == shlex.join(argv) and shlex.split(rec["command_line"]) == argv
    assert rec["git_commit"] == head and rec["git_dirty"] is False
    assert rec["data_source"] == ["synthetic", "zenodo"] and rec["sessions"] == sessions
    assert rec["configfiles"] == ["config/config.yaml", "config/demo.yaml"]
    assert rec["versions"] == jobinfo.versions() and rec["sessions_table"] == "config/sessions_demo.tsv"
    json.dumps(rec)  # plain JSON


def test_write_and_read_run_file(tmp_path: Path) -> None:
    rec = jobinfo.run_record(["snakemake"], tmp_path, {"s": "synthetic"}, [], "t.tsv", started=0.0)
    folder = tmp_path / "results" / "provenance"
    path = jobinfo.write_run_file(rec, folder)
    assert path == folder / f"run-{rec['run_id']}.json"
    assert path.read_bytes() == (folder / "latest.json").read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == sorted([path.name, "latest.json"])  # no temp files left
    assert jobinfo.read_run_file(folder / "latest.json") == rec
    assert jobinfo.read_run_file(tmp_path / "none.json") is None
    (folder / "latest.json").write_text("{broken")
    assert jobinfo.read_run_file(folder / "latest.json") is None  # never an input: unreadable is absent
    (folder / "latest.json").write_text("[1, 2]")
    assert jobinfo.read_run_file(folder / "latest.json") is None


# ----------------------------------------------------------------------------- eval JSON


def test_eval_json_provenance_names_its_inputs_config_and_dtype(no_repo_above: Path) -> None:
    tmp = no_repo_above
    head = make_repo(tmp / "repo")
    h5 = write_session(tmp / "s.h5", make_session(n_steps=1500))
    source = tmp / "s.checksums.json"
    source.write_text('{"sha256": "00"}\n')
    ckpt = save_ckpt(tmp / "seed2.pt", small_net(), seed=2)
    out = tmp / "eval" / "seed2.json"
    jobs.evaluate_to_json("tinyRSNN", ckpt, h5, out, seed=2, batch_steps=64, mode="per_step", device="cpu",
                          source_record=source, repo=tmp / "repo")
    doc = json.loads(out.read_text())
    prov = doc["provenance"]
    assert list(doc) == [k for k in jobs.EVAL_KEYS if k != "evaluation_seconds"] + ["provenance"]
    assert prov["inputs"] == {
        "model": {"path": ckpt.as_posix(), "sha256": hashlib.sha256(ckpt.read_bytes()).hexdigest()},
        "data": {"path": h5.as_posix(), "sha256": hashlib.sha256(h5.read_bytes()).hexdigest()},
        "source": {"path": source.as_posix(), "sha256": hashlib.sha256(source.read_bytes()).hexdigest()},
    }
    assert prov["inputs"]["model"]["sha256"] == doc["checkpoint_sha256"]
    assert prov["config"] == {"device": "cpu", "evaluation.batch_steps": 64, "evaluation.mode": "per_step"}
    assert (prov["device"], prov["dtype"]) == (doc["device"], doc["dtype"]) == ("cpu", "float32")
    assert prov["git_commit"] == head and prov["versions"] == jobinfo.versions()

    ridge = tmp / "ridge.json"
    ridge_module.fit_ridge_model(h5, ridge)
    jobs.evaluate_to_json("ridge", ridge, h5, tmp / "ridge_eval.json", seed=0, batch_steps=64, mode="per_step",
                          device="cuda", repo=tmp / "plain_dir_not_a_repo")
    rprov = json.loads((tmp / "ridge_eval.json").read_text())["provenance"]
    assert set(rprov["inputs"]) == {"model", "data"}  # no source record given
    assert rprov["config"] == {"evaluation.batch_steps": 64}  # closed form on the CPU: mode, device unused
    assert (rprov["device"], rprov["dtype"], rprov["git_commit"]) == ("cpu", "float64", None)


def test_eval_json_of_a_float16_network_records_float16(tmp_path: Path) -> None:
    h5 = write_session(tmp_path / "s.h5", make_session(n_steps=700))
    ckpt = save_ckpt(tmp_path / "seed1.pt", small_net(), seed=1)
    half = tmp_path / "half.pt"
    checkpoint.to_half(ckpt, half)
    jobs.evaluate_to_json("tinyRSNN", half, h5, tmp_path / "e.json", seed=1, batch_steps=64)
    doc = json.loads((tmp_path / "e.json").read_text())
    assert doc["dtype"] == doc["provenance"]["dtype"] == "float16"
    assert doc["provenance"]["config"] == {"device": None, "evaluation.batch_steps": 64, "evaluation.mode": "batched"}


# ----------------------------------------------------------------------------- workflow: onstart and report


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile in `workdir` with the tiny config."""
    cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--configfile", "tiny.yaml", *args]
    done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done


@pytest.mark.slow
def test_onstart_writes_the_run_file_dry_runs_do_not_and_the_report_shows_it(tmp_path: Path) -> None:
    work = tmp_path / "work"
    shutil.copytree(ROOT / "config", work / "config")
    (work / "resources").mkdir()
    shutil.copy(ROOT / "resources/paper_results.yaml", work / "resources")
    shutil.copytree(ROOT / "resources/published/authors_results", work / "resources/published/authors_results")
    (work / "tiny.yaml").write_text(yaml.safe_dump(TINY, sort_keys=False))
    dry = _snakemake(work, "-n")
    assert not (work / "results").exists()  # onstart does not run on a dry run
    outputs = {name.strip() for line in dry.stdout.splitlines() if line.startswith("    output: ")
               for name in line.removeprefix("    output: ").split(",")}
    for name in outputs:  # placeholders: --touch runs the workflow's hooks without computing anything
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_bytes(b"")
    _snakemake(work, "--touch", "--cores", "1")
    folder = work / "results" / "provenance"
    runs = sorted(p.name for p in folder.iterdir())
    assert len(runs) == 2 and "latest.json" in runs
    rec = json.loads((folder / "latest.json").read_text())
    assert (folder / f"run-{rec['run_id']}.json").read_text() == (folder / "latest.json").read_text()
    assert shlex.split(rec["command_line"])[1:] == ["-s", str(ROOT / "Snakefile"), "--configfile", "tiny.yaml",
                                                    "--touch", "--cores", "1"]
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert rec["git_commit"] == (head.stdout.strip() if head.returncode == 0 else None)
    assert rec["sessions"] == {"indy_synth_01": "synthetic"} and rec["data_source"] == ["synthetic"]
    assert rec["configfiles"] == ["tiny.yaml", "config/config.yaml"]
    # the run record reaches the report through config at parse time: no rerun, no new run file
    assert "Nothing to be done" in _snakemake(work, "-n").stdout
    assert sorted(p.name for p in folder.iterdir()) == runs
    _snakemake(work, "--report", "results/report.html")
    html = (work / "results/report.html").read_text()
    assert sorted(p.name for p in folder.iterdir()) == runs
    for text in ("<strong>This run</strong>", rec["git_commit"] or "not a git checkout",
                 html_escape(rec["command_line"]), "Data source: synthetic", f"torch {rec['versions']['torch']}",
                 f"neurobench {rec['versions']['neurobench']}", f"snakemake {rec['versions']['snakemake']}"):
        assert text in html, text
