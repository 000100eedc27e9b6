"""`rsnn-decoding cost`: what each rule of a run cost (from its benchmark files and logs) and the projection
to the paper's configuration (epochs per stage, 5 seeds, an assumed number of pruning rounds)."""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsnn_decoding.config import load_config
from rsnn_decoding.errors import UserError
from rsnn_decoding.paper import config_defaults
from rsnn_decoding.reporting.document import Block, Table, to_markdown, write_document

PAPER_SEEDS = 5
DEFAULT_ROUNDS = 6  # the pruning schedule allows 2 to 10 rounds
TRAINING_RULES = {"pretrain": "pretrain", "finetune": "finetune", "prune": None}
PER_SEED_RULES = {"pretrain", "finetune", "prune", "to_half", "evaluate", "fetch_published"}
EPOCH_LINE = re.compile(r"epoch (\d+)/(\d+) .* (\d+(?:\.\d+)?) s ETA")


@dataclass
class RuleCost:
    """Measured cost of one rule's jobs and its projection."""

    rule: str
    jobs: int = 0
    wall_s: list[float] = field(default_factory=list)
    max_rss_mb: float = 0.0
    epoch_s: list[float] = field(default_factory=list)  # seconds of each logged training epoch
    threads: int = 1

    @property
    def epochs_per_job(self) -> float:
        """Logged epochs per job (0 for rules that do not train)."""
        return len(self.epoch_s) / self.jobs if self.jobs else 0.0


def read_benchmark(path: Path) -> tuple[float, float]:
    """(wall seconds, max RSS in MB) of one Snakemake benchmark TSV."""
    try:
        with path.open() as fh:
            row = next(csv.DictReader(fh, delimiter="\t"))
        return float(row["s"]), float(row["max_rss"]) if row.get("max_rss", "NA") != "NA" else 0.0
    except (OSError, StopIteration, KeyError, ValueError) as exc:
        raise UserError(f"{path}: not a Snakemake benchmark file ({exc}); delete it and rerun its job") from None


def epoch_seconds(log: Path) -> list[float]:
    """Seconds of every training epoch logged in a rule's log ("epoch i/N ... X s ETA")."""
    if not log.is_file():
        return []
    return [float(m.group(3)) for m in map(EPOCH_LINE.search, log.read_text(errors="replace").splitlines()) if m]


def measure(results: Path, threads: Mapping[str, int]) -> dict[str, RuleCost]:
    """Per rule: jobs, wall times and peak memory from results/benchmarks, epoch times from results/logs."""
    bench_dir = results / "benchmarks"
    if not bench_dir.is_dir():
        raise UserError(f"{bench_dir}: no benchmark folder; run the workflow first (every job writes one)")
    costs: dict[str, RuleCost] = {}
    for tsv in sorted(bench_dir.glob("*/*.tsv")):
        rule = tsv.parent.name
        if rule == "evaluate" and tsv.stem.startswith("ridge_"):
            rule = "evaluate_ridge"  # one deterministic fit per session: not repeated per seed
        cost = costs.setdefault(rule, RuleCost(rule, threads=int(threads.get(rule, 1))))
        wall, rss = read_benchmark(tsv)
        cost.jobs += 1
        cost.wall_s.append(wall)
        cost.max_rss_mb = max(cost.max_rss_mb, rss)
        cost.epoch_s += epoch_seconds(results / "logs" / tsv.parent.name / (tsv.stem + ".log"))
    return costs


def paper_epochs(rule: str, paper: Mapping[str, Any], rounds: int) -> int:
    """Epochs one job of `rule` trains in the paper's configuration (pruning: all its rounds)."""
    if rule == "prune":
        return int(paper["pruning"]["epochs"]) * rounds
    return int(paper["training"][rule]["epochs"])


def project(cost: RuleCost, paper: Mapping[str, Any], run_seeds: int, rounds: int) -> dict[str, float]:
    """Projected jobs and core-hours of a rule in the paper's configuration on this machine.

    A training job costs its fixed part (job wall time minus its epochs) plus the paper's epochs
    times the mean epoch of this run; every per-seed rule runs 5 seeds instead of `run_seeds`.
    """
    jobs = cost.jobs * (PAPER_SEEDS / run_seeds if cost.rule in PER_SEED_RULES else 1)
    wall = sum(cost.wall_s) / cost.jobs
    if cost.rule in TRAINING_RULES and cost.epoch_s:
        epoch = sum(cost.epoch_s) / len(cost.epoch_s)
        fixed = max(wall - cost.epochs_per_job * epoch, 0.0)
        wall = fixed + paper_epochs(cost.rule, paper, rounds) * epoch
    return {"jobs": jobs, "wall_s_per_job": wall, "core_hours": jobs * wall * cost.threads / 3600.0}


def cost_table(results: str | Path, config: Mapping[str, Any], rounds: int = DEFAULT_ROUNDS) -> list[dict[str, Any]]:
    """One row per rule: measured jobs, wall sum and max, peak RSS; projected jobs and core-hours."""
    threads = {"pretrain": config["threads"]["train"], "finetune": config["threads"]["train"],
               "prune": config["threads"]["train"], "evaluate": config["threads"]["evaluate"],
               "evaluate_ridge": config["threads"]["evaluate"],
               "fit_ridge": config["threads"]["evaluate"], "preprocess": config["threads"]["data"]}
    costs = measure(Path(results), threads)
    paper = config_defaults()
    rows = []
    for rule, cost in sorted(costs.items(), key=lambda kv: -sum(kv[1].wall_s)):
        proj = project(cost, paper, len(config["seeds"]), rounds)
        rows.append({"rule": rule, "jobs": cost.jobs, "threads": cost.threads, "wall_sum_s": sum(cost.wall_s),
                     "wall_max_s": max(cost.wall_s), "peak_rss_mb": cost.max_rss_mb,
                     "epoch_s": (sum(cost.epoch_s) / len(cost.epoch_s)) if cost.epoch_s else None,
                     "paper_jobs": proj["jobs"], "paper_core_hours": proj["core_hours"]})
    return rows


def cost_blocks(rows: list[dict[str, Any]], rounds: int) -> list[Block]:
    """The cost table with its totals and the projection's explanation, as document blocks."""
    header = ["rule", "jobs", "threads", "wall sum (s)", "wall max (s)", "peak RSS (MB)", "s per epoch",
              "paper jobs", "paper core-hours"]
    body = [[r["rule"], str(r["jobs"]), str(r["threads"]), f"{r['wall_sum_s']:.0f}", f"{r['wall_max_s']:.0f}",
             f"{r['peak_rss_mb']:.0f}", f"{r['epoch_s']:.1f}" if r["epoch_s"] is not None else "–",
             f"{r['paper_jobs']:.0f}", f"{r['paper_core_hours']:.1f}"] for r in rows]
    peak = max((r["peak_rss_mb"] for r in rows), default=0)
    body.append(["total", str(sum(r["jobs"] for r in rows)), "", f"{sum(r['wall_sum_s'] for r in rows):.0f}", "",
                 f"{peak:.0f}", "", f"{sum(r['paper_jobs'] for r in rows):.0f}",
                 f"{sum(r['paper_core_hours'] for r in rows):.1f}"])
    note = (f"Projection: the paper's epochs per stage (paper.yaml), 5 seeds, {rounds} pruning rounds of "
            "100 epochs (the schedule allows 2 to 10); a training job = its fixed part (wall time minus its "
            "logged epochs) + the paper's epochs x this run's mean epoch; core-hours = wall x threads.")
    return [Table(header, body), note]


def format_table(rows: list[dict[str, Any]], rounds: int) -> str:
    """Markdown of the cost table with its totals."""
    return to_markdown(cost_blocks(rows, rounds))


def _handler(args: argparse.Namespace) -> int:
    """Handler of `rsnn-decoding cost`."""
    rows = cost_table(args.results, load_config(args.config), args.rounds)
    print(json.dumps(rows, indent=2) if args.json else format_table(rows, args.rounds), end="")
    return 0


def register_cli(subparsers: Any) -> None:
    """Add `cost [--results DIR] --config CONFIG`."""
    p = subparsers.add_parser("cost", help="cost of each rule of a run and its projection to the paper's run")
    p.add_argument("--results", default="results", help="the run's results folder (benchmarks/ and logs/)")
    p.add_argument("--config", required=True, help="the configuration the run used (seeds, threads)")
    p.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="pruning rounds assumed per job (2-10)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=_handler)


def write_cost_table(results: str | Path, config: Mapping[str, Any], out_md: str | Path,
                     out_html: str | Path | None = None, rounds: int = DEFAULT_ROUNDS) -> None:
    """The cost table of a finished run as Markdown and HTML, written atomically (the report's cost item)."""
    title = "What this run cost, and the paper's run projected"
    blocks = [f"# {title}", *cost_blocks(cost_table(results, config, rounds), rounds)]
    write_document(blocks, title, out_md, out_html)
