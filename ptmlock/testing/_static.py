"""A static file server on 127.0.0.1 that records every request, for tests of non-Hugging Face sources.

It serves the files under a folder as they are on disk, so it stands in for the places
`hub = "url"` weights come from (a file at a URL) and, with bare git repositories that ran
`git update-server-info`, for a git remote speaking git's "dumb HTTP" protocol (what `git
ls-remote` and `git fetch` fall back to when the server answers `info/refs` with a plain file).
Files changed on disk are served changed at once: a test "moves a branch upstream" by pushing
to the bare repository and running `git update-server-info` again.

    with StaticServer(tmp_path / "srv") as server:
        (tmp_path / "srv" / "w.pth").write_bytes(b"...")
        url = server.url + "/w.pth"
        server.fail("/w.pth", status=503, times=2)    # the next two GETs of it answer 503
        ...
        assert server.count("/w.pth") == 3
"""
from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ptmlock.testing._lifecycle import Serving

_CHUNK = 1 << 20


@dataclass(frozen=True)
class StaticRequest:
    """One request the server received: method, path (without query) and the status it answered."""

    method: str
    path: str
    status: int


class StaticServer(Serving):
    """Serves the files under `root` over HTTP on 127.0.0.1 and records each request.

    Use it as a context manager (or `start()` / `stop()`). `url` is `http://127.0.0.1:<port>`.
    Only GET and HEAD are answered; paths that are missing, are folders or climb out of `root`
    answer 404.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._requests: list[StaticRequest] = []
        self._faults: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle

    def start(self) -> StaticServer:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="ptmlock-static", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        """The base URL, `http://127.0.0.1:<port>` (no trailing slash)."""
        if self._httpd is None:
            raise RuntimeError("StaticServer is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # --- faults and the request log

    def fail(self, path: str, *, status: int, times: int = 1) -> None:
        """Answer the next `times` requests of exactly `path` with `status` (and an empty body)."""
        with self._lock:
            self._faults.setdefault(path, []).extend([status] * times)

    @property
    def requests(self) -> list[StaticRequest]:
        """Every request so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def count(self, path_contains: str = "") -> int:
        """How many requests had `path_contains` in their path (all requests when empty)."""
        return sum(1 for r in self.requests if path_contains in r.path)

    def reset_requests(self) -> None:
        """Forget the requests recorded so far."""
        with self._lock:
            self._requests.clear()

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self._requests.append(StaticRequest(method, path, status))

    def _take_fault(self, path: str) -> int | None:
        with self._lock:
            queue = self._faults.get(path)
            return queue.pop(0) if queue else None

    def _file(self, path: str) -> Path | None:
        candidate = (self.root / path.lstrip("/")).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            return None
        return candidate if candidate.is_file() else None


class _Handler(BaseHTTPRequestHandler):
    owner: StaticServer
    server_version = "ptmlock-static/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, *, body: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        method = "GET" if body else "HEAD"
        fault = self.owner._take_fault(path)
        found = self.owner._file(path) if fault is None else None
        status = fault if fault is not None else (200 if found is not None else 404)
        self.owner._record(method, path, status)  # before answering: a client that got its answer finds it
        if found is None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            size = found.stat().st_size
            handle = open(found, "rb")  # noqa: SIM115 - closed below, after streaming
        except OSError:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with handle:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            if body:
                for chunk in _chunks(handle):
                    try:
                        self.wfile.write(chunk)
                    except (ConnectionError, TimeoutError):
                        return


def _chunks(handle: Any) -> Iterator[bytes]:
    while chunk := handle.read(_CHUNK):
        yield chunk
