"""Every rule that computes records its wall time and peak memory: a `benchmark:` file per job."""

from __future__ import annotations

import re
from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

ROOT = Path(__file__).resolve().parents[1]


def rules() -> dict[str, object]:
    """Snakemake's rule objects of the workflow (paper config)."""
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(resource_settings=ResourceSettings(), config_settings=ConfigSettings(),
                                snakefile=ROOT / "Snakefile", workdir=ROOT)
        return {r.name: r for r in workflow._workflow.rules}


def test_every_computing_rule_has_a_benchmark_file_per_job():
    found = rules()
    assert {"pretrain", "finetune", "prune", "evaluate", "preprocess", "download", "tables"} <= set(found)
    for name, rule in found.items():
        if name == "all":
            continue
        bench = rule.benchmark
        assert bench is not None, f"rule {name} has no benchmark"
        path = str(bench)
        assert path.startswith(f"results/benchmarks/{name}/") and path.endswith(".tsv"), (name, path)
        # one file per job: every wildcard of the rule's outputs appears in the benchmark path
        wildcards = set(re.findall(r"{(\w+)}", " ".join(str(o) for o in rule.output)))
        assert wildcards <= set(re.findall(r"{(\w+)}", path)), (name, path)
