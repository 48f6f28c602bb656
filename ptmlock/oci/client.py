"""The OCI distribution API, as much of it as publish and sync need, over `requests`.

Why not oras-py (measured with oras 0.2.43, docs/oci.md): its `do_request` retries every
failure, an authentication refusal included, five times with sleeps of 2 + 3**n seconds, so a
wrong password took minutes to report; it reads a whole blob into memory to upload it; it
reads only `~/.docker/config.json` (not `DOCKER_CONFIG`); and it writes downloads straight to
their final name without checking them. oras-py stays in the tests, as the independent client
that proves the layout interoperates.

Auth follows the registry's challenge: a 401 with `WWW-Authenticate: Basic` is answered with
the user and password, `Bearer realm=...,service=...,scope=...` with a token from the realm
(sent the user and password when there are any). Credentials go only to the registry's own
host and its token realm, never over plain HTTP to another machine, and are never printed.
"""
from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from ptmlock import __version__, settings
from ptmlock._net import REFUSED_TRIES, RETRY_STATUS, is_refused
from ptmlock.constants import (
    ENV_HUB_DEADLINE,
    ENV_HUB_TIMEOUT,
)
from ptmlock.errors import (
    HubError,
    HubUnavailableError,
    RegistryAuthError,
    UnsafeHubAnswerError,
)
from ptmlock.oci.auth import Credentials, find_credentials, parse_challenge
from ptmlock.oci.layout import MANIFEST_TYPE, RegistryURL, is_loopback

MAX_MANIFEST = 4 * 1024 * 1024  # the distribution registry's own limit on a manifest
_TRANSPORT = (requests.ConnectionError, requests.Timeout)
# What OpenSSL says when the TLS handshake is answered by a plain HTTP server (issue 25): named at once, never retried.
_PLAIN_HTTP = ("wrong version number", "record layer failure", "packet length too long", "unknown protocol")


class RegistryClient:
    """One registry, shared by threads: `blob_exists`, `upload_blob`, `put_manifest`,
    `get_manifest`, `open_blob`. Every method raises `HubError` subclasses only."""

    def __init__(self, url: RegistryURL, *, credentials: Credentials | None = None, pool: int = 8) -> None:
        self.url = url
        self.credentials = credentials if credentials is not None else find_credentials(url.host)
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=2, pool_maxsize=max(pool, 2))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = f"ptmlock/{__version__}"
        self.timeout = settings.hub_timeout()
        self.deadline = settings.hub_deadline()
        self._authz: dict[str, str] = {}  # scope -> Authorization value
        self._basic: str | None = None  # once a registry asked for Basic, it gets it up front
        self._lock = threading.Lock()

    # --- the API ---

    def blob_exists(self, repo: str, digest: str) -> bool:
        """True when `repo` already has the blob `digest` (HEAD, no body)."""
        r = self._request("HEAD", f"/v2/{repo}/blobs/{digest}", repo=repo, ok=(200, 404))
        return r.status_code == 200

    def upload_blob(self, repo: str, digest: str, size: int, source: Path | bytes) -> None:
        """Upload `source` (a file, streamed; or bytes) as blob `digest` in one PUT."""
        r = self._request("POST", f"/v2/{repo}/blobs/uploads/", repo=repo, push=True, ok=(202,),
                          headers={"Content-Length": "0"})
        location = self._same_host(r.headers.get("Location", ""), "upload location")
        sep = "&" if "?" in location else "?"
        self._request("PUT", f"{location}{sep}digest={digest}", repo=repo, push=True, ok=(201,), body=source,
                      headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})

    def put_manifest(self, repo: str, reference: str, manifest: bytes, *, media_type: str = MANIFEST_TYPE) -> bool:
        """Store `manifest` (an OCI image manifest, or `media_type`) at `repo:reference`. True when
        the registry says it indexed the manifest's `subject` (OCI 1.1 `OCI-Subject` header)."""
        r = self._request("PUT", f"/v2/{repo}/manifests/{reference}", repo=repo, push=True, ok=(201,),
                          body=manifest, headers={"Content-Type": media_type})
        return "OCI-Subject" in r.headers

    def get_manifest(self, repo: str, reference: str, *, accept: str = MANIFEST_TYPE,
                     referrers: bool = False) -> bytes | None:
        """The manifest at `repo:reference` (`accept`: its media type), or None when the registry has
        none (404). With `referrers`, the OCI 1.1 referrers index of the digest `reference` (None:
        the registry has no referrers API).

        Raises:
            UnsafeHubAnswerError: larger than `MAX_MANIFEST`.
        """
        path = f"/v2/{repo}/{'referrers' if referrers else 'manifests'}/{reference}"
        with self._stream("GET", path, repo=repo, ok=(200, 404), headers={"Accept": accept}) as r:
            if r.status_code == 404:
                return None
            body = b""
            for chunk in r.iter_content(64 * 1024):
                body += chunk
                if len(body) > MAX_MANIFEST:
                    raise UnsafeHubAnswerError(f"{self.url.base}: the manifest of {repo}:{reference} is larger than "
                                               f"{MAX_MANIFEST} bytes; ptmlock refuses to read it.")
            return body

    @contextmanager
    def open_blob(self, repo: str, digest: str, *, start: int = 0) -> Iterator[requests.Response | None]:
        """The streamed answer for blob `digest` (None when absent), closed on exit. From byte
        `start` on when > 0 (`Range`): the answer is 206 then, or 200 with the whole blob when the
        registry ignores the range."""
        headers = {"Range": f"bytes={start}-"} if start else None
        with self._stream("GET", f"/v2/{repo}/blobs/{digest}", repo=repo, ok=(200, 206, 404), headers=headers) as r:
            yield None if r.status_code == 404 else r

    # --- plumbing ---

    def _same_host(self, location: str, what: str) -> str:
        full = urljoin(self.url.base + "/", location)
        parts = urlsplit(full)
        if not location or parts.scheme != self.url.scheme or parts.netloc.lower() != self.url.host:
            raise UnsafeHubAnswerError(f"{self.url.base} answered an {what} on another host or scheme "
                                       f"({parts.scheme}://{parts.netloc}); ptmlock sends nothing there.")
        return full

    def _request(self, method: str, path: str, *, repo: str, push: bool = False, ok: tuple[int, ...] = (200,),
                 headers: dict[str, str] | None = None, body: Path | bytes | None = None) -> requests.Response:
        with self._stream(method, path, repo=repo, push=push, ok=ok, headers=headers, body=body) as r:
            if method != "HEAD":
                r.content  # noqa: B018  (read the small answer before the connection goes back)
            return r

    @contextmanager
    def _stream(self, method: str, path: str, *, repo: str, push: bool = False, ok: tuple[int, ...] = (200,),
                headers: dict[str, str] | None = None,
                body: Path | bytes | None = None) -> Iterator[requests.Response]:
        url = path if path.startswith(("http://", "https://")) else self.url.base + path
        scope = f"repository:{repo}:{'pull,push' if push else 'pull'}"
        start, tries, refreshed, refused = time.monotonic(), 0, False, 0
        while True:
            tries += 1
            sent = dict(headers or {})
            authz = self._authz.get(scope, self._basic)
            if authz is not None:
                sent["Authorization"] = authz
            try:
                r = self._send(method, url, sent, body)
            except _TRANSPORT as e:
                reason: str = type(e).__name__
                r = None
                self._tls_failure(e)  # issue 25: a TLS failure is not transient
                refused += is_refused(str(e)) or "resolve" in str(e).lower()
            if r is not None and r.status_code == 401 and not refreshed:
                refreshed = True
                challenge = r.headers.get("WWW-Authenticate", "")
                r.close()
                self._answer(challenge, scope, method, path)
                continue
            if r is not None and r.status_code not in RETRY_STATUS:
                break
            if r is not None:
                reason = f"HTTP {r.status_code}"
                r.close()
            delay = min(8.0, 0.25 * 2 ** (tries - 1)) * (0.5 + random.random() / 2)
            if time.monotonic() - start + delay > self.deadline or refused >= REFUSED_TRIES:
                raise HubUnavailableError(
                    f"The OCI registry {self.url.base} did not answer {method} {_short(path)} after {tries} attempts "
                    f"in {time.monotonic() - start:.1f}s (last: {reason}). Check that it runs and is reachable; "
                    f"{ENV_HUB_TIMEOUT} and {ENV_HUB_DEADLINE} set the per-request timeout and the deadline.")
            time.sleep(delay)
        assert r is not None
        try:
            if r.status_code not in ok:
                self._fail(r, method, path, repo)
            yield r
        finally:
            r.close()

    def _tls_failure(self, e: Exception) -> None:
        """Raise at once for a failed TLS handshake, naming a registry that answered in plain HTTP."""
        if not isinstance(e, requests.exceptions.SSLError):
            return
        text = str(e).lower()
        if any(s in text for s in _PLAIN_HTTP):
            raise HubUnavailableError(
                f"The OCI registry {self.url.base}: this registry speaks plain HTTP: use oci+http://{self.url.host}/"
                f"{self.url.namespace} or insecure = true (it answered the TLS handshake in plain HTTP).")
        detail = text.rsplit("(caused by ", 1)[-1].strip(")").strip()[:200]
        raise HubUnavailableError(f"The OCI registry {self.url.base} failed the TLS handshake ({detail}). Check its "
                                  "certificate; REQUESTS_CA_BUNDLE names a private CA.")

    def _send(self, method: str, url: str, headers: dict[str, str], body: Path | bytes | None) -> requests.Response:
        if isinstance(body, Path):
            with open(body, "rb") as f:  # streamed by requests, re-opened on a retry
                return self.session.request(method, url, headers=headers, data=f, timeout=self.timeout, stream=True,
                                            allow_redirects=False)
        return self.session.request(method, url, headers=headers, data=body, timeout=self.timeout, stream=True,
                                    allow_redirects=method in ("GET", "HEAD"))

    def _answer(self, challenge: str, scope: str, method: str, path: str) -> None:
        """Learn the Authorization value for `scope` from a 401's challenge."""
        scheme, params = parse_challenge(challenge)
        creds = self.credentials
        if scheme == "basic":
            value = creds.basic() if creds is not None else None
            if value is None:
                raise self._refused(401, method, path, "it asks for a user and password")
            if self.url.scheme == "http" and not is_loopback(self.url.host):
                raise self._refused(401, method, path, "ptmlock does not send a password over plain HTTP")
            self._authz[scope] = self._basic = value
            return
        if scheme == "bearer" and params.get("realm"):
            self._authz[scope] = "Bearer " + self._token(params, scope, method, path)
            return
        raise self._refused(401, method, path, f"its challenge {challenge.split(' ', 1)[0]!r} is not Basic or Bearer")

    def _token(self, params: dict[str, str], scope: str, method: str, path: str) -> str:
        realm = params["realm"]
        parts = urlsplit(realm)
        creds = self.credentials
        if creds is not None and creds.token is not None:
            return creds.token
        plain = parts.scheme == "http" and not is_loopback(parts.netloc)
        if parts.scheme not in ("http", "https") or (plain and (self.url.scheme == "https" or creds is not None)):
            raise UnsafeHubAnswerError(f"{self.url.base} sent its token realm to {realm!r}, which is not an HTTPS URL "
                                       "on another machine; ptmlock sends no credentials there.")
        query = {"scope": params.get("scope") or scope, **({"service": params["service"]} if "service" in params else {})}
        headers = {}
        if creds is not None and creds.basic() is not None:
            headers["Authorization"] = str(creds.basic())
        with self._lock:
            try:
                r = self.session.get(realm, params=query, headers=headers, timeout=self.timeout)
            except _TRANSPORT as e:
                raise HubUnavailableError(f"The token server {realm} of {self.url.base} did not answer "
                                          f"({type(e).__name__}).") from None
        if r.status_code in (401, 403):
            raise self._refused(r.status_code, method, path, f"its token server {realm} refused the credentials")
        try:
            data = r.json() if r.status_code == 200 and len(r.content) < 1024 * 1024 else None
            token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        except ValueError:
            token = None
        if not isinstance(token, str) or not token:
            raise HubError(f"The token server {realm} of {self.url.base} answered HTTP {r.status_code} without a token.")
        return token

    def _refused(self, status: int, method: str, path: str, why: str) -> RegistryAuthError:
        who = f" (credentials from {self.credentials.origin})" if self.credentials is not None else " (anonymous)"
        return RegistryAuthError(
            f"The OCI registry {self.url.base} refused {method} {_short(path)} with HTTP {status}{who}: {why}. "
            "Log in with `docker login`, or set PTMLOCK_OCI_USERNAME and PTMLOCK_OCI_PASSWORD (or PTMLOCK_OCI_TOKEN); "
            "ptmlock never writes them anywhere.")

    def _fail(self, r: requests.Response, method: str, path: str, repo: str) -> None:
        if r.status_code in (401, 403):
            raise self._refused(r.status_code, method, path, "the credentials do not grant this")
        detail = _registry_message(r)
        raise HubError(f"The OCI registry {self.url.base} answered HTTP {r.status_code} to {method} {_short(path)}"
                       f"{': ' + detail if detail else ''}.")


def _short(path: str) -> str:
    return urlsplit(path).path


def _registry_message(r: requests.Response) -> str:
    try:
        data: Any = r.json() if len(r.content) < 64 * 1024 else None
        errors = data.get("errors") if isinstance(data, dict) else None
        first = errors[0] if isinstance(errors, list) and errors else None
        if isinstance(first, dict):
            return f"{first.get('code', '')} {first.get('message', '')}".strip()[:200]
    except (ValueError, requests.RequestException):
        pass
    return ""
