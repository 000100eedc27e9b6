"""Provenance of preprocessed sessions: source checksum records and the check every reader runs.

Every raw session file has a checksum record beside it: `resources/zenodo/{session}.checksums.json`
written by the download, or `resources/synthetic/{session}.checksums.json` written by
simulate_session. A preprocessed .h5 stores the session id it was made for and the SHA-256 of the
raw file it was made from; `check_preprocessed` compares both with what the reading rule expects,
so that a file of another session put in place of the right one, or a preprocessed file of a
modified raw file, stops the job with one line naming the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import h5py

from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import md5_file, sha256_file, write_json


def write_source_record(raw_path: str | os.PathLike, out_json: str | os.PathLike, source: str) -> dict[str, Any]:
    """Write the checksum record of a raw session file (sha256, md5, bytes, who made it), atomically."""
    raw = Path(raw_path)
    record = {"file": raw.name, "sha256": sha256_file(raw), "md5": md5_file(raw), "bytes": raw.stat().st_size,
              "source": source}
    write_json(out_json, record)
    return record


def recorded_sha256(record_path: str | os.PathLike) -> str:
    """The raw file's SHA-256 from its checksum record (UserError naming the record if unusable)."""
    p = Path(record_path)
    try:
        record = json.loads(p.read_text())
    except FileNotFoundError:
        raise UserError(f"{p}: checksum record of the raw session not found; rerun its download or "
                        "simulate_session step") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{p}: unreadable checksum record ({' '.join(str(exc).split())[:80]}); delete it and "
                        "rerun its download or simulate_session step") from None
    sha = record.get("sha256") if isinstance(record, dict) else None
    if not isinstance(sha, str) or len(sha) != 64:
        raise UserError(f"{p}: checksum record without a sha256; delete it and rerun its download or "
                        "simulate_session step")
    return sha.lower()


def check_preprocessed(path: str | os.PathLike, expected_session: str, source_record: str | os.PathLike) -> None:
    """Stop with one line naming `path` unless it holds `expected_session` made from the recorded raw file."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: preprocessed session not found; run the preprocess step")
    try:
        with h5py.File(p, "r") as f:
            session = f.attrs.get("session")
            source_sha = f.attrs.get("source_sha256")
    except OSError:
        raise UserError(f"{p}: not a readable HDF5 file; delete it and rerun the preprocess step") from None
    if session is None or source_sha is None:
        raise UserError(f"{p}: attribute session or source_sha256 missing; delete it and rerun the preprocess step")
    session, source_sha = str(session), str(source_sha).lower()
    if session != expected_session:
        raise UserError(f"{p}: holds session {session!r}, expected {expected_session!r}; a file of another "
                        "session is in its place: delete it and rerun the preprocess step")
    expected_sha = recorded_sha256(source_record)
    if source_sha != expected_sha:
        raise UserError(f"{p}: made from a raw file with sha256 {source_sha[:12]}..., but {source_record} records "
                        f"{expected_sha[:12]}...; the raw file was modified or replaced: delete the raw file, "
                        "its checksum record and this file, then rerun")
