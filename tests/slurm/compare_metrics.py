"""Compare the evaluation metrics of a SLURM run with those of a local run.

Usage: compare_metrics.py REFERENCE_DIR CANDIDATE_DIR [--glob G] [--keys K,...] [--tol T]

Every file matching the glob under CANDIDATE_DIR must exist under REFERENCE_DIR
at the same relative path, and each metric key must be present in both files
and agree to an absolute tolerance. Timings and checksums are not compared.
Prints one line per file and metric; exit status 0 when all agree, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

METRIC_KEYS = ("r2", "r2_x", "r2_y", "footprint", "connection_sparsity",
               "activation_sparsity", "dense", "macs", "acs")


def values_agree(a: object, b: object, tol: float) -> bool:
    """True when two metric values are equal numbers within `tol` (NaN equals NaN)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return a == b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(float(a) - float(b)) <= tol


def compare_file(ref: Path, cand: Path, keys: tuple[str, ...], tol: float) -> list[str]:
    """Compare the metric keys of two JSON files; return the mismatch messages."""
    a = json.loads(ref.read_text())
    b = json.loads(cand.read_text())
    problems = []
    for key in keys:
        if key not in a or key not in b:
            problems.append(f"{cand}: key {key!r} missing (local: {key in a}, slurm: {key in b})")
            continue
        ok = values_agree(a[key], b[key], tol)
        print(f"  {'ok  ' if ok else 'DIFF'} {key:20s} local={a[key]!r} slurm={b[key]!r}")
        if not ok:
            problems.append(f"{cand}: {key} differs: local {a[key]!r} vs slurm {b[key]!r}")
    return problems


def compare_dirs(ref_dir: Path, cand_dir: Path, pattern: str, keys: tuple[str, ...],
                 tol: float) -> list[str]:
    """Compare every candidate file matching `pattern` with its reference twin."""
    files = sorted(p.relative_to(cand_dir) for p in cand_dir.glob(pattern) if p.is_file())
    if not files:
        return [f"{cand_dir}: no files match {pattern}"]
    problems = []
    for rel in files:
        print(f"{rel}")
        if not (ref_dir / rel).is_file():
            problems.append(f"{ref_dir / rel}: missing in the local results")
            continue
        problems += compare_file(ref_dir / rel, cand_dir / rel, keys, tol)
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="folder holding the local run's results/")
    parser.add_argument("candidate", type=Path, help="folder holding the SLURM run's results/")
    parser.add_argument("--glob", default="results/eval/**/seed*.json")
    parser.add_argument("--keys", default=",".join(METRIC_KEYS))
    parser.add_argument("--tol", type=float, default=1e-6)
    args = parser.parse_args(argv)
    keys = tuple(k for k in args.keys.split(",") if k)
    problems = compare_dirs(args.reference, args.candidate, args.glob, keys, args.tol)
    for line in problems:
        print(f"metric mismatch: {line}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
