"""fsutil.atomic_output never replaces an existing output that is not a regular file (issue 14 item 8)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rsnn_decoding.errors import UserError
from rsnn_decoding.fsutil import atomic_output, write_json


def _special(kind: str, path: Path) -> Path:
    """Create a FIFO, directory, socket or symlink at path (inside a temporary folder)."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "symlink":
        target = path.with_name("target.json")
        target.write_text("keep\n")
        path.symlink_to(target)
    return path


@pytest.mark.parametrize(("kind", "word"), [("fifo", "FIFO"), ("directory", "directory"),
                                            ("symlink", "symbolic link")])
def test_atomic_output_refuses_special_path_before_any_temp_file(tmp_path, kind, word) -> None:
    out = _special(kind, tmp_path / "out.json")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(UserError) as err:
        write_json(out, {"a": 1})
    msg = str(err.value)
    assert "\n" not in msg and str(out) in msg and word in msg
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temporary file left or created
    assert not out.is_file() or out.is_symlink()
    if kind == "symlink":
        assert out.is_symlink() and out.resolve().read_text() == "keep\n"  # link and target untouched
    if kind == "fifo":
        assert not out.is_symlink() and os.stat(out).st_mode & 0o170000 == 0o010000  # still a FIFO


def test_atomic_output_refuses_socket(tmp_path) -> None:
    path = tmp_path / "s.sock"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(path))
        with pytest.raises(UserError, match="socket"), atomic_output(path):
            pass
    finally:
        sock.close()


def test_atomic_output_still_replaces_regular_file(tmp_path) -> None:
    out = tmp_path / "out.json"
    out.write_text("old\n")
    write_json(out, [1])
    assert out.read_text() == "[\n  1\n]\n"


def test_cli_simulate_onto_fifo_is_one_line_exit_1(tmp_path) -> None:
    fifo = _special("fifo", tmp_path / "out.mat")
    proc = subprocess.run(
        [sys.executable, "-m", "rsnn_decoding.cli", "simulate", "--monkey", "indy", "--duration", "5",
         "--seed", "1", str(fifo)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(fifo) in lines[0] and "FIFO" in lines[0]
    assert os.stat(fifo).st_mode & 0o170000 == 0o010000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mat"]
