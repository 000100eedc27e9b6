"""HTTP download of Zenodo sessions: Range resume, retries with exponential backoff, MD5 check."""

from __future__ import annotations

import argparse
import http.client
import logging
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

from rsnn_decoding import __version__
from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import check_replaceable, md5_file, sha256_file, write_json
from rsnn_decoding.progress import TransferProgress

LOG = logging.getLogger("rsnn_decoding.download")

CHUNK = 1 << 20
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class _Incomplete(Exception):
    """A transfer that ended early (retried)."""


def session_url(base_url: str, session: str) -> str:
    """URL of a session file, e.g. https://zenodo.org/records/583331/files/indy_20160622_01.mat."""
    name = session if session.endswith(".mat") else f"{session}.mat"
    return f"{base_url.rstrip('/')}/{name}"


def _total_from_content_range(value: str | None) -> tuple[int | None, int | None]:
    """(start, total) of a Content-Range header 'bytes a-b/total' (None where absent or '*')."""
    if not value:
        return None, None
    m = re.match(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)", value)
    if m:
        return int(m.group(1)), (None if m.group(3) == "*" else int(m.group(3)))
    m = re.match(r"\s*bytes\s+\*/(\d+)", value)
    return (None, int(m.group(1))) if m else (None, None)


def _attempt(url: str, part: Path, timeout_s: float) -> None:
    """One request: resume `part` with Range when it has bytes; raise _Incomplete on a short transfer."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"rsnn-decoding/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            _, total = _total_from_content_range(exc.headers.get("Content-Range"))
            if total == have:
                return  # already complete
            part.unlink()  # our partial file does not fit the server's: start over
            raise _Incomplete(f"range not satisfiable at {have} bytes; restarting") from exc
        raise
    with resp:
        if resp.status == 206:
            start, total = _total_from_content_range(resp.headers.get("Content-Range"))
            if start != have:
                part.unlink()
                raise _Incomplete(f"server resumed at {start}, not {have}; restarting")
            mode = "ab"
        else:  # 200: the server ignored Range (or there was none): rewrite from the start
            start, total = 0, None
            length = resp.headers.get("Content-Length")
            total = int(length) if length is not None and length.isdigit() else None
            mode = "wb"
            if have:
                LOG.info("%s: server ignored the Range request; downloading from the start", url)
        written = start or 0
        progress = TransferProgress(url.rsplit("/", 1)[-1], total, start=written)
        with open(part, mode) as fh:
            while True:
                try:
                    block = resp.read(CHUNK)
                except http.client.IncompleteRead as exc:
                    fh.write(exc.partial)
                    written += len(exc.partial)
                    raise _Incomplete(f"connection dropped at {written} bytes") from exc
                if not block:
                    break
                fh.write(block)
                written += len(block)
                progress.update(written)
    if total is not None and written < total:
        raise _Incomplete(f"connection dropped at {written} of {total} bytes")


def _verified(dest: Path, expected_md5: str | None) -> bool:
    """True when dest exists and matches expected_md5."""
    return expected_md5 is not None and dest.is_file() and md5_file(dest) == expected_md5.lower()


def download_session(
    url: str,
    dest: str | os.PathLike,
    expected_md5: str | None = None,
    checksums_path: str | os.PathLike | None = None,
    retries: int = 5,
    backoff_s: float = 1.0,
    timeout_s: float = 60.0,
) -> dict:
    """Download url to dest (resumable, retried, MD5-verified); write and return the checksum record."""
    dest = Path(dest)
    check_replaceable(dest)
    if not isinstance(expected_md5, str) or not expected_md5.strip():
        expected_md5 = None  # none published (also NaN from an empty table cell)
    elif not re.fullmatch(r"[0-9a-fA-F]{32}", expected_md5.strip()):
        raise UserError(f"md5 '{expected_md5}' for {url}: not 32 hex digits; fix the sessions table")
    else:
        expected_md5 = expected_md5.strip().lower()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if _verified(dest, expected_md5):
        LOG.info("%s: already present with the expected MD5", dest)
    else:
        _fetch(url, part, retries, backoff_s, timeout_s)
        md5 = md5_file(part)
        if expected_md5 is not None and md5 != expected_md5.lower():
            part.unlink()
            raise UserError(
                f"{dest}: MD5 mismatch for {url}: expected {expected_md5.lower()}, got {md5}; "
                "the download is corrupt or the URL is wrong, rerun to download it again"
            )
        os.replace(part, dest)
    record = {
        "url": url,
        "md5": md5_file(dest),
        "sha256": sha256_file(dest),
        "bytes": dest.stat().st_size,
        "verified_md5": expected_md5 is not None,
    }
    if checksums_path is not None:
        write_json(checksums_path, record)
    LOG.info("%s: %d bytes, md5 %s", dest, record["bytes"], record["md5"])
    return record


def _fetch(url: str, part: Path, retries: int, backoff_s: float, timeout_s: float) -> None:
    """Fetch url into part, resuming and retrying with exponential backoff."""
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            delay = backoff_s * 2 ** (attempt - 1)
            LOG.warning("%s: %s; retry %d/%d in %.1f s", url, last, attempt, retries, delay)
            time.sleep(delay)
        try:
            _attempt(url, part, timeout_s)
            return
        except urllib.error.HTTPError as exc:
            if exc.code not in RETRY_STATUS:
                raise UserError(f"{url}: HTTP {exc.code} {exc.reason}; check the URL and session id") from exc
            last = f"HTTP {exc.code}"
        except _Incomplete as exc:
            last = str(exc)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            last = " ".join(f"{type(exc).__name__}: {reason}".split())
    raise UserError(
        f"{url}: download failed after {retries + 1} attempts ({last}); check the network and rerun "
        f"(the partial file {part.name} is kept and will be resumed)"
    )


def _cli_download(args: argparse.Namespace) -> int:
    """Handler of `rsnn-decoding download`."""
    url = session_url(args.base_url, args.session)
    checksums = args.checksums or str(Path(args.output).with_suffix("")) + ".checksums.json"
    rec = download_session(url, args.output, expected_md5=args.md5, checksums_path=checksums)
    print(f"wrote {args.output} ({rec['bytes']} bytes, md5 {rec['md5']})")
    return 0


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add `download --base-url URL --session ID [--md5 X] OUT.mat`."""
    p = subparsers.add_parser("download", help="download a Zenodo session file (resumable, MD5-checked)")
    p.add_argument("--base-url", required=True, help="e.g. https://zenodo.org/records/583331/files")
    p.add_argument("--session", required=True, help="session id, e.g. indy_20160622_01")
    p.add_argument("--md5", default=None, help="expected MD5 (verified when given)")
    p.add_argument("--checksums", default=None, help="checksum JSON (default: OUT without .mat + .checksums.json)")
    p.add_argument("output", help="output .mat")
    p.set_defaults(func=_cli_download)
