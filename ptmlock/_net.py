"""The network rules of ptmlock, one set for every transport (huggingface_hub calls, HTTP downloads,
git subprocesses): which answers are retried, the back-off between tries, the per-request
timeout, the total deadline and the download stall rule.

- `PTMLOCK_HUB_TIMEOUT` (default 10 s): one request's connect and read timeout.
- `PTMLOCK_HUB_DEADLINE` (default 60 s): the total time one hub interaction (resolving a model,
  reading its head commit, one file's download) may go on without progress, retries and slow
  answers included. An answer that trickles in (slow headers, slow body) is cut at the deadline:
  `run_within` stops waiting for it.
- `PTMLOCK_STALL_TIMEOUT` (default 30 s): a file download that receives less than
  `STALL_MIN_RATE` bytes a second over this many seconds is stalled; it is cut and retried with
  `Range` from the bytes it has, under the deadline.

Each transport turns its transient failures (408/429/5xx, refused, reset, timed out) into
`Retry` and lets `with_retries` decide whether to wait `backoff(attempt)` and try again.
"""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ptmlock import settings
from ptmlock.constants import (
    DEFAULT_HUB_DEADLINE,
    DEFAULT_HUB_TIMEOUT,
    DEFAULT_STALL_TIMEOUT,
    ENV_HUB_DEADLINE,
    ENV_HUB_TIMEOUT,
    ENV_STALL_TIMEOUT,
)
from ptmlock.errors import HubUnavailableError

T = TypeVar("T")

# Retried with back-off (huggingface_hub's utils/_http.py::http_backoff retries the same set).
RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})
# A refused connection or an unknown host means nobody is there: a few tries are enough.
REFUSED_TRIES = 3
# Below this many bytes a second (averaged over the stall time) a download makes no progress.
STALL_MIN_RATE = 1024
SETTINGS_HINT = (f"{ENV_HUB_TIMEOUT}, {ENV_HUB_DEADLINE} and {ENV_STALL_TIMEOUT} set the per-request timeout, "
                 "the total deadline and the download stall time")


@dataclass(frozen=True)
class NetLimits:
    """The timeouts every network call of one run obeys (seconds)."""

    timeout: float = DEFAULT_HUB_TIMEOUT
    deadline: float = DEFAULT_HUB_DEADLINE
    stall: float = DEFAULT_STALL_TIMEOUT

    @classmethod
    def from_env(cls, *, timeout: float | None = None, deadline: float | None = None,
                 stall: float | None = None) -> NetLimits:
        """The limits from `PTMLOCK_HUB_TIMEOUT`, `PTMLOCK_HUB_DEADLINE` and `PTMLOCK_STALL_TIMEOUT`
        (parsed by `ptmlock.settings`: a malformed value is an error, never ignored); an argument
        that is not None wins over its variable."""
        return cls(
            timeout=timeout if timeout is not None else settings.hub_timeout(),
            deadline=deadline if deadline is not None else settings.hub_deadline(),
            stall=stall if stall is not None else settings.stall_timeout(),
        )

    def request_timeout(self, left: float) -> float:
        """The timeout of one request when `left` seconds of the deadline remain (at least 0.1 s)."""
        return max(0.1, min(self.timeout, left))


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): 0.25 s doubling up to 8 s,
    with jitter (half to all of it) so parallel clients do not retry in step."""
    return min(8.0, 0.25 * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)


class Retry(Exception):
    """A transient failure: the attempt may be tried again after a back-off.

    `refused` marks a failure that means nobody is listening (refused, unknown host).
    """

    def __init__(self, reason: str, *, refused: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refused = refused


def with_retries(attempt_once: Callable[[float], T], *, limits: NetLimits, source: str, subject: str,
                 fix: str) -> T:
    """Call `attempt_once(seconds_left)` until it returns, retrying on `Retry` with `backoff`.

    It stops when the next try would end past `limits.deadline`, or after `REFUSED_TRIES`
    refused connections, and raises `HubUnavailableError` ("`source` did not answer `subject`
    after N attempts ... `fix`"). Any other exception propagates at once.
    """
    start = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            return attempt_once(limits.deadline - (time.monotonic() - start))
        except Retry as e:
            last, refused = e.reason, e.refused
        elapsed = time.monotonic() - start
        delay = backoff(attempt)
        if (refused and attempt >= REFUSED_TRIES) or elapsed + delay >= limits.deadline:
            what = f" {subject}" if subject else ""
            if refused:  # nobody listens there: no timeout setting would help (issue 24)
                raise HubUnavailableError(f"{source} did not answer{what} after {attempt} attempts in {elapsed:.1f}s "
                                          f"(last: {last}): the connection was refused, nothing is listening there. "
                                          f"{fix}, then try again.")
            raise HubUnavailableError(f"{source} did not answer{what} after {attempt} attempts in {elapsed:.1f}s "
                                      f"(last: {last}). {fix}, then try again; {SETTINGS_HINT}.")
        time.sleep(delay)


def run_within(seconds: float, fn: Callable[[], T], *, on_late: Callable[[T], None] | None = None,
               progress: Callable[[], int] | None = None) -> T:
    """`fn()`, or `Retry` once `seconds` pass without it returning.

    Socket timeouts bound each read, not an answer sent one byte at a time; this bounds the
    whole call. `fn` runs on a daemon thread that is abandoned when time is up (it ends when
    its own socket times out or the process exits); a result it returns late is handed to
    `on_late` (to close a response). Exceptions of `fn` are raised here. With `progress` (a
    counter, e.g. the bytes an upload has sent), the `seconds` count from its last change.
    """
    done = threading.Event()
    lock = threading.Lock()
    box: list[tuple[bool, object]] = []
    abandoned = False

    def target() -> None:
        try:
            outcome: tuple[bool, object] = (True, fn())
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            outcome = (False, e)
        with lock:
            late = abandoned
            box.append(outcome)
        done.set()
        if late and outcome[0] and on_late is not None:
            try:
                on_late(outcome[1])  # type: ignore[arg-type]
            except Exception:  # noqa: BLE001, S110 - best-effort cleanup on a thread nobody waits for
                pass

    threading.Thread(target=target, name="ptmlock-net", daemon=True).start()
    finished = done.wait(max(0.0, seconds)) if progress is None else _wait_progressing(done, seconds, progress)
    with lock:
        if not finished and not box:
            abandoned = True
            raise Retry(f"Timeout: no complete answer within {seconds:.1f}s")
        ok, value = box[0]
    if ok:
        return value  # type: ignore[return-value]
    assert isinstance(value, BaseException)
    raise value


def _wait_progressing(done: threading.Event, seconds: float, progress: Callable[[], int]) -> bool:
    """Wait for `done` until `seconds` pass without `progress()` changing; whether it was set."""
    last, mark = progress(), time.monotonic()
    while not done.wait(max(0.0, min(0.25, mark + seconds - time.monotonic()))):
        now = progress()
        if now != last:
            last, mark = now, time.monotonic()
        elif time.monotonic() - mark >= seconds:
            return False
    return True


class StallWatch:
    """Cuts a download that makes no progress: under `STALL_MIN_RATE` bytes a second over
    `stall` seconds, or (at most) over the `limit` seconds left of the deadline."""

    def __init__(self, *, stall: float, limit: float) -> None:
        self.window = max(0.1, min(stall, limit))
        self.mark = time.monotonic()
        self.received = self.marked = 0

    def update(self, n: int) -> None:
        """Count `n` more bytes; raise `Retry` when the current window was too slow."""
        self.received += n
        now = time.monotonic()
        if now - self.mark < self.window:
            return
        if self.received - self.marked < STALL_MIN_RATE * (now - self.mark):
            raise Retry(f"stalled: {self.received - self.marked} bytes in {now - self.mark:.1f}s")
        self.mark, self.marked = now, self.received


def read_at_most(read: Callable[[int], bytes], cap: int) -> bytes | None:
    """A whole answer body from `read(n)` (b"" at its end), or None as soon as it passes `cap`
    bytes: a 3 GB answer costs `cap` bytes of memory, not 3 GB. Bound the time with `run_within`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = read(min(64 * 1024, cap + 1 - size))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)


def shown(text: str, limit: int = 200) -> str:
    """A peer's text (an error message, a URL it sent) fit for a one-line message: control
    characters and line breaks replaced by `?`, cut at `limit` characters."""
    cut = text[:limit]
    clean = "".join(c if c.isprintable() else "?" for c in cut)
    return clean + ("..." if len(text) > limit else "")


def transport_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the request never got an answer (refused, reset, timed out)."""
    from ptmlock._hfcompat import transport_errors as client_errors

    return (TimeoutError, ConnectionError, *client_errors())


def is_refused(reason: str) -> bool:
    """Whether a transport error's text says nobody is listening (refused, unknown host)."""
    low = reason.lower()
    return any(s in low for s in ("refused", "connecterror", "name or service", "could not resolve host",
                                  "failed to connect", "couldn't connect", "nodename nor servname"))
