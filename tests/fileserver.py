"""A local HTTP file server for tests (127.0.0.1, random port): Range requests, dropped connections,
and the failure modes of real servers (server.mode: "ok", "wrong" body, "flaky" 503s while
server.failures_left, "ignore_range")."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    """GET of server.files[path]; honours Range (unless mode ignore_range); drops the connection after a third
    while drops_left; answers 503 while mode flaky and failures_left; reverses the body in mode wrong."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):  # noqa: N802
        srv = self.server
        rng = self.headers.get("Range")
        srv.requests.append((self.path, rng))
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404, "Not Found")
            return
        if srv.mode == "wrong":
            body = bytes(reversed(body))
        if srv.mode == "flaky" and srv.failures_left > 0:
            srv.failures_left -= 1
            self.send_error(503, "Busy")
            return
        start = 0
        if rng and srv.mode != "ignore_range":
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        chunk = body[start:]
        if srv.drops_left > 0:
            srv.drops_left -= 1
            self.wfile.write(chunk[: len(chunk) // 3])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(chunk)


@contextmanager
def file_server(files: dict[str, bytes]) -> Iterator[ThreadingHTTPServer]:
    """Serve `files` ({"/path": bytes}); the server's .url is its base URL, .requests records (path, Range)."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests, srv.drops_left, srv.mode, srv.failures_left = files, [], 0, "ok", 0
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
