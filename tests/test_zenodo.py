"""Every download is verified: against the Zenodo record metadata, or the sessions table (issue 14 item 4).

A local HTTP server on 127.0.0.1 serves a record document (in Zenodo's and InvenioRDM's shapes) and
the files; nothing reaches the internet.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rsnn_decoding.data import simulate
from rsnn_decoding.data.zenodo import download_verified, fetch_record, record_files
from rsnn_decoding.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = shutil.which("snakemake") or str(Path(sys.executable).with_name("snakemake"))
SESSION = "indy_20160622_01"
PAYLOAD = bytes((i * 31 + i // 97) % 256 for i in range(50_000))
MD5 = hashlib.md5(PAYLOAD).hexdigest()
OTHER_MD5 = "0" * 32


def zenodo_doc(files: dict[str, bytes]) -> dict:
    """A record document in the shape of Zenodo's REST API (/api/records/<id>)."""
    return {"id": 583331, "files": [
        {"key": name, "size": len(body), "checksum": f"md5:{hashlib.md5(body).hexdigest()}",
         "links": {"self": f"https://zenodo.org/api/records/583331/files/{name}/content"}}
        for name, body in files.items()]}


def invenio_doc(files: dict[str, bytes]) -> dict:
    """The same record in InvenioRDM's shape: files.entries as a mapping."""
    return {"id": "583331", "files": {"enabled": True, "entries": {
        name: {"key": name, "size": len(body), "checksum": f"md5:{hashlib.md5(body).hexdigest()}"}
        for name, body in files.items()}}}


class _Handler(BaseHTTPRequestHandler):
    """GET /api/records/583331 -> server.record (or server.record_status); GET /files/<name> -> server.files."""

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        srv = self.server
        srv.requests.append(self.path)
        if self.path.startswith("/api/records/"):
            if srv.record_status != 200:
                self.send_error(srv.record_status)
                return
            body = srv.record if isinstance(srv.record, bytes) else json.dumps(srv.record).encode()
        elif self.path.startswith("/files/") and self.path[len("/files/"):] in srv.files:
            body = srv.files[self.path[len("/files/"):]]
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files = {f"{SESSION}.mat": PAYLOAD}
    srv.record, srv.record_status, srv.requests = zenodo_doc(srv.files), 200, []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def _fetch(server, tmp_path) -> Path:
    out = tmp_path / "record.json"
    fetch_record(f"{server.base}/api/records/583331", out, retries=0, backoff_s=0.01)
    return out


def _one_line(fn, *needles: str) -> str:
    with pytest.raises(UserError) as err:
        fn()
    msg = str(err.value)
    assert "\n" not in msg, msg
    for needle in needles:
        assert needle in msg, msg
    return msg


def _download(server, tmp_path, record, table_md5=""):
    return download_verified(f"{server.base}/files", SESSION, tmp_path / f"{SESSION}.mat",
                             tmp_path / f"{SESSION}.checksums.json", table_md5=table_md5, record_path=record,
                             retries=0, backoff_s=0.01)


@pytest.mark.parametrize("shape", [zenodo_doc, invenio_doc])
def test_record_shapes_give_md5_and_size(shape) -> None:
    files = {"a.mat": b"abc", "b.mat": PAYLOAD}
    got = record_files(shape(files), "doc")
    assert got == {"a.mat": {"md5": hashlib.md5(b"abc").hexdigest(), "size": 3},
                   "b.mat": {"md5": MD5, "size": len(PAYLOAD)}}


def test_record_file_list_form_and_filename_key() -> None:
    listing = {"entries": [{"key": "a.mat", "size": 3, "checksum": "md5:" + "A" * 32}]}  # /files endpoint
    assert record_files(listing, "doc") == {"a.mat": {"md5": "a" * 32, "size": 3}}
    new_api = {"files": [{"filename": "b.mat", "filesize": 4, "checksum": "b" * 32}]}
    assert record_files(new_api, "doc") == {"b.mat": {"md5": "b" * 32, "size": 4}}
    _one_line(lambda: record_files({"metadata": {}}, "rec.json"), "rec.json", "no file list")


@pytest.mark.parametrize("shape", [zenodo_doc, invenio_doc])
def test_download_verified_by_the_record(server, tmp_path, shape) -> None:
    server.record = shape(server.files)
    record = _fetch(server, tmp_path)
    rec = _download(server, tmp_path, record)
    assert (tmp_path / f"{SESSION}.mat").read_bytes() == PAYLOAD
    saved = json.loads((tmp_path / f"{SESSION}.checksums.json").read_text())
    assert saved == rec and rec["md5"] == MD5 and rec["verified_md5"] is True
    assert rec["verified_by"] == ["zenodo record metadata"] and rec["record_metadata"] == str(record)
    assert rec["sha256"] == hashlib.sha256(PAYLOAD).hexdigest()


def test_table_md5_must_agree_with_the_record(server, tmp_path) -> None:
    record = _fetch(server, tmp_path)
    rec = _download(server, tmp_path, record, table_md5=MD5.upper())
    assert rec["verified_by"] == ["zenodo record metadata", "sessions table"]
    (tmp_path / f"{SESSION}.mat").unlink()
    n_requests = len(server.requests)
    _one_line(lambda: _download(server, tmp_path, record, table_md5=OTHER_MD5), SESSION, OTHER_MD5, MD5,
              "sessions table")
    assert len(server.requests) == n_requests  # refused before any download
    assert not (tmp_path / f"{SESSION}.mat").exists()


def test_wrong_file_fails_the_record_md5(server, tmp_path) -> None:
    record = _fetch(server, tmp_path)
    server.files[f"{SESSION}.mat"] = bytes(reversed(PAYLOAD))  # a mirror serving another file
    _one_line(lambda: _download(server, tmp_path, record), "MD5 mismatch", MD5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.json"]


def test_session_missing_from_the_record(server, tmp_path) -> None:
    server.record = zenodo_doc({"loco_20170210_03.mat": b"x"})
    record = _fetch(server, tmp_path)
    _one_line(lambda: _download(server, tmp_path, record), str(record), f"no file {SESSION}.mat")


@pytest.mark.parametrize(("status", "body", "needle"), [(404, None, "HTTP 404"), (503, None, "HTTP 503"),
                                                         (200, b"<html>maintenance</html>", "not JSON"),
                                                         (200, b'{"hits": {}}', "no file list")])
def test_metadata_fetch_failure_is_one_line_and_leaves_nothing(server, tmp_path, status, body, needle) -> None:
    server.record_status = status
    if body is not None:
        server.record = body
    _one_line(lambda: _fetch(server, tmp_path), "Zenodo record metadata", "/api/records/583331", needle,
              "verify: table")
    assert list(tmp_path.iterdir()) == []


def test_table_mode_needs_an_md5_and_uses_it(server, tmp_path) -> None:
    _one_line(lambda: _download(server, tmp_path, None, table_md5=""), SESSION, "no md5", "verify")
    assert server.requests == []
    rec = _download(server, tmp_path, None, table_md5=MD5)
    assert rec["verified_by"] == ["sessions table"] and "record_metadata" not in rec
    assert server.requests == [f"/files/{SESSION}.mat"]  # no metadata request in table mode


@pytest.mark.slow
def test_workflow_fetches_the_record_once_and_verifies_downloads(tmp_path) -> None:
    """Real Snakemake run against the local server: record -> two downloads -> preprocess."""
    mats = {}
    for sid, seed in ((SESSION, 1), ("indy_20160630_01", 2)):
        path = tmp_path / f"{sid}.mat"
        simulate.simulate_to_mat(path, "indy", 15.0, seed)
        mats[f"{sid}.mat"] = path.read_bytes()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.record_status, srv.requests = mats, 200, []
    srv.record = invenio_doc(mats)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    work = tmp_path / "w"
    (work / "config").mkdir(parents=True)
    rows = ["id\tshort_name\tmonkey\tchannels\trole\tmd5\tsource\tduration_s\tsim_seed",
            f"{SESSION}\tI1\tindy\t96\tchallenge\t\tzenodo\t\t",
            f"indy_20160630_01\tI2\tindy\t96\tchallenge\t{hashlib.md5(mats['indy_20160630_01.mat']).hexdigest()}"
            "\tzenodo\t\t"]
    (work / "config" / "sessions.tsv").write_text("\n".join(rows) + "\n")
    cfg = (ROOT / "config" / "demo.yaml").read_text().replace("config/sessions_demo.tsv", "config/sessions.tsv")
    cfg += f"zenodo:\n  base_url: {base}/files\n  record_api: {base}/api/records/583331\n  retries: 0\n"
    (work / "config" / "demo.yaml").write_text(cfg)
    targets = [f"results/preprocessed/{SESSION}.h5", "results/preprocessed/indy_20160630_01.h5"]
    try:
        run = subprocess.run([SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(work), "--configfile",
                              "config/demo.yaml", "--cores", "1", *targets],
                             capture_output=True, text=True, timeout=600, cwd=work)
    finally:
        srv.shutdown()
        srv.server_close()
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(srv.requests) == sorted(["/api/records/583331", f"/files/{SESSION}.mat",
                                           "/files/indy_20160630_01.mat"])  # metadata fetched once
    one = json.loads((work / f"resources/zenodo/{SESSION}.checksums.json").read_text())
    two = json.loads((work / "resources/zenodo/indy_20160630_01.checksums.json").read_text())
    assert one["verified_by"] == ["zenodo record metadata"]
    assert two["verified_by"] == ["zenodo record metadata", "sessions table"]
    assert (work / "resources/zenodo/record.json").is_file()


def test_config_verify_values() -> None:
    from rsnn_decoding.config import load_config

    cfg = load_config(ROOT / "config" / "config.yaml")
    assert cfg["zenodo"]["verify"] == "record"
    assert cfg["zenodo"]["record_api"] == "https://zenodo.org/api/records/583331"
    demo = load_config(ROOT / "config" / "demo.yaml")  # no zenodo section: the defaults
    assert (demo["zenodo"]["verify"], demo["zenodo"]["record_api"]) == ("record", cfg["zenodo"]["record_api"])
    raw = {**demo, "zenodo": {"verify": "none"}}
    _one_line(lambda: load_config(raw), "zenodo.verify", "'none'")
