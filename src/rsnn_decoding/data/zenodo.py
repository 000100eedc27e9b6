"""Zenodo record metadata: fetch it once, and verify every session download against its MD5.

Zenodo publishes an MD5 for every file of a record in the record's metadata
(`https://zenodo.org/api/records/<id>`). Two shapes are accepted:

- Zenodo's REST API: `"files": [{"key": "x.mat", "size": 123, "checksum": "md5:<hex>", ...}]`;
- InvenioRDM (the software Zenodo runs on): `"files": {"entries": {"x.mat": {"key": "x.mat",
  "size": 123, "checksum": "md5:<hex>", ...}}}`, or the same entries as a list, or the files
  endpoint's top-level `"entries"`.

An entry named by `filename` instead of `key`, or with a bare hex checksum, is read too.
The large session files go through download.py (Range resume, retries); this module only
decides which MD5 a download must have and records which source vouched for it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from rsnn_decoding.data.download import _fetch, download_session, session_url
from rsnn_decoding.errors import UserError, one_line
from rsnn_decoding.fsutil import atomic_output, write_json

LOG = logging.getLogger("rsnn_decoding.zenodo")

SOURCE_RECORD = "zenodo record metadata"
SOURCE_TABLE = "sessions table"


def _entries(doc: Any) -> list[tuple[str | None, dict]]:
    """(mapping key or None, entry) of every file entry in a record document; [] if none found."""
    if not isinstance(doc, dict):
        return []
    files = doc.get("files")
    if isinstance(files, list):
        return [(None, e) for e in files if isinstance(e, dict)]
    holder = files if isinstance(files, dict) else doc
    entries = holder.get("entries")
    if isinstance(entries, dict):
        return [(k, e) for k, e in entries.items() if isinstance(e, dict)]
    if isinstance(entries, list):
        return [(None, e) for e in entries if isinstance(e, dict)]
    return []


def _md5_of(checksum: Any) -> str | None:
    """The lower-case hex of an 'md5:<hex>' (or bare 32-hex) checksum; None for other algorithms."""
    if not isinstance(checksum, str):
        return None
    algo, _, value = checksum.strip().rpartition(":")
    if algo.lower() not in ("", "md5") or not re.fullmatch(r"[0-9a-fA-F]{32}", value):
        return None
    return value.lower()


def record_files(doc: Any, where: str) -> dict[str, dict[str, Any]]:
    """File name -> {"md5", "size"} of a Zenodo/InvenioRDM record document (UserError naming `where`)."""
    out: dict[str, dict[str, Any]] = {}
    for mapping_key, entry in _entries(doc):
        name = entry.get("key") or entry.get("filename") or mapping_key
        if isinstance(name, str):
            out[name] = {"md5": _md5_of(entry.get("checksum")), "size": entry.get("size", entry.get("filesize"))}
    if not out:
        raise UserError(f"{where}: no file list found (expected 'files' with 'key' and 'checksum' entries); "
                        "check zenodo.record_api points to the record's API URL, e.g. "
                        "https://zenodo.org/api/records/583331")
    return out


def fetch_record(url: str, out_json: str | os.PathLike, retries: int = 5, backoff_s: float = 2.0,
                 timeout_s: float = 60.0) -> int:
    """Fetch the record metadata at `url` to out_json (atomic, retried); return its number of files."""
    try:
        with atomic_output(out_json) as tmp:
            _fetch(url, tmp, retries, backoff_s, timeout_s)
            try:
                doc = json.loads(tmp.read_bytes())
            except ValueError as exc:
                raise UserError(f"not JSON ({one_line(str(exc))[:80]})") from None
            n = len(record_files(doc, url))
    except UserError as exc:
        reason = str(exc).removeprefix(f"{url}: ").split("; ")[0]
        raise UserError(
            f"Zenodo record metadata {url}: fetch failed: {reason}; check the network and zenodo.record_api, "
            "or set zenodo: {verify: table} to verify downloads against the sessions table's md5 only"
        ) from None
    LOG.info("%s: record metadata with %d files written to %s", url, n, out_json)
    return n


def _table_md5(value: Any, session: str) -> str | None:
    """The sessions table's md5 of a session, normalized; None when the cell is empty."""
    if not isinstance(value, str) or not value.strip():
        return None
    if not re.fullmatch(r"[0-9a-fA-F]{32}", value.strip()):
        raise UserError(f"sessions table md5 '{value}' of {session}: not 32 hex digits; fix the sessions table")
    return value.strip().lower()


def expected_md5(session: str, table_md5: Any, record_path: str | os.PathLike | None) -> tuple[str, list[str]]:
    """(MD5 a session's download must have, the sources that vouch for it): the record and/or the table."""
    name = f"{session}.mat"
    table = _table_md5(table_md5, session)
    if record_path is None:
        if table is None:
            raise UserError(f"session {session}: no md5 in the sessions table, and zenodo.verify is 'table'; "
                            "add the file's md5 to the table's md5 column or set zenodo: {verify: record}")
        return table, [SOURCE_TABLE]
    path = Path(record_path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: unreadable Zenodo record metadata ({one_line(str(exc))[:80]}); "
                        "delete it and rerun to fetch it again") from None
    files = record_files(doc, str(path))
    if name not in files:
        raise UserError(f"{path}: the Zenodo record lists no file {name}; check the session id in the "
                        "sessions table and zenodo.record_api")
    md5 = files[name]["md5"]
    if md5 is None:
        raise UserError(f"{path}: the Zenodo record gives no md5 checksum for {name}; "
                        "set zenodo: {verify: table} and put the md5 in the sessions table")
    if table is not None and table != md5:
        raise UserError(f"sessions table md5 of {session} is {table}, but the Zenodo record {path} lists {md5}; "
                        "fix the md5 column of the sessions table")
    return md5, [SOURCE_RECORD] + ([SOURCE_TABLE] if table is not None else [])


def download_verified(
    base_url: str,
    session: str,
    dest: str | os.PathLike,
    checksums_path: str | os.PathLike,
    table_md5: Any = None,
    record_path: str | os.PathLike | None = None,
    retries: int = 5,
    backoff_s: float = 1.0,
    timeout_s: float = 60.0,
) -> dict[str, Any]:
    """Download a session verified against the record metadata (or, without one, the table's md5)."""
    md5, sources = expected_md5(session, table_md5, record_path)
    url = session_url(base_url, session)
    record = download_session(url, dest, expected_md5=md5, retries=retries, backoff_s=backoff_s,
                              timeout_s=timeout_s)
    record["verified_by"] = sources
    if record_path is not None:
        record["record_metadata"] = str(record_path)
    write_json(checksums_path, record)
    LOG.info("%s: md5 %s verified against the %s", dest, md5, " and the ".join(sources))
    return record
