"""The HTTP layer of the registry client: ptmlock's network rules (`ptmlock._net`) applied to
every registry and token-server answer (issue 22).

- Headers of each hop, and small bodies (manifests, token answers, error bodies), arrive within
  `PTMLOCK_HUB_DEADLINE` or the try is abandoned (`run_within`), then retried under the deadline;
  for an upload the deadline counts from the last byte the registry read.
- Bodies are capped (`read_at_most`): the caller names the cap; a larger answer is refused
  having read at most the cap.
- Blobs stream through `BlobAnswer`, which cuts a body that stalls (`StallWatch`).
- `Accept-Encoding: identity`: bodies come as stored (digests match, no decompression bombs); an
  answer with another `Content-Encoding` is refused.
- Redirects are followed here (GET and HEAD, at most `MAX_REDIRECTS`), hop by hop, and
  `Authorization` is dropped at a hop `auth.refusal` does not allow.
- Whatever cannot be read is a `HubError` (exit 4) in one line; a transient failure is `Retry`.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from ptmlock import __version__
from ptmlock._net import NetLimits, Retry, StallWatch, is_refused, read_at_most, run_within, shown
from ptmlock.errors import HubError, HubUnavailableError, UnsafeHubAnswerError
from ptmlock.oci.auth import refusal

MAX_REDIRECTS = 5
MAX_ERROR_BODY = 64 * 1024  # enough for the registry's error message
_REDIRECTS = (301, 302, 303, 307, 308)
_TRANSPORT = (requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError)


class Transport:
    """Requests to one registry (`base`, `host`) and the hosts it sends ptmlock to."""

    def __init__(self, base: str, host: str, hosts: Sequence[str] | None, *, pool: int) -> None:
        self.base, self.host, self.hosts = base, host, hosts
        self.plain_url = base  # what to suggest when TLS is answered in plain HTTP (the client names it)
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=max(pool, 2))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = f"ptmlock/{__version__}"
        self.session.headers["Accept-Encoding"] = "identity"  # the bytes as stored: digests match, no gzip bombs
        self.limits = NetLimits.from_env()

    def send(self, method: str, url: str, headers: dict[str, str], body: Path | bytes | None,
              left: float) -> tuple[requests.Response, str]:
        """One request, its redirects followed (GET and HEAD) with `Authorization` only where
        `auth.refusal` allows; the headers of each hop arrive within `left` seconds."""
        started = time.monotonic()
        host = self.host
        for _hop in range(MAX_REDIRECTS + 1):
            remaining = left - (time.monotonic() - started)
            r = self._one(method, url, headers, body, remaining)
            if r.status_code not in _REDIRECTS or method not in ("GET", "HEAD"):
                return r, host
            location = r.headers.get("Location", "")
            r.close()
            try:
                url = urljoin(url, location)
                parts = urlsplit(url)
                host = parts.netloc.lower()
                parts.port  # noqa: B018  (validates the port)
            except ValueError:
                raise HubError(f"{self.base} redirected to {shown(location)!r}, which is not a URL. Check the "
                               "registry and any proxy in between.") from None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise HubError(f"{self.base} redirected to {shown(location)!r}, which is not an HTTP URL. Check "
                               "the registry and any proxy in between.")
            if "Authorization" in headers and refusal(parts.scheme, host, registry=self.host, hosts=self.hosts):
                headers = {k: v for k, v in headers.items() if k != "Authorization"}
        raise HubError(f"{self.base} redirected more than {MAX_REDIRECTS} times (a redirect loop?). Check the "
                       "registry and any proxy in between.")

    def _one(self, method: str, url: str, headers: dict[str, str], body: Path | bytes | None,
             left: float) -> requests.Response:
        timeout = self.limits.request_timeout(max(left, 0.1))

        sent, payload = (_Upload(body), None) if isinstance(body, Path) else (None, body)

        def send() -> requests.Response:
            if sent is not None:
                with sent:  # streamed by requests, re-opened on a retry
                    return self.session.request(method, url, headers=headers, data=sent, timeout=timeout,
                                                stream=True, allow_redirects=False)
            return self.session.request(method, url, headers=headers, data=payload, timeout=timeout, stream=True,
                                        allow_redirects=False)

        try:  # an upload may take longer than the deadline: it is cut after a deadline without progress
            r = run_within(max(left, 0.1) if sent is None else self.limits.deadline, send,
                           on_late=lambda x: x.close(), progress=None if sent is None else lambda: sent.sent)
        except _TRANSPORT as e:
            tls_failure(e, self.base, self.plain_url)  # issue 25: a failed TLS handshake is not transient
            raise Retry(type(e).__name__, refused=is_refused(f"{type(e).__name__}: {e}")) from None
        except (requests.RequestException, ValueError) as e:  # an invalid URL or header (a Location that is
            # no URL: requests parses it even when not following): no transient failure
            raise HubError(f"{self.base}: {method} {short(url)} could not be sent, or its answer not read "
                           f"({type(e).__name__}: {shown(str(e), 80)}). Check the registry URL and any proxy in "
                           "between.") from None
        encoding = r.headers.get("Content-Encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            r.close()
            raise HubError(f"{self.base} answered {method} {short(url)} with Content-Encoding "
                           f"{shown(encoding, 40)!r}, which ptmlock did not ask for (it reads bodies as stored). "
                           "Check the registry and any proxy in between.")
        return r

    def read(self, r: requests.Response, cap: int, what: str) -> bytes:
        """The whole body of `r`, at most `cap` bytes, within the deadline.

        Raises:
            UnsafeHubAnswerError: more than `cap` bytes. HubError: not complete within the deadline.
        """
        try:
            body = _bounded(lambda: read_at_most(_reader(r), cap), self.limits.deadline)
        except Retry as e:
            r.close()
            raise HubError(f"{self.base} did not send {what} in full within {self.limits.deadline:.0f}s "
                           f"({e.reason}); PTMLOCK_HUB_DEADLINE sets the deadline.") from None
        if body is None:
            raise UnsafeHubAnswerError(f"{self.base}: {what} is larger than {cap} bytes; ptmlock refuses to "
                                       "read it.")
        return body

    def error_message(self, r: requests.Response) -> str:
        """The registry's own error message in `r` (`{"errors": [{"code", "message"}]}`), or ""."""
        try:
            body = _bounded(lambda: read_at_most(_reader(r), MAX_ERROR_BODY), min(self.limits.deadline, 5.0))
            data: Any = json.loads(body) if body else None
            errors = data.get("errors") if isinstance(data, dict) else None
            first = errors[0] if isinstance(errors, list) and errors else None
            if isinstance(first, dict):
                return shown(f"{first.get('code', '')} {first.get('message', '')}".strip())
        except (Retry, ValueError, RecursionError, requests.RequestException):
            pass
        return ""


class _Upload:
    """A file as an upload body that counts the bytes `requests` has read from it (`sent`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sent = 0
        self._f: Any = None

    def __enter__(self) -> _Upload:
        self._f = open(self.path, "rb")  # noqa: SIM115 - closed by __exit__
        self.sent = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()

    def __len__(self) -> int:
        return int(os.fstat(self._f.fileno()).st_size) - self.sent

    def read(self, n: int = -1) -> bytes:
        data: bytes = self._f.read(n)
        self.sent += len(data)
        return data


class BlobAnswer:
    """A blob's streamed answer: `status_code`, `headers`, and the body through `iter_content`
    or `read` (a file-like, e.g. for `tarfile`), both of which cut a body that stalls (under
    1 KiB/s over `PTMLOCK_STALL_TIMEOUT`) with `requests.Timeout`, so the caller resumes it with
    `Range` as it does for a cut connection (`requests.ConnectionError`)."""

    def __init__(self, response: requests.Response, limits: NetLimits, what: str) -> None:
        self.response = response
        self.status_code = response.status_code
        self.headers = response.headers
        self._what = what
        self._read = _reader(response)
        self._watch = StallWatch(stall=limits.stall, limit=limits.deadline)

    def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes (1 MiB when `n` < 0) as they arrive; b"" at the end.

        Raises:
            requests.Timeout: stalled. requests.ConnectionError: cut off.
        """
        data = self._read(n if n > 0 else 1024 * 1024)
        try:
            self._watch.update(len(data))
        except Retry as e:
            raise requests.Timeout(f"{self._what}: {e.reason}") from None
        return data

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        """The body as it arrives, in pieces of up to `chunk_size` bytes; on an error, what
        arrived is yielded before the error is raised (so the caller keeps it and asks for the rest)."""
        pending: list[bytes] = []
        size = 0
        try:
            while True:
                data = self.read(chunk_size - size)
                if data:
                    pending.append(data)
                    size += len(data)
                if not data or size >= chunk_size:
                    if pending:
                        yield b"".join(pending)
                    pending, size = [], 0
                if not data:
                    return
        except (requests.ConnectionError, requests.Timeout) as e:
            error = e
        if pending:
            yield b"".join(pending)
        raise error


def _reader(r: requests.Response) -> Callable[[int], bytes]:
    """`read(n)`: up to `n` bytes as they arrive (b"" at the end); the client's errors as `requests`'."""
    raw = r.raw

    def read(n: int) -> bytes:
        try:
            return bytes(raw.read1(max(n, 1), decode_content=False))
        except urllib3.exceptions.ReadTimeoutError as e:
            raise requests.Timeout(type(e).__name__) from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise requests.ConnectionError(type(e).__name__) from None

    return read


def _bounded(fn: Callable[[], bytes | None], seconds: float) -> bytes | None:
    try:
        return run_within(seconds, fn)
    except (requests.ConnectionError, requests.Timeout) as e:
        raise Retry(type(e).__name__) from None


# What OpenSSL says when the TLS handshake is answered by a plain HTTP server (issue 25).
_PLAIN_HTTP = ("wrong version number", "record layer failure", "packet length too long", "unknown protocol")


def tls_failure(e: Exception, base: str, plain_url: str) -> None:
    """Raise at once for a failed TLS handshake, naming a registry that answered in plain HTTP."""
    if not isinstance(e, requests.exceptions.SSLError):
        return
    text = str(e).lower()
    if any(s in text for s in _PLAIN_HTTP):
        raise HubUnavailableError(
            f"The OCI registry {base}: this registry speaks plain HTTP: use {plain_url} or "
            "insecure = true (it answered the TLS handshake in plain HTTP).")
    detail = text.rsplit("(caused by ", 1)[-1].strip(")").strip()[:200]
    raise HubUnavailableError(f"The OCI registry {base} failed the TLS handshake ({shown(detail, 200)}). Check its "
                              "certificate; REQUESTS_CA_BUNDLE names a private CA.")


def short(path: str) -> str:
    try:
        return shown(urlsplit(path).path)
    except ValueError:
        return "?"
