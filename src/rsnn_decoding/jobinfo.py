"""Provenance of results: what a job computed from (inputs, config values, code) and what one run was.

Two records, one rule (README, "Provenance"):

- `collect` gives the `provenance` block of a result JSON (eval and summary files): the input
  paths with their SHA-256, the config values the job used, the versions of the project, torch,
  neurobench, snakemake and Python, device and dtype, and the git commit of the code (gathered
  inside the job, with whether tracked files had uncommitted changes). All of it is fixed by the
  job's inputs, config and code, so two runs of the same code and config still write the same
  bytes (tests/test_evaluate.py).
- What belongs to one invocation of Snakemake (its command line, start time, selected sessions
  and their data source) is written by the Snakefile's `onstart` to
  `results/provenance/run-<start>.json` and `latest.json` (`write_run_file`), files that no rule
  reads as input. A job names the run it ran under in its log (`collect` logs it); the report's
  first section shows `latest.json`. Neither goes through rule params (params are rerun triggers).

No torch import here: the Snakefile imports this module at every parse.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shlex
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import sha256_file, write_json

log = logging.getLogger("rsnn_decoding.jobinfo")

# Distributions whose versions every result records (the project's own is rsnn_decoding.__version__).
DISTRIBUTIONS = ("torch", "neurobench", "snakemake")
RUN_DIR = "results/provenance"
LATEST = "latest.json"
GIT_TIMEOUT_S = 10.0

PathLike = str | os.PathLike


def versions() -> dict[str, str | None]:
    """Versions of the project, torch, neurobench, snakemake and Python (None where not installed)."""
    from rsnn_decoding import __version__

    found: dict[str, str | None] = {"rsnn_decoding": __version__}
    for name in DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    found["python"] = platform.python_version()
    return found


def _git(directory: PathLike, *args: str) -> str | None:
    """Stdout of a git command run in `directory`, or None if git, the directory or the repository is missing."""
    try:
        done = subprocess.run(["git", "-C", os.fspath(directory), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_commit(directory: PathLike) -> str | None:
    """The commit checked out where `directory` lies (`git rev-parse HEAD`), None outside a git checkout."""
    out = _git(directory, "rev-parse", "HEAD")
    if out is None:
        return None
    return out.strip() or None


def git_dirty(directory: PathLike) -> bool | None:
    """Whether tracked files differ from the commit (untracked files ignored), None outside a git checkout."""
    out = _git(directory, "status", "--porcelain", "--untracked-files=no")
    return None if out is None else bool(out.strip())


def code_dir() -> Path:
    """The directory of this package's source (the checkout itself for an editable install)."""
    return Path(__file__).resolve().parent


def file_record(path: PathLike) -> dict[str, str]:
    """{"path": the path as given, "sha256": the file's digest} (UserError naming a missing file)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: input file not found while recording provenance; rerun the step that writes it")
    return {"path": p.as_posix(), "sha256": sha256_file(p)}


def input_records(inputs: Mapping[str, PathLike | Sequence[PathLike]]) -> dict[str, Any]:
    """Per role, the file record of one input or the list of records of several, in the given order."""
    out: dict[str, Any] = {}
    for role, value in inputs.items():
        if isinstance(value, str | os.PathLike):
            out[role] = file_record(value)
        else:
            out[role] = [file_record(p) for p in value]
    return out


def plain(value: Any) -> Any:
    """A JSON-plain copy of a config value with dict keys sorted (tuples become lists)."""
    return json.loads(json.dumps(value, sort_keys=True))


def agreed(values: Iterable[Any]) -> Any:
    """The value all items share (device, dtype of a summary's evaluations), else their distinct values sorted."""
    distinct = sorted({json.dumps(v, sort_keys=True) for v in values})
    if not distinct:
        return None
    return json.loads(distinct[0]) if len(distinct) == 1 else [json.loads(v) for v in distinct]


def collect(inputs: Mapping[str, PathLike | Sequence[PathLike]], config: Mapping[str, Any],
            device: str | None = None, dtype: str | None = None, repo: PathLike | None = None,
            run_dir: PathLike = RUN_DIR) -> dict[str, Any]:
    """The `provenance` block of a result JSON; `repo` is the code's checkout (default: the package's).

    `inputs` maps a role ("model", "data", "evals", ...) to a path or a list of paths; `config`
    holds the config values the job used, under their config keys ("evaluation.mode": "batched").
    The run the job belongs to (the `onstart` file under `run_dir`) goes to the log, not the result.
    """
    where = code_dir() if repo is None else Path(repo)
    run = read_run_file(Path(run_dir) / LATEST)
    if run is not None:
        log.info("run %s: %s", run.get("run_id"), run.get("command_line"))
    return {
        "inputs": input_records(inputs),
        "config": plain(dict(config)),
        "versions": versions(),
        "device": device,
        "dtype": dtype,
        "git_commit": git_commit(where),
        "git_dirty": git_dirty(where),
    }


# ----------------------------------------------------------------------------- one run (onstart)


def _relative(path: PathLike) -> str:
    """`path` relative to the working directory if it lies inside it, else as given (POSIX form)."""
    p = Path(path)
    if p.is_absolute():
        try:
            return p.relative_to(Path.cwd()).as_posix()
        except ValueError:
            pass
    return p.as_posix()


def run_record(argv: Sequence[str], workflow_dir: PathLike, sessions: Mapping[str, str],
               configfiles: Iterable[PathLike], sessions_table: str, started: float | None = None
               ) -> dict[str, Any]:
    """What one Snakemake invocation was: command line, commit, start, versions, sessions and their data source."""
    t = time.time() if started is None else started
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))
    return {
        "run_id": f"{stamp}-{os.getpid()}",
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)),
        "command_line": shlex.join(argv) if argv else None,
        "git_commit": git_commit(workflow_dir),
        "git_dirty": git_dirty(workflow_dir),
        "versions": versions(),
        "data_source": sorted(set(sessions.values())),
        "sessions": dict(sessions),
        "sessions_table": sessions_table,
        "configfiles": [_relative(p) for p in configfiles],
    }


def write_run_file(record: Mapping[str, Any], run_dir: PathLike = RUN_DIR) -> Path:
    """Write `run-<run_id>.json` and `latest.json` (same content) atomically under `run_dir`; the first's path."""
    folder = Path(run_dir)
    path = folder / f"run-{record['run_id']}.json"
    write_json(path, dict(record))
    write_json(folder / LATEST, dict(record))
    return path


def read_run_file(path: PathLike = Path(RUN_DIR) / LATEST) -> dict[str, Any] | None:
    """The run record at `path`, None if it is missing or unreadable (it is never an input of a job)."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
