"""The README command-line extractor of tests/readme_commands.py (CI dry-runs what it finds)."""

from __future__ import annotations

from pathlib import Path

from readme_commands import DEMO, code_block_lines, plan, snakemake_commands, table_fragments

ROOT = Path(__file__).resolve().parents[1]

SAMPLE = """
Prose with `snakemake --cores 1` inline is not a command.

```bash
source .venv/bin/activate
snakemake --cores 8                       # downloads, then trains
snakemake --profile profiles/slurm \\
    --default-resources runtime=60 mem_mb=4000
snakemake --report results/report.html    # plots and tables
snakemake -n --configfile config/demo.yaml  # already a dry run
make demo
```

| what | how |
|---|---|
| other seeds | `--config 'seeds=[1,2]'` (default `auto`) |
| one session | `--config 'sessions=[indy_20160622_01]'` |

```
results/preprocessed/{session}.h5   not a command: snakemake in the middle
```
"""


def test_code_blocks_join_continuations_and_keep_only_snakemake_lines():
    assert "snakemake --profile profiles/slurm --default-resources runtime=60 mem_mb=4000" in code_block_lines(SAMPLE)
    assert snakemake_commands(SAMPLE) == [
        ["snakemake", "--cores", "8"],
        ["snakemake", "--profile", "profiles/slurm", "--default-resources", "runtime=60", "mem_mb=4000"],
        ["snakemake", "--report", "results/report.html"],
        ["snakemake", "-n", "--configfile", "config/demo.yaml"],
    ]


def test_table_fragments_are_the_option_code_spans_of_table_rows():
    assert table_fragments(SAMPLE) == [["--config", "seeds=[1,2]"], ["--config", "sessions=[indy_20160622_01]"]]


def test_plan_adds_dry_run_configs_and_gates_slurm_and_report():
    runs = plan(SAMPLE, ROOT, slurm=False, report=False)
    assert [r.argv for r in runs] == [
        ("snakemake", "-n", "--cores", "8"),
        ("snakemake", "-n", *DEMO),  # not `-n -n`
        ("snakemake", "-n", *DEMO, "--config", "seeds=[1,2]"),
        ("snakemake", "-n", "--config", "seeds=[1,2]"),
        # a paper session is not in the demo's sessions table: paper config only
        ("snakemake", "-n", "--config", "sessions=[indy_20160622_01]"),
    ]
    with_all = [r.argv for r in plan(SAMPLE, ROOT, slurm=True, report=True)]
    slurm = ("snakemake", "-n", "--profile", "profiles/slurm", "--default-resources", "runtime=60", "mem_mb=4000")
    assert slurm in with_all
    assert ("snakemake", "--report", "results/report.html", *DEMO) in with_all


def test_the_readme_has_the_documented_commands():
    runs = plan((ROOT / "README.md").read_text(), ROOT, slurm=True, report=True)
    argvs = [r.argv for r in runs]
    assert ("snakemake", "-n", "--cores", "8") in argvs
    assert ("snakemake", "-n", *DEMO, "--config", "seeds=[1,2]") in argvs
    assert ("snakemake", "-n", "--config", "seeds=[1,2]") in argvs
    assert any("--report" in a for a in argvs) and any("profiles/slurm" in a for a in argvs)
    assert any("--unlock" in a for a in argvs)
    assert all(a[0] == "snakemake" for a in argvs) and len(argvs) >= 15
