"""download.py against a real local HTTP server: resume with Range, servers ignoring Range, MD5 errors."""

from __future__ import annotations

import hashlib
import json

import pytest
from fileserver import file_server

from rsnn_decoding.data.download import download_session, session_url
from rsnn_decoding.errors import UserError

PAYLOAD = bytes((i * 7919 + i // 251) % 256 for i in range(300_000))
MD5 = hashlib.md5(PAYLOAD).hexdigest()


@pytest.fixture
def server():
    """tests/fileserver.py serving PAYLOAD as /files/indy_x.mat (any other path: 404)."""
    with file_server({"/files/indy_x.mat": PAYLOAD}) as srv:
        yield srv


def _url(srv, name="indy_x.mat"):
    return f"http://127.0.0.1:{srv.server_address[1]}/files/{name}"


def test_session_url():
    base = "https://zenodo.org/records/583331/files/"
    assert session_url(base, "indy_20160622_01") == base + "indy_20160622_01.mat"
    assert session_url(base.rstrip("/"), "loco_20170210_03.mat") == base + "loco_20170210_03.mat"


def test_plain_download_and_checksums(server, tmp_path):
    dest, ck = tmp_path / "a.mat", tmp_path / "a.checksums.json"
    rec = download_session(_url(server), dest, expected_md5=MD5, checksums_path=ck, backoff_s=0.01)
    assert dest.read_bytes() == PAYLOAD
    saved = json.loads(ck.read_text())
    assert saved == rec
    assert rec == {
        "url": _url(server),
        "md5": MD5,
        "sha256": hashlib.sha256(PAYLOAD).hexdigest(),
        "bytes": len(PAYLOAD),
        "verified_md5": True,
    }
    assert not list(tmp_path.glob("*.part"))


def test_dropped_connection_is_resumed_with_range(server, tmp_path):
    server.drops_left = 2
    dest = tmp_path / "b.mat"
    rec = download_session(_url(server), dest, expected_md5=MD5, backoff_s=0.01)
    assert dest.read_bytes() == PAYLOAD and rec["verified_md5"]
    ranges = [r for _, r in server.requests]
    assert ranges[0] is None
    first = len(PAYLOAD) // 3
    second = first + (len(PAYLOAD) - first) // 3
    assert ranges[1:] == [f"bytes={first}-", f"bytes={second}-"]


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.mode, server.drops_left = "ignore_range", 1
    dest = tmp_path / "c.mat"
    download_session(_url(server), dest, expected_md5=MD5, backoff_s=0.01)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests[1][1] == f"bytes={len(PAYLOAD) // 3}-"  # asked to resume, got 200


def test_partial_file_from_an_earlier_run_is_resumed(server, tmp_path):
    dest = tmp_path / "d.mat"
    (tmp_path / "d.mat.part").write_bytes(PAYLOAD[:1000])
    download_session(_url(server), dest, expected_md5=MD5)
    assert dest.read_bytes() == PAYLOAD
    assert server.requests == [("/files/indy_x.mat", "bytes=1000-")]


def test_md5_mismatch_leaves_no_file(server, tmp_path):
    server.mode = "wrong"
    dest, ck = tmp_path / "e.mat", tmp_path / "e.json"
    with pytest.raises(UserError) as info:
        download_session(_url(server), dest, expected_md5=MD5, checksums_path=ck, backoff_s=0.01)
    msg = str(info.value)
    assert "\n" not in msg and MD5 in msg and hashlib.md5(bytes(reversed(PAYLOAD))).hexdigest() in msg
    assert list(tmp_path.iterdir()) == []


def test_retries_on_503_then_succeeds(server, tmp_path):
    server.mode, server.failures_left = "flaky", 2
    dest = tmp_path / "f.mat"
    rec = download_session(_url(server), dest, retries=3, backoff_s=0.01)
    assert dest.read_bytes() == PAYLOAD and rec["verified_md5"] is False and rec["md5"] == MD5
    assert len(server.requests) == 3


def test_gives_up_after_retries(server, tmp_path):
    server.mode, server.failures_left = "flaky", 10
    with pytest.raises(UserError, match="download failed after 3 attempts"):
        download_session(_url(server), tmp_path / "g.mat", retries=2, backoff_s=0.01)
    assert not (tmp_path / "g.mat").exists()


def test_404_is_a_user_error_without_retry(server, tmp_path):
    with pytest.raises(UserError, match="HTTP 404"):
        download_session(_url(server, "missing.mat"), tmp_path / "h.mat", backoff_s=0.01)
    assert len(server.requests) == 1 and not list(tmp_path.iterdir())
