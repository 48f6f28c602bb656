"""Fault injection and the request log of `LocalHub`."""
from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

_SENTINEL: Any = object()


class RecordedRequest(NamedTuple):
    """One request the hub answered: `path` is percent-decoded, `query` is the raw query string."""

    method: str
    path: str
    query: str
    status: int


class Fault:
    """A fault the hub injects into the requests whose `"METHOD /path"` matches `match`.

    Args:
        match: regular expression searched in `"METHOD /decoded/path"`, e.g. `r"GET /api/models/org/a"`.
        status: answer this HTTP status instead of the real answer; `None` keeps the real answer.
            Defaults to 500, or to `None` when `delay`, `transform_json`, `body` or `cut_after` is given.
        times: how many matching requests to affect; `None` means every one.
        delay: seconds to wait before answering (longer than the client's timeout makes a timeout).
        transform_json: called with the decoded JSON answer (a dict, or a list for tree pages) and
            returns the JSON to send instead, e.g. to serve an unsafe path or a non-hex sha.
        body: bytes to send instead of the real body (a corrupt file).
        cut_after: send the headers and this many body bytes, then drop the connection.
        error_code: `X-Error-Code` header sent with an injected status, e.g. `"GatedRepo"`.
        headers: extra response headers.

    Only the first matching fault applies to a request.
    """

    def __init__(
        self,
        match: str,
        status: int | None = _SENTINEL,
        times: int | None = 1,
        delay: float = 0.0,
        transform_json: Callable[[Any], Any] | None = None,
        body: bytes | None = None,
        cut_after: int | None = None,
        error_code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if status is _SENTINEL:
            modifies = delay or transform_json is not None or body is not None or cut_after is not None
            status = None if modifies else 500
        self.match = match
        self.status = status
        self.times = times
        self.delay = delay
        self.transform_json = transform_json
        self.body = body
        self.cut_after = cut_after
        self.error_code = error_code
        self.headers = dict(headers or {})
        self.hits = 0
        self._regex = re.compile(match)

    @property
    def live(self) -> bool:
        """Whether the fault still applies to requests (`times` not yet used up)."""
        return self.times is None or self.hits < self.times

    def matches(self, target: str) -> bool:
        """Whether `target` (`"METHOD /decoded/path"`) matches this fault's pattern."""
        return self._regex.search(target) is not None

    def __repr__(self) -> str:
        return (f"Fault(match={self.match!r}, status={self.status!r}, times={self.times!r}, delay={self.delay!r}, "
                f"hits={self.hits})")


class RequestLog:
    """The request log and fault list of `LocalHub` (the server records and takes faults here)."""

    _log_lock: threading.Lock
    _requests: list[RecordedRequest]
    _faults: list[Fault]

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests answered so far, oldest first."""
        with self._log_lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        """Forget the recorded requests."""
        with self._log_lock:
            self._requests.clear()

    def count(self, method: str | None = None, path_contains: str | None = None) -> int:
        """How many recorded requests have this method and a path containing `path_contains`."""
        return sum(1 for r in self.requests
                   if (method is None or r.method == method.upper())
                   and (path_contains is None or path_contains in r.path))

    def add_fault(self, fault: Fault) -> Fault:
        """Inject `fault` (see `Fault`); returns it, so a test can read `fault.hits`."""
        with self._log_lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Remove every fault."""
        with self._log_lock:
            self._faults.clear()

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first live fault matching this request, counted as used (server side)."""
        target = f"{method} {path}"
        with self._log_lock:
            for fault in self._faults:
                if fault.live and fault.matches(target):
                    fault.hits += 1
                    return fault
        return None

    def record(self, method: str, path: str, query: str, status: int) -> None:
        with self._log_lock:
            self._requests.append(RecordedRequest(method, path, query, status))
