"""Reruns follow the params each job uses: planned with `snakemake -n` on a recorded (touched) tiny run."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rsnn_decoding.config import load_config
from rsnn_decoding.network.config import model_config_from
from rsnn_decoding.rule_params import network_params, stage_params, training_params
from rsnn_decoding.training.config import train_config_from

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))

# One challenge session, one seed, one epoch per stage: only the planning is exercised.
TINY = {
    "sessions_table": "config/sessions_demo.tsv",
    "sessions": ["indy_synth_01"],
    "pretrain_set": "challenge",
    "seeds": [1],
    "models": ["tinyRSNN", "ridge"],
    "device": "cpu",
    "network": {
        "tinyRSNN": {"hidden": 8, "heads": [[10, 50]], "upper_reg_strength": 0.01, "prune": True, "half": True},
        "bigRSNN": {"hidden": 8, "heads": [[10, 50]], "upper_reg_strength": 0.0, "prune": False, "half": False},
    },
    "training": {
        "lr": 0.002,
        "batch_size": 8,
        "window": 500,
        "offsets": [0],
        "pretrain": {"epochs": 1, "t_max": 1},
        "finetune": {"epochs": 1, "t_max": 1},
    },
    "pruning": {
        "epochs": 1,
        "t_max": 1,
        "p_start": 0.4,
        "steps": [0.1],
        "tolerance": 0.02,
        "p_max": 0.5,
        "max_rounds": 1,
    },
}


def run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile in workdir."""
    cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), *args]
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=300)


def planned(workdir: Path, config: dict) -> dict[str, int]:
    """Jobs a dry run plans for `config` (rule -> count; empty when nothing is to be done)."""
    (workdir / "variant.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = run(workdir, "-n", "--configfile", "variant.yaml")
    assert result.returncode == 0, result.stderr
    if "Nothing to be done" in result.stdout + result.stderr:
        return {}
    counts: dict[str, int] = {}
    for line in result.stdout.split("Job stats:", 1)[1].splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        counts[parts[0]] = int(parts[1])
    return counts


def reordered(value):
    """The same config with every mapping's keys in reverse order."""
    if isinstance(value, dict):
        return {k: reordered(value[k]) for k in reversed(list(value))}
    return value


@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory) -> Path:
    """A work directory whose outputs exist and whose Snakemake metadata records the tiny config."""
    workdir = tmp_path_factory.mktemp("rerun")
    shutil.copytree(ROOT / "config", workdir / "config")
    (workdir / "resources").mkdir()
    shutil.copy(ROOT / "resources/paper_results.yaml", workdir / "resources")
    shutil.copytree(ROOT / "resources/published/authors_results", workdir / "resources/published/authors_results")
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(TINY, sort_keys=False))
    dry = run(workdir, "-n", "--configfile", "tiny.yaml")
    assert dry.returncode == 0, dry.stderr
    outputs = {
        name.strip()
        for line in dry.stdout.splitlines()
        if line.startswith("    output: ")
        for name in line.removeprefix("    output: ").split(",")
    }
    assert "results/models/tinyRSNN/pretrain/indy/seed1.pt" in outputs
    for name in outputs:  # placeholders; --touch records the metadata (params included) of every job
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        (workdir / name).write_bytes(b"")
    touched = run(workdir, "--touch", "--cores", "1", "--configfile", "tiny.yaml")
    assert touched.returncode == 0, touched.stderr
    assert planned(workdir, TINY) == {}
    return workdir


@pytest.mark.slow
def test_finetune_epochs_rerun_finetuning_and_dependants_never_pretraining(recorded_run):
    config = copy.deepcopy(TINY)
    config["training"]["finetune"]["epochs"] = 2
    counts = planned(recorded_run, config)
    assert counts["finetune"] == 1 and counts["prune"] == 1 and counts["to_half"] == 1
    assert counts["evaluate"] == 1  # tinyRSNN only: the ridge evaluation does not depend on fine-tuning
    assert "pretrain" not in counts and "fit_ridge" not in counts and "preprocess" not in counts


@pytest.mark.slow
def test_reordered_config_keys_rerun_nothing(recorded_run):
    assert list(reordered(TINY)) != list(TINY)
    assert planned(recorded_run, reordered(TINY)) == {}


@pytest.mark.slow
def test_pruning_tolerance_reruns_pruning_and_dependants_only(recorded_run):
    config = copy.deepcopy(TINY)
    config["pruning"]["tolerance"] = 0.05
    counts = planned(recorded_run, config)
    assert counts["prune"] == 1 and counts["to_half"] == 1 and counts["evaluate"] == 1
    assert not {"pretrain", "finetune", "fit_ridge", "preprocess"} & set(counts)


@pytest.mark.slow
def test_float16_switch_reruns_no_training(recorded_run):
    config = copy.deepcopy(TINY)
    config["network"]["tinyRSNN"]["half"] = False  # evaluate the pruned float32 checkpoint instead
    counts = planned(recorded_run, config)
    assert counts["evaluate"] == 1
    assert not {"pretrain", "finetune", "prune", "to_half"} & set(counts)


def test_rule_params_hold_only_the_values_each_stage_reads():
    config = load_config(ROOT / "config/config.yaml")
    assert network_params(config, "tinyRSNN", "pretrain") == {
        "dropout": 0.3,
        "heads": [[10, 50]],
        "hidden": 64,
        "tau_mem_ms": 20,
        "tau_syn_ms": 10,
        "upper_reg_strength": 0.01,
    }
    assert network_params(config, "bigRSNN", "finetune") == {"upper_reg_strength": 0.0}
    expected = {"batch_size": 250, "lr": 0.002, "offsets": [0, 100, 200, 300, 400], "window": 500}
    assert training_params(config) == expected
    assert stage_params(config, "finetune") == {"epochs": 200, "t_max": 200}
    assert list(stage_params(reordered(config), "prune")) == sorted(config["pruning"])
    assert repr(training_params(reordered(config))) == repr(training_params(config))


def test_rule_params_build_the_same_model_and_training_configs_as_the_whole_sections():
    config = load_config(ROOT / "config/config.yaml")
    for name in ("tinyRSNN", "bigRSNN"):
        whole = config["network"][name]
        assert model_config_from(name, network_params(config, name, "pretrain")) == model_config_from(name, whole)
        for stage in ("pretrain", "finetune"):
            used = train_config_from(
                training_params(config), stage_params(config, stage), network_params(config, name, stage)
            )
            assert used == train_config_from(config["training"], config["training"][stage], whole)
