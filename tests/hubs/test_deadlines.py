"""Deadlines that hold (issue 11 §4): `PTMLOCK_HUB_DEADLINE` bounds a hub that trickles its
headers or its body one byte at a time, and `sync` cuts a stalled download after
`PTMLOCK_STALL_TIMEOUT` and resumes it with `Range`.

The slow hub is a real server on 127.0.0.1 (`SlowProxy`, below) in front of the real
`LocalHub`: it forwards each request and sends the answer back slowly, as a slow-loris peer would.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import socket
import socketserver
import subprocess
import threading
import time
from urllib.parse import urlsplit

import pytest

from lockhelpers import PY, write_manifest
from ptmlock.install.hf_cache import hub_cache_dir
from tinymodels import point_huggingface_hub_at

DEADLINE = 3.0
STALL = 1.0
# Time on top of the deadline for the last back-off and the process's own work, under load.
MARGIN = 3.0
BIG = os.urandom(256 * 1024)  # large enough that a trickle cannot finish it


class SlowProxy:
    """Forwards HTTP/1.1 requests to `upstream` and answers as `mode` says, for requests whose
    path contains `match` (others are answered at full speed):

    - `headers`: the status line and headers one byte every `interval` seconds, forever;
    - `body`: the real headers at once, then the body one byte every `interval` seconds;
    - `stall-once`: the first matching GET gets its headers and half its body at once, then
      the rest one byte every `interval` seconds; later ones (the `Range` retry) are answered
      at full speed.

    `requests` records (method, path, Range header) of every request.
    """

    def __init__(self, upstream: str, mode: str, match: str, interval: float = 1.0) -> None:
        self.upstream = urlsplit(upstream)
        self.mode, self.match, self.interval = mode, match, interval
        self.requests: list[tuple[str, str, str | None]] = []
        self.stop = threading.Event()
        self.stalled = False
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    proxy.serve(self.request)
                except OSError:
                    pass  # the client gave up: that is the point

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()

    def serve(self, sock: socket.socket) -> None:
        reader = sock.makefile("rb")
        while not self.stop.is_set():  # keep-alive: one request after another
            line = reader.readline()
            if not line:
                return
            method, path, _ = line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while (h := reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = h.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            self.requests.append((method, path, headers.get("range")))
            slow = self.match in path
            if slow and self.mode == "headers":
                self._trickle(sock, b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000)
                return
            status, reason, out_headers, body = self._forward(method, path, headers)
            head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in out_headers) + "\r\n"
            sock.sendall(head.encode("latin-1"))
            if slow and self.mode == "body" and method == "GET":
                self._trickle(sock, body)
                return
            if slow and self.mode == "stall-once" and method == "GET" and not self.stalled:
                self.stalled = True
                sock.sendall(body[: len(body) // 2])
                self._trickle(sock, body[len(body) // 2:])  # a read timeout never fires on this
                return
            sock.sendall(body)

    def _trickle(self, sock: socket.socket, data: bytes) -> None:
        for i in range(len(data)):
            if self.stop.wait(self.interval):
                return
            sock.sendall(data[i:i + 1])

    def _forward(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=10)
        keep = {k: v for k, v in headers.items() if k in ("range", "accept-encoding", "authorization", "user-agent")}
        conn.request(method, path, headers=keep)
        r = conn.getresponse()
        body = r.read()
        conn.close()
        out = [(k, v) for k, v in r.getheaders() if k.lower() not in ("connection", "transfer-encoding",
                                                                       "content-length")]
        out.append(("Content-Length", str(len(body) if method != "HEAD" else r.getheader("Content-Length", "0"))))
        return r.status, r.reason, out, body


@pytest.fixture
def slow(hub, monkeypatch):
    """`slow(mode, match)`: a `SlowProxy` in front of the hub, with HF_ENDPOINT pointed at it."""
    proxies: list[SlowProxy] = []

    def start(mode: str, match: str) -> SlowProxy:
        proxy = SlowProxy(hub.endpoint, mode, match)
        proxies.append(proxy)
        point_huggingface_hub_at(monkeypatch, proxy.endpoint)
        return proxy

    yield start
    for proxy in proxies:
        proxy.close()


@pytest.fixture(autouse=True)
def _short_deadlines(monkeypatch, tmp_path):
    monkeypatch.setenv("PTMLOCK_HUB_DEADLINE", str(DEADLINE))
    monkeypatch.setenv("PTMLOCK_HUB_TIMEOUT", "2")
    monkeypatch.setenv("PTMLOCK_STALL_TIMEOUT", str(STALL))


def _timed(ptm, *args):
    start = time.monotonic()
    r = ptm(*args)
    return r, time.monotonic() - start


@pytest.mark.parametrize("mode", ["headers", "body"])
def test_lock_gives_up_on_a_hub_that_trickles_its_answer_within_the_deadline(hub, slow, project, ptm, mode):
    hub.commit("org/a", {"config.json": b"{}"})
    write_manifest(project, {"org/a": {}})
    slow(mode, "/api/models/org/a")
    r, took = _timed(ptm, "lock")
    assert r.code == 4, r.err
    assert "did not answer model 'org/a'" in r.err and "PTMLOCK_HUB_DEADLINE" in r.err
    assert "Traceback" not in r.err
    assert took < DEADLINE + MARGIN, f"lock took {took:.1f}s with a {DEADLINE}s deadline"
    assert not (project / "ptm.lock").exists()


def test_lock_through_the_real_process_gives_up_on_trickled_headers_without_traceback(hub, slow, project):
    hub.commit("org/a", {"config.json": b"{}"})
    write_manifest(project, {"org/a": {}})
    slow("headers", "/api/models/org/a")
    start = time.monotonic()
    r = subprocess.run([PY, "-m", "ptmlock", "lock"], cwd=project, capture_output=True, text=True,
                       env=dict(os.environ), timeout=60)
    took = time.monotonic() - start
    assert r.returncode == 4, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") <= 2, r.stderr
    assert took < DEADLINE + MARGIN + 5.0, f"{took:.1f}s"  # + interpreter start and imports


def _lock_big(hub, project, ptm):
    sha = hub.commit("org/big", {"config.json": b"{}", "model.safetensors": BIG})
    write_manifest(project, {"org/big": {}})
    r = ptm("lock")
    assert r.code == 0, r.err
    return sha


def test_sync_gives_up_on_a_body_trickled_one_byte_a_second_within_the_deadline(hub, slow, project, ptm):
    _lock_big(hub, project, ptm)
    slow("body", "/model.safetensors")
    r, took = _timed(ptm, "sync")
    assert r.code == 4, r.err
    assert "without progress" in r.err and "PTMLOCK_STALL_TIMEOUT" in r.err
    assert "Traceback" not in r.err
    # each try is cut after the stall time; the deadline counts from the last real progress
    assert took < DEADLINE + STALL + MARGIN, f"sync took {took:.1f}s"
    blobs = hub_cache_dir() / "models--org--big" / "blobs"
    assert not (blobs / hashlib.sha256(BIG).hexdigest()).exists()  # nothing incomplete was published


def test_sync_gives_up_on_trickled_headers_within_the_deadline(hub, slow, project, ptm):
    _lock_big(hub, project, ptm)
    slow("headers", "/model.safetensors")
    r, took = _timed(ptm, "sync")
    assert r.code == 4, r.err
    assert "Traceback" not in r.err
    assert took < DEADLINE + STALL + MARGIN, f"sync took {took:.1f}s"


def test_sync_cuts_a_stalled_download_and_resumes_it_with_range(hub, slow, project, ptm):
    sha = _lock_big(hub, project, ptm)
    proxy = slow("stall-once", "/model.safetensors")
    r, took = _timed(ptm, "sync")
    assert r.code == 0, r.err
    gets = [(path, rng) for method, path, rng in proxy.requests if method == "GET" and "model.safetensors" in path]
    assert gets[0][1] is None
    resumed_at = int(gets[1][1].removeprefix("bytes=").removesuffix("-"))
    assert len(BIG) // 2 <= resumed_at < len(BIG) // 2 + 10  # the retry asked only for what was missing
    blob = hub_cache_dir() / "models--org--big" / "snapshots" / sha / "model.safetensors"
    assert blob.read_bytes() == BIG
    assert took < DEADLINE + MARGIN


def test_lock_of_a_url_model_gives_up_on_a_trickled_body_within_the_deadline(hub, slow, project, ptm, tmp_path,
                                                                             monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    hub.commit("org/big", {"model.safetensors": BIG})
    proxy = slow("body", "/model.safetensors")
    url = f"{proxy.endpoint}/org/big/resolve/main/model.safetensors"
    write_manifest(project, {url: {"hub": "url"}})
    r, took = _timed(ptm, "lock")
    assert r.code == 4, r.err
    assert "No progress" in r.err and "Traceback" not in r.err
    assert took < DEADLINE + STALL + MARGIN, f"lock took {took:.1f}s"
    assert not list((tmp_path / "torch").rglob("*.ptmlock-partial"))  # nothing left behind


def test_lock_of_a_torchhub_model_gives_up_on_a_git_remote_that_trickles_headers(hub, slow, project, ptm, monkeypatch):
    proxy = slow("headers", "/owner/repo.git")
    monkeypatch.setenv("PTMLOCK_TORCHHUB_URL", proxy.endpoint)
    write_manifest(project, {"owner/repo": {"hub": "torchhub"}})
    r, took = _timed(ptm, "lock")
    assert r.code == 4, r.err
    assert "did not answer torchhub repo 'owner/repo'" in r.err and "Traceback" not in r.err
    assert took < DEADLINE + MARGIN, f"lock took {took:.1f}s"
