"""Dry-run every `snakemake` command line of README.md, so that the README's examples keep working.

    python tests/readme_commands.py [--list] [--report]

Sources of command lines:
- every line of a fenced code block that starts with `snakemake` (backslash continuations
  joined, `#` comments dropped); it runs with `-n` added, from the repository root;
- every option fragment (inline code starting with `--`) of a Markdown table row, e.g. the
  switch table's `--config 'seeds=[1,2]'`: appended to `snakemake -n --configfile
  config/demo.yaml` and to `snakemake -n` (the paper config). A fragment that names a session
  of config/sessions.tsv missing from the demo's table runs with the paper config only.

The SLURM line (`--profile profiles/slurm`) runs only where snakemake-executor-plugin-slurm is
installed. A `--report` line builds a report (Snakemake ignores -n there), so it runs only with
--report, after the demo, with `--configfile config/demo.yaml` appended. Exit status 1 when a
command fails, naming it.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ("--configfile", "config/demo.yaml")
FENCE = re.compile(r"^```")
INLINE_CODE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class DryRun:
    """One command to run: where it comes from and its argv."""

    source: str
    argv: tuple[str, ...]


def code_block_lines(text: str) -> list[str]:
    """Lines inside fenced code blocks, backslash continuations joined."""
    lines, inside, pending = [], False, ""
    for raw in text.splitlines():
        if FENCE.match(raw.strip()):
            inside, pending = not inside, ""
            continue
        if not inside:
            continue
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1].rstrip() + " "
            continue
        pending = ""
        lines.append(line)
    return lines


def snakemake_commands(text: str) -> list[list[str]]:
    """The `snakemake ...` command lines of the fenced code blocks, as argv lists without comments."""
    commands = []
    for line in code_block_lines(text):
        if line.split(maxsplit=1)[:1] != ["snakemake"]:
            continue
        commands.append(shlex.split(line, comments=True))
    return commands


def table_fragments(text: str) -> list[list[str]]:
    """Option fragments (inline code starting with `--`) of Markdown table rows, as argv lists."""
    fragments = []
    for line in text.splitlines():
        if not line.lstrip().startswith("|"):
            continue
        for code in INLINE_CODE.findall(line):
            if code.startswith("--"):
                fragments.append(shlex.split(code))
    return fragments


def session_ids(table: Path) -> set[str]:
    """Session ids (first column) of a sessions TSV."""
    rows = table.read_text().splitlines()[1:]
    return {row.split("\t", 1)[0] for row in rows if row.strip()}


def with_dry_run(argv: list[str]) -> tuple[str, ...]:
    """argv with `-n` inserted right after `snakemake` (so no multi-value option can swallow it), unless present."""
    if {"-n", "--dry-run", "--dryrun"} & set(argv):
        return tuple(argv)
    return (argv[0], "-n", *argv[1:])


def plan(text: str, root: Path = ROOT, slurm: bool | None = None, report: bool = False) -> list[DryRun]:
    """The dry runs for a README text (see the module docstring for the rules)."""
    if slurm is None:
        slurm = importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None
    runs = []
    for argv in snakemake_commands(text):
        source = shlex.join(argv)
        if "--report" in argv:
            if report:
                runs.append(DryRun(source, (*argv, *DEMO)))
            continue
        if "--profile" in argv and not slurm and any("slurm" in a for a in argv):
            continue
        runs.append(DryRun(source, with_dry_run(argv)))
    paper_only = session_ids(root / "config/sessions.tsv") - session_ids(root / "config/sessions_demo.tsv")
    for fragment in table_fragments(text):
        source = shlex.join(fragment)
        if not any(sid in source for sid in paper_only):
            runs.append(DryRun(f"{source} (demo config)", ("snakemake", "-n", *DEMO, *fragment)))
        runs.append(DryRun(f"{source} (paper config)", ("snakemake", "-n", *fragment)))
    return runs


def main(argv: list[str] | None = None) -> int:
    """Run (or list) the README's command lines; 1 when one fails."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--list", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--report", action="store_true", help="also run the --report line (after the demo)")
    args = parser.parse_args(argv)
    runs = plan((ROOT / "README.md").read_text(), report=args.report)
    exe = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))
    failed = []
    for run in runs:
        print(f"$ {shlex.join(run.argv)}", flush=True)
        if args.list:
            continue
        result = subprocess.run([exe, *run.argv[1:]], cwd=ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            failed.append(run.source)
            print(result.stdout[-2000:] + result.stderr[-4000:], flush=True)
            print(f"FAILED (exit {result.returncode}): README command {run.source}", flush=True)
    print(f"{len(runs)} README command lines, {len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
