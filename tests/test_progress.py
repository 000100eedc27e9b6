"""Download progress lines: bytes, rate, ETA, at most one per interval (fake clock and a slow local server)."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rsnn_decoding import progress as progress_module
from rsnn_decoding.data.download import download_session
from rsnn_decoding.progress import TransferProgress, _duration

PAYLOAD = bytes((i * 31 + i // 4099) % 256 for i in range(3 * 1024 * 1024))
PIECE = 64 * 1024
PAUSE_S = 0.04  # 48 pieces: about 2 s for the whole file


class FakeClock:
    """A clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lines_report_bytes_rate_and_eta_at_most_once_per_interval(caplog):
    clock = FakeClock()
    log = logging.getLogger("test_progress")
    progress = TransferProgress("x.mat", 100_000_000, start=20_000_000, interval_s=5, clock=clock, log=log)
    logged = []
    with caplog.at_level(logging.INFO, logger="test_progress"):
        for t, done in [(1, 30e6), (4.9, 38e6), (5, 40e6), (7, 50e6), (9.9, 58e6), (10, 60e6), (12, 70e6)]:
            clock.now = t
            logged.append(progress.update(int(done)))
    assert logged == [False, False, True, False, False, True, False]
    # 20 MB in 5 s: 4 MB/s, 60 MB left -> 15 s; then 40 MB in 10 s, 40 MB left -> 10 s
    assert [r.getMessage() for r in caplog.records] == [
        "x.mat: 40.0 of 100.0 MB (40%), 4.00 MB/s, ETA 15 s",
        "x.mat: 60.0 of 100.0 MB (60%), 4.00 MB/s, ETA 10 s",
    ]


def test_unknown_total_gives_bytes_and_rate_only():
    clock = FakeClock()
    progress = TransferProgress("y.mat", None, clock=clock)
    assert progress.line(5_000_000, 5.0) == "y.mat: 5.0 MB, 1.00 MB/s"


def test_durations():
    assert [_duration(s) for s in (0.4, 42, 425, 7380)] == ["0 s", "42 s", "7 min 05 s", "2 h 03 min"]


class _SlowHandler(BaseHTTPRequestHandler):
    """Serves PAYLOAD in pieces with a pause between them."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        for offset in range(0, len(PAYLOAD), PIECE):
            self.wfile.write(PAYLOAD[offset : offset + PIECE])
            self.wfile.flush()
            time.sleep(PAUSE_S)


@pytest.fixture
def slow_server():
    """A local HTTP server (127.0.0.1, random port) that sends 3 MiB in about 2 s."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_slow_download_logs_progress_lines_spaced_by_the_interval(slow_server, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(progress_module, "INTERVAL_S", 0.4)
    url = f"http://127.0.0.1:{slow_server.server_address[1]}/files/indy_slow.mat"
    with caplog.at_level(logging.INFO, logger="rsnn_decoding.download"):
        record = download_session(url, tmp_path / "indy_slow.mat", expected_md5=hashlib.md5(PAYLOAD).hexdigest())
    assert record["bytes"] == len(PAYLOAD)
    lines = [r for r in caplog.records if "MB/s" in r.getMessage()]
    assert len(lines) >= 2, [r.getMessage() for r in caplog.records]
    assert all(r.getMessage().startswith("indy_slow.mat: ") and " of 3.1 MB (" in r.getMessage() for r in lines)
    assert all("ETA" in r.getMessage() for r in lines)
    gaps = [b.created - a.created for a, b in zip(lines, lines[1:], strict=False)]
    assert min(gaps) >= 0.4 - 0.05, gaps
