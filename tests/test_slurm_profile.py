"""The SLURM profile: keys and values, checked against Snakemake and the installed plugin (no SLURM)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "profiles" / "slurm" / "config.yaml"
WORKFLOW_PROFILE = ROOT / "profiles" / "default" / "config.yaml"


@pytest.fixture(scope="module")
def profile() -> dict:
    """The SLURM profile as plain YAML."""
    data = yaml.safe_load(PROFILE.read_text())
    assert isinstance(data, dict)
    return data


def test_executor_and_scheduling(profile: dict) -> None:
    """SLURM executor, a job limit, a latency wait and retries for jobs killed for time."""
    assert profile["executor"] == "slurm"
    assert isinstance(profile["jobs"], int) and profile["jobs"] >= 1
    assert isinstance(profile["latency-wait"], int) and profile["latency-wait"] >= 5
    assert isinstance(profile["retries"], int) and profile["retries"] >= 1


def test_status_command_and_logs(profile: dict) -> None:
    """squeue works without an accounting database; logs of successful jobs are kept."""
    assert profile["slurm-status-command"] == "squeue"
    assert profile["slurm-keep-successful-logs"] is True
    init = profile.get("slurm-init-seconds-before-status-checks", 40)
    assert isinstance(init, int) and init >= 1


def test_default_resources(profile: dict) -> None:
    """Runtime, memory and CPUs have defaults; account and partition are left to the user."""
    res = profile["default-resources"]
    assert isinstance(res, dict)
    assert isinstance(res["runtime"], int) and res["runtime"] > 0
    assert isinstance(res["mem_mb"], int) and res["mem_mb"] > 0
    assert res["cpus_per_task"] == "threads" or (
        isinstance(res["cpus_per_task"], int) and res["cpus_per_task"] >= 1)
    assert "slurm_account" not in res and "slurm_partition" not in res
    assert "gpu" not in res


def test_slurm_options_exist_in_plugin(profile: dict) -> None:
    """Every slurm-* key names a setting of the installed snakemake-executor-plugin-slurm."""
    plugin = pytest.importorskip("snakemake_executor_plugin_slurm")
    fields = {f.name.replace("_", "-") for f in dataclasses.fields(plugin.ExecutorSettings)}
    keys = [k for k in profile if k.startswith("slurm-")]
    assert keys
    for key in keys:
        assert key.removeprefix("slurm-") in fields, f"{key} is not an option of the plugin"
    status = dataclasses.fields(plugin.ExecutorSettings)
    assert "squeue" in next(f for f in status if f.name == "status_command").metadata["help"]


def test_snakemake_parses_profile() -> None:
    """Snakemake's own profile parser turns the file into command-line arguments."""
    profiles = pytest.importorskip("snakemake.profiles")
    with PROFILE.open() as stream:
        args = profiles.ProfileConfigFileParser().parse(stream)
    assert args["executor"] == "slurm"
    assert args["slurm-keep-successful-logs"] == "True"
    assert "cpus_per_task=threads" in args["default-resources"] or any(
        a.startswith("cpus_per_task=") for a in args["default-resources"])


def test_no_key_shadowed_by_workflow_profile(profile: dict) -> None:
    """profiles/default is loaded on top and would silently override a shared key."""
    if not WORKFLOW_PROFILE.is_file():
        pytest.skip("no workflow profile")
    default = yaml.safe_load(WORKFLOW_PROFILE.read_text()) or {}
    assert not set(default) & set(profile), set(default) & set(profile)


class _Resources(dict):
    """Minimal stand-in for a job's resources (mapping and attribute access)."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


def _sbatch_call(**resources) -> str:
    """The plugin's sbatch command line for a one-thread job with these resources."""
    submit = pytest.importorskip("snakemake_executor_plugin_slurm.submit_string")
    utils = pytest.importorskip("snakemake_executor_plugin_slurm.utils")
    job = SimpleNamespace(resources=_Resources(resources), threads=1)
    params = {"run_uuid": "u", "slurm_logfile": "l.log", "comment_str": "rule_x",
              "account": "", "partition": "", "workdir": "/tmp"}
    settings = SimpleNamespace(requeue=False, no_requeue=False, qos=None, reservation=None)
    return submit.get_submit_command(job, params, settings=settings) + utils.set_gres_string(job)


def test_gpu_zero_emits_no_gpu_request() -> None:
    """gpu=0 (train_gpus: 0) gives a plain CPU job; gpu=1 asks for one GPU."""
    cpu = _sbatch_call(runtime=30, mem_mb=1000, gpu=0, cpus_per_task=1)
    assert "gpu" not in cpu
    assert "--cpus-per-task=1" in cpu and "--ntasks=1" in cpu
    gpu = _sbatch_call(runtime=30, mem_mb=1000, gpu=1, cpus_per_task=1)
    assert "--gpus=1" in gpu
