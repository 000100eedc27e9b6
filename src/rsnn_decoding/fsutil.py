"""File-system helpers: atomic outputs, checksums, logging setup."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rsnn_decoding.errors import UserError

_SPECIAL_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISLNK, "a symbolic link"),
)


def check_replaceable(path: str | os.PathLike) -> None:
    """Refuse an existing output path that is not a regular file (UserError naming it and its kind).

    Directories, FIFOs, sockets and devices are never replaced (a rename onto /dev/null run as
    root would turn the device into a plain file). A symbolic link is refused too, whatever it
    points to: replacing it would silently cut the link, writing through it could reach a file
    outside the project; remove the link or choose another output path.
    """
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _SPECIAL_KINDS if test(mode)), "not a regular file")
    raise UserError(
        f"{path}: output path exists and is {kind}, not a regular file; refusing to replace it, "
        "choose another output path (or remove it yourself)"
    )


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` on success, delete it on failure.

    An existing `path` that is not a regular file (directory, FIFO, socket, device or symbolic
    link) is refused with a UserError before any temporary file is created (check_replaceable).
    """
    target = Path(path)
    check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; give outputs the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as indented JSON, atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text())


def read_json_or_fail(path: str | os.PathLike, missing_fix: str, invalid_fix: str) -> Any:
    """Read a JSON file; UserError naming it and the fix when it is missing or not valid JSON."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: not found; {missing_fix}")
    try:
        return read_json(p)
    except (ValueError, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split())[:80]
        raise UserError(f"{p}: not valid JSON ({reason}); {invalid_fix}") from None


def _digest(path: str | os.PathLike, algorithm: str, chunk: int = 1 << 20) -> str:
    """Hex digest of a file with the given hashlib algorithm."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file."""
    return _digest(path, "sha256")


def md5_file(path: str | os.PathLike) -> str:
    """MD5 hex digest of a file."""
    return _digest(path, "md5")


def setup_logging(log_path: str | os.PathLike | None = None, level: int = logging.INFO) -> None:
    """Send rsnn_decoding's log records to `log_path` (or stderr) with timestamps."""
    handler: logging.Handler
    if log_path is None:
        handler = logging.StreamHandler()
    else:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_path, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("rsnn_decoding")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
