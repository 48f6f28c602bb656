"""A hostile registry (or token server) of the tests' own, on a loopback address (issue 22).

`HostileServer(answer)` listens on `127.0.0.x`; for each request, `answer(Request)` returns the
`Reply` to send: any status, headers and body, sent at once, one byte every `drip` seconds
(headers or body), or from an endless generator (a "3 GB" answer). It records every request
(method, path, headers) and how many body bytes it managed to send, so a test can prove what
ptmlock sent where, and that it stopped reading.
"""
from __future__ import annotations

import hashlib
import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ptmlock.oci.layout import ARTIFACT_TYPE, COMMIT, CONFIG_TYPE, FILEPATH, MANIFEST_TYPE, REPO, WEIGHT_TYPE


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # names lowercased


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks: Iterable[bytes] | None = None  # an endless (or huge) body, sent without Content-Length
    drip: float = 0.0  # seconds between bytes
    drip_headers: bool = False  # drip the status line and headers (else the body)


class HostileServer:
    def __init__(self, answer: Callable[[Request], Reply], host: str = "127.0.0.1") -> None:
        self.answer = answer
        self.requests: list[Request] = []
        self.sent = 0  # body bytes written
        self.stop = threading.Event()
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    server._serve(self.request)
                except OSError:
                    pass  # the client hung up: often the point

        self._server = socketserver.ThreadingTCPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self.host = f"{host}:{self._server.server_address[1]}"
        self.base = f"http://{self.host}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def __enter__(self) -> HostileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._server.shutdown()
        self._server.server_close()

    def authorizations(self) -> list[str]:
        return [r.headers["authorization"] for r in self.requests if "authorization" in r.headers]

    def _serve(self, sock: socket.socket) -> None:
        reader = sock.makefile("rb")
        line = reader.readline(70000)
        if not line:
            return
        method, path, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (h := reader.readline(70000)) not in (b"\r\n", b"\n", b""):
            name, _, value = h.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        while length > 0:  # an upload: read and drop it
            got = reader.read(min(length, 1 << 20))
            if not got:
                break
            length -= len(got)
        request = Request(method, path, headers)
        self.requests.append(request)
        reply = self.answer(request)
        head = [f"HTTP/1.1 {reply.status} Hostile"]
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        if reply.chunks is None and "Content-Length" not in reply.headers:
            head.append(f"Content-Length: {len(reply.body)}")
        head.append("Connection: close")
        raw_head = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if reply.drip_headers:
            self._drip(sock, raw_head * 1000, reply.drip, count=False)
            return
        sock.sendall(raw_head)
        if reply.drip:
            self._drip(sock, reply.body, reply.drip, count=True)
        elif reply.chunks is not None:
            for chunk in reply.chunks:
                if self.stop.is_set():
                    return
                sock.sendall(chunk)
                self.sent += len(chunk)
        else:
            sock.sendall(reply.body)
            self.sent += len(reply.body)

    def _drip(self, sock: socket.socket, data: bytes, interval: float, *, count: bool) -> None:
        for i in range(len(data)):
            if self.stop.wait(interval):
                return
            sock.sendall(data[i:i + 1])
            self.sent += count


def endless(chunk: int = 1 << 20, total: int = 3 * 1024 ** 3) -> Iterable[bytes]:
    """`total` bytes (3 GB by default) of `x`, one `chunk` at a time."""
    block = b"x" * chunk
    for _ in range(total // chunk):
        yield block


def modelpack(repo: str, commit: str, files: dict[str, bytes]) -> tuple[bytes, dict[str, bytes]]:
    """A ModelPack manifest for `files` of `repo@commit` as publish writes it, and its blobs by digest."""
    blobs = {f"sha256:{hashlib.sha256(data).hexdigest()}": data for data in files.values()}
    config = b"{}"
    blobs[f"sha256:{hashlib.sha256(config).hexdigest()}"] = config
    manifest = {
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE, "artifactType": ARTIFACT_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": f"sha256:{hashlib.sha256(config).hexdigest()}", "size": 2},
        "layers": [{"mediaType": WEIGHT_TYPE, "digest": f"sha256:{hashlib.sha256(data).hexdigest()}",
                    "size": len(data), "annotations": {FILEPATH: path}} for path, data in files.items()],
        "annotations": {REPO: repo, COMMIT: commit},
    }
    return json.dumps(manifest).encode(), blobs


def wait_for(predicate: Callable[[], bool], seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
