"""The Snakemake workflow: planning, config validation, packaging pins (no training runs)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))


def snakemake(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run snakemake in the repository and capture its output."""
    return subprocess.run([SNAKEMAKE, "--forceall", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def job_counts(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a dry run."""
    counts: dict[str, int] = {}
    block = output.split("Job stats:", 1)[1]
    for line in block.splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts


def pins(lines: list[str]) -> dict[str, str]:
    """name -> version of `name==version` lines."""
    out = {}
    for line in lines:
        m = re.match(r"^\s*-?\s*([A-Za-z0-9_.\-]+)==([^\s#]+)", line)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def test_conda_envs_pin_the_same_versions_as_requirements():
    req = pins((ROOT / "requirements.txt").read_text().splitlines())
    assert req["torch"] == "2.13.0" and req["neurobench"] == "2.3.0"
    envs = sorted((ROOT / "envs").glob("*.yaml"))
    assert envs
    for env in envs:
        assert pins(env.read_text().splitlines()) == req, env.name


def test_default_profile_sets_no_executor_cores_or_jobs():
    profile = yaml.safe_load((ROOT / "profiles/default/config.yaml").read_text())
    assert not {"executor", "cores", "jobs", "local-cores"} & set(profile)


def test_demo_dry_run_plans_every_stage_for_every_session():
    result = snakemake("-n", "--configfile", "config/demo.yaml")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    # 4 synthetic sessions; 2 challenge sessions x 2 seeds; 2 monkeys.
    assert counts["simulate_session"] == 4 and counts["preprocess"] == 4
    assert "download" not in counts
    assert counts["pretrain"] == 2 * 2 * 2
    assert counts["finetune"] == 2 * 2 * 2
    assert counts["prune"] == 2 * 2 and counts["to_half"] == 2 * 2
    assert counts["evaluate"] == 2 * 2 * 2 + 2
    assert counts["tables"] == 1 and counts["metrics_table"] == 1


def test_paper_dry_run_downloads_and_preprocesses_every_session():
    result = snakemake("-n")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    assert counts["download"] == 40 and counts["preprocess"] == 40
    assert counts["pretrain"] == 2 * 2 * 5
    assert counts["finetune"] == 2 * 6 * 5
    assert counts["prune"] == 6 * 5


def test_one_target_plans_only_what_that_session_needs():
    target = "results/results_tinyRSNN_indy_synth_01.json"
    result = snakemake("-n", target, "--configfile", "config/demo.yaml")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    assert counts == {
        "simulate_session": 2,
        "preprocess": 2,
        "pretrain": 2,
        "finetune": 2,
        "prune": 2,
        "to_half": 2,
        "evaluate": 2,
        "summarize": 1,
        "total": 15,
    }
    assert "loco_synth" not in result.stdout


def test_sessions_override_selects_one_challenge_session():
    result = snakemake("-n", "--configfile", "config/demo.yaml", "--config", "sessions=[loco_synth_01]")
    assert result.returncode == 0, result.stderr
    counts = job_counts(result.stdout)
    # the Loco pretraining set is unchanged (2 sessions); nothing of Indy is planned
    assert counts["preprocess"] == 2 and counts["finetune"] == 2 * 2
    assert "indy_synth" not in result.stdout


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("trainin={}", "trainin"),
        ("sessions=[indy_synth_99]", "sessions"),
        ("seeds=one", "seeds"),
        ("device=gpu", "device"),
        ("sessions=[indy_synth_02]", "sessions"),
    ],
)
def test_bad_config_stops_with_one_line_naming_the_key(override, key):
    result = snakemake("-n", "--configfile", "config/demo.yaml", "--config", override)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert f"'{key}" in errors[0]
    assert "Traceback" not in result.stderr


def test_bad_sessions_table_names_the_file_and_column(tmp_path):
    table = (ROOT / "config/sessions_demo.tsv").read_text().replace("\t96\t", "\t95\t", 1)
    bad = tmp_path / "bad.tsv"
    bad.write_text(table)
    result = snakemake("-n", "--configfile", "config/demo.yaml", "--config", f"sessions_table={bad}")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(bad) in errors[0] and "channels" in errors[0], result.stderr


def test_synthetic_ids_must_not_look_like_zenodo_ids(tmp_path):
    table = (ROOT / "config/sessions_demo.tsv").read_text().replace("indy_synth_02", "indy_20160624_03")
    bad = tmp_path / "bad.tsv"
    bad.write_text(table)
    result = snakemake("-n", "--configfile", "config/demo.yaml", "--config", f"sessions_table={bad}")
    assert result.returncode != 0
    assert "'id'" in result.stderr and str(bad) in result.stderr
