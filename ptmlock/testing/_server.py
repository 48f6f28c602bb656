"""The HTTP side of `LocalHub`: a threading stdlib server on 127.0.0.1.

It sleeps the hub's latency, applies faults, records each request (before answering, so a client
that got its answer always finds its request in the log), and streams the `Router`'s answer.
"""
from __future__ import annotations

import copy
import json
import socket
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ptmlock.testing._routes import Response, Router, error_response, json_response

if TYPE_CHECKING:
    from ptmlock.testing._faults import Fault
    from ptmlock.testing._hub import HubStore

_CHUNK = 1 << 20


def _fault_response(fault: Fault) -> Response:
    assert fault.status is not None
    headers = [*([("X-Error-Code", fault.error_code)] if fault.error_code else []), *fault.headers.items()]
    if fault.body is not None:
        return Response(fault.status, fault.body, headers=headers)
    message = f"Injected fault: HTTP {fault.status}"
    return json_response({"error": message}, fault.status, [*headers, ("X-Error-Message", message)])


def _apply_fault(resp: Response, fault: Fault) -> Response:
    if fault.transform_json is not None and resp.json is not None:
        data = fault.transform_json(copy.deepcopy(resp.json))
        resp.json, resp.body = data, json.dumps(data).encode()
    if fault.body is not None:
        resp.body, resp.file = fault.body, None
    resp.headers.extend(fault.headers.items())
    return resp


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "LocalHub/1.0"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are closed after this

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            pass  # the client went away (e.g. it timed out first)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        hub: HubStore = self.server.hub  # type: ignore[attr-defined]
        split = urlsplit(self.path)
        path = unquote(split.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        if hub.latency:
            time.sleep(hub.latency)
        fault = hub.take_fault(method, path)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.status is not None:
            resp = _fault_response(fault)
        else:
            try:
                resp = Router(self, method, split.path, split.query, body).route()
            except Exception:
                hub.server_errors.append(traceback.format_exc())
                resp = error_response(500, None, "Internal Error")
            if fault is not None:
                resp = _apply_fault(resp, fault)
        # recorded before sending, so a client that got its answer always finds its request logged
        hub.record(method, path, split.query, resp.status)
        self._send(method, resp, fault.cut_after if fault is not None else None)

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes: without TCP_NODELAY, Nagle's algorithm waits for
        # the client's delayed ACK and adds ~40 ms to every answer on a keep-alive connection.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, method: str, resp: Response, cut_after: int | None) -> None:
        self.send_response(resp.status)
        for name, value in resp.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(resp.length))
        self.end_headers()
        budget = 0 if method == "HEAD" else resp.length if cut_after is None else min(cut_after, resp.length)
        if resp.file is None:
            self.wfile.write(resp.body[:budget])
        elif budget:
            path, offset, _ = resp.file
            with open(path, "rb") as f:
                f.seek(offset)
                while budget > 0:
                    chunk = f.read(min(_CHUNK, budget))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    budget -= len(chunk)
        if cut_after is not None:
            self.close_connection = True  # drop the connection mid-body: an interrupted download


class _HubServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024  # 200 concurrent clients must not overflow the listen backlog
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], hub: HubStore) -> None:
        super().__init__(address, _Handler)
        self.hub = hub
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:  # socketserver hook: keep it, not stderr
        self.hub.server_errors.append(traceback.format_exc())


def start_server(hub: HubStore, port: int = 0) -> tuple[_HubServer, threading.Thread]:
    server = _HubServer(("127.0.0.1", port), hub)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name=f"LocalHub:{server.server_address[1]}", daemon=True)
    thread.start()
    return server, thread


def stop_server(server: _HubServer) -> None:
    server.shutdown()
    with server.connections_lock:
        connections = list(server.connections)
    for conn in connections:  # idle keep-alive connections would otherwise outlive the hub
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    server.server_close()
