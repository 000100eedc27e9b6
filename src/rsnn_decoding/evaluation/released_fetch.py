"""The authors' released checkpoints: their manifest, download and git-blob / sha256 verification."""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import re
from pathlib import Path
from typing import Any

from rsnn_decoding.data.download import _fetch
from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import sha256_file
from rsnn_decoding.models import architecture

LOG = logging.getLogger("rsnn_decoding.published_fetch")

MANIFEST_COLUMNS = ("path", "session", "model", "seed", "git_blob_sha1", "size", "sha256")
LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"


def read_manifest(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of the released-checkpoint manifest (TSV), validated; UserError naming the file and line."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: manifest of the released checkpoints not found; set published.manifest "
                        "in the config or restore resources/published/manifest.tsv")
    with open(p, newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        if tuple(reader.fieldnames or ()) != MANIFEST_COLUMNS:
            raise UserError(f"{p}: columns {reader.fieldnames} are not {list(MANIFEST_COLUMNS)}; restore the file")
        rows = []
        for line, row in enumerate(reader, start=2):
            rows.append(_manifest_row(p, line, row))
    return rows


def _manifest_row(p: Path, line: int, row: dict[str, str]) -> dict[str, Any]:
    """One manifest row with typed seed/size and checked digests."""
    if not re.fullmatch(r"[0-9a-f]{40}", row["git_blob_sha1"] or ""):
        raise UserError(f"{p} line {line}: git_blob_sha1 {row['git_blob_sha1']!r} is not 40 hex digits; fix it")
    if row["sha256"] and not re.fullmatch(r"[0-9a-f]{64}", row["sha256"]):
        raise UserError(f"{p} line {line}: sha256 {row['sha256']!r} is not 64 hex digits; fix it")
    if not (row["seed"] or "").isdigit() or (row["size"] and not row["size"].isdigit()):
        raise UserError(f"{p} line {line}: seed {row['seed']!r} / size {row['size']!r} not integers; fix it")
    return {**row, "seed": int(row["seed"]), "size": int(row["size"]) if row["size"] else None,
            "sha256": row["sha256"] or None}


def manifest_entry(rows: list[dict[str, Any]], model: str, session: str, seed: int) -> dict[str, Any]:
    """The manifest row of one released checkpoint; UserError naming what exists when absent."""
    for row in rows:
        if (row["model"], row["session"], row["seed"]) == (model, session, int(seed)):
            return row
    sessions = sorted({r["session"] for r in rows if r["model"] == model})
    raise UserError(f"released {model} seed {seed} of {session}: not in the manifest; released networks "
                    f"exist for {', '.join(sessions)}")


def released_sessions(rows: list[dict[str, Any]], model: str) -> list[str]:
    """Sessions with a released checkpoint of `model`, sorted."""
    return sorted({r["session"] for r in rows if r["model"] == model})


def git_blob_sha1(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Git's blob id of a file: sha1(b"blob <size>\\0" + content)."""
    p = Path(path)
    h = hashlib.sha1(f"blob {p.stat().st_size}\0".encode())
    with open(p, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def verify_released(path: str | os.PathLike, url: str, blob_sha1: str, sha256: str | None = None) -> None:
    """Refuse a Git LFS pointer; check the git blob SHA-1 and the sha256 (when given); UserError if not."""
    p = Path(path)
    with open(p, "rb") as fh:
        head = fh.read(len(LFS_POINTER))
    if head == LFS_POINTER:
        raise UserError(f"{url}: the server sent a Git LFS pointer, not the checkpoint; set published.base_url "
                        "to a URL that serves the file's content (e.g. media.githubusercontent.com or a mirror)")
    got = git_blob_sha1(p)
    if got != blob_sha1:
        raise UserError(f"{url}: git blob SHA-1 mismatch: expected {blob_sha1}, got {got}; the download is "
                        "corrupt or published.base_url serves another file; rerun to download it again")
    if sha256 is not None:
        got256 = sha256_file(p)
        if got256 != sha256:
            raise UserError(f"{url}: sha256 mismatch: expected {sha256}, got {got256}; the download is corrupt "
                            "or published.base_url serves another file; rerun to download it again")


def released_url(base_url: str, repo_path: str) -> str:
    """URL of a file of the authors' repository under a raw-file base URL."""
    return f"{base_url.rstrip('/')}/{repo_path.lstrip('/')}"


def fetch_released(base_url: str, entry: dict[str, Any], dest: str | os.PathLike, retries: int = 5,
                   backoff_s: float = 1.0, timeout_s: float = 60.0) -> Path:
    """Download one released checkpoint (resumable, retried), verify it, then rename it onto dest."""
    dest = Path(dest)
    url = released_url(base_url, entry["path"])
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    _fetch(url, part, retries, backoff_s, timeout_s)
    try:
        verify_released(part, url, entry["git_blob_sha1"], entry.get("sha256"))
    except UserError:
        part.unlink()
        raise
    os.replace(part, dest)
    LOG.info("%s: %d bytes from %s, git blob %s verified%s", dest, dest.stat().st_size, url,
             entry["git_blob_sha1"], ", sha256 verified" if entry.get("sha256") else "")
    return dest


def fetch_from_manifest(manifest: str | os.PathLike, base_url: str, model: str, session: str, seed: int,
                        dest: str | os.PathLike, retries: int = 5, backoff_s: float = 1.0,
                        timeout_s: float = 60.0) -> Path:
    """Workflow entry: look one checkpoint up in the manifest and fetch it to dest."""
    entry = manifest_entry(read_manifest(manifest), model, session, seed)
    return fetch_released(base_url, entry, dest, retries=retries, backoff_s=backoff_s, timeout_s=timeout_s)


def check_released_sessions(config: dict[str, Any], released: list[str], sessions: list[str]) -> None:
    """UserError (one line, naming the released sessions) if a released model is asked for another session."""
    if not released:
        return
    rows = read_manifest(config["published"]["manifest"])
    for model in released:
        have = released_sessions(rows, architecture(model))
        other = [s for s in sessions if s not in have]
        if other:
            raise UserError(f"config key 'models': {model} exists only for the {len(have)} challenge sessions "
                            f"{', '.join(have)}, not for {', '.join(other)}; select those sessions "
                            "(config key 'sessions') or drop the released model")
