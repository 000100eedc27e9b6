"""Rules that fetch from the internet are localrules: a cluster run never schedules them on compute nodes."""

from __future__ import annotations

from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

ROOT = Path(__file__).resolve().parents[1]
FETCHING_RULES = {"download", "zenodo_record", "fetch_published"}  # every rule whose job reaches the network


def local_rules() -> set[str]:
    """The rules Snakemake reads as localrules from the Snakefile (paper config)."""
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(),
            snakefile=ROOT / "Snakefile",
            workdir=ROOT,
        )
        return set(workflow._workflow._localrules)


def test_fetching_rules_are_localrules():
    local = local_rules()
    assert FETCHING_RULES <= local, FETCHING_RULES - local
    # compute-heavy rules still go to the cluster
    assert not {"pretrain", "finetune", "prune", "evaluate", "preprocess"} & local
