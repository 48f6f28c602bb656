"""The OCI distribution API, as much of it as publish and sync need, over `requests`.

Why not oras-py (measured with oras 0.2.43, docs/oci.md): its `do_request` retries every
failure, an authentication refusal included, five times with sleeps of 2 + 3**n seconds, so a
wrong password took minutes to report; it reads a whole blob into memory to upload it; it
reads only `~/.docker/config.json` (not `DOCKER_CONFIG`); and it writes downloads straight to
their final name without checking them. oras-py stays in the tests, as the independent client
that proves the layout interoperates.

Auth follows the registry's challenge: a 401 with `WWW-Authenticate: Basic` is answered with
the user and password, `Bearer realm=...,service=...,scope=...` with a token from the realm
(sent the user and password when there are any). Where credentials may go is `auth.refusal`:
the registry's own host (or one `PTMLOCK_OCI_HOSTS` lists), never over plain HTTP off this
machine; redirects are followed here, hop by hop, dropping `Authorization` where it may not go.

Every answer obeys the hub's network rules (`ptmlock._net`, issue 22): headers and small bodies
within `PTMLOCK_HUB_DEADLINE`, blobs cut when they stall, size caps on manifests, token answers
and error bodies, bodies only as sent (`Accept-Encoding: identity`), and anything malformed is a
`HubError` (exit 4) or an `UnsafeHubAnswerError` (exit 5) in one line, never a traceback.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests

from ptmlock._net import RETRY_STATUS, Retry, shown, with_retries
from ptmlock.errors import (
    HubError,
    RegistryAuthError,
    UnsafeHubAnswerError,
)
from ptmlock.oci.auth import (
    Credentials,
    find_credentials,
    listed_hosts,
    parse_challenge,
    refusal,
    same_host,
    unbound_note,
)
from ptmlock.oci.layout import MANIFEST_TYPE, RegistryURL, is_loopback
from ptmlock.oci.transport import BlobAnswer, Transport, short

MAX_MANIFEST = 4 * 1024 * 1024  # the distribution registry's own limit on a manifest
MAX_TOKEN_ANSWER = 1024 * 1024  # a token answer is a few KiB of JSON
MAX_DEPTH = 32  # a ModelPack manifest nests 4 deep


class RegistryClient:
    """One registry, shared by threads: `blob_exists`, `upload_blob`, `put_manifest`,
    `get_manifest`, `open_blob`. Every method raises `HubError` subclasses only."""

    def __init__(self, url: RegistryURL, *, credentials: Credentials | None = None, pool: int = 8,
                 credentials_env: dict[str, str] | None = None) -> None:
        self.url = url
        self.hosts = listed_hosts()
        self.credentials = credentials if credentials is not None else find_credentials(
            url.host, names=credentials_env, hosts=self.hosts)
        self.unbound = "" if self.credentials is not None else unbound_note(url.host, names=credentials_env,
                                                                              hosts=self.hosts)
        if self.credentials is not None and url.scheme != "https" and not is_loopback(url.host):
            raise RegistryAuthError(  # refused before anything is sent, whatever `insecure` says
                f"{url} is plain HTTP to another machine, and there are credentials for {url.host} (from "
                f"{self.credentials.origin}); ptmlock never sends credentials over plain HTTP off this machine. "
                "Use oci:// (HTTPS), or drop the credentials for this host.")
        self.http = Transport(url.base, url.host, self.hosts, pool=pool)
        self.http.plain_url = f"oci+http://{url.host}/{url.namespace}"
        self.limits = self.http.limits
        self._authz: dict[str, str] = {}  # scope -> Authorization value
        self._basic: str | None = None  # once a registry asked for Basic, it gets it up front
        self._lock = threading.Lock()
        self._token_failure: HubError | None = None

    # --- the API ---

    def blob_exists(self, repo: str, digest: str) -> bool:
        """True when `repo` already has the blob `digest` (HEAD, no body)."""
        with self._stream("HEAD", f"/v2/{repo}/blobs/{digest}", repo=repo, ok=(200, 404)) as r:
            return r.status_code == 200

    def upload_blob(self, repo: str, digest: str, size: int, source: Path | bytes) -> None:
        """Upload `source` (a file, streamed; or bytes) as blob `digest` in one PUT."""
        with self._stream("POST", f"/v2/{repo}/blobs/uploads/", repo=repo, push=True, ok=(202,),
                          headers={"Content-Length": "0"}) as r:
            location = self._same_host(r.headers.get("Location", ""), "upload location")
        sep = "&" if "?" in location else "?"
        with self._stream("PUT", f"{location}{sep}digest={digest}", repo=repo, push=True, ok=(201,), body=source,
                          headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)}):
            pass

    def put_manifest(self, repo: str, reference: str, manifest: bytes, *, media_type: str = MANIFEST_TYPE) -> bool:
        """Store `manifest` (an OCI image manifest, or `media_type`) at `repo:reference`. True when
        the registry says it indexed the manifest's `subject` (OCI 1.1 `OCI-Subject` header)."""
        with self._stream("PUT", f"/v2/{repo}/manifests/{reference}", repo=repo, push=True, ok=(201,), body=manifest,
                          headers={"Content-Type": media_type}) as r:
            return "OCI-Subject" in r.headers

    def get_manifest(self, repo: str, reference: str, *, accept: str = MANIFEST_TYPE,
                     referrers: bool = False) -> bytes | None:
        """The manifest at `repo:reference` (`accept`: its media type), or None when the registry has
        none (404). With `referrers`, the OCI 1.1 referrers index of the digest `reference` (None:
        the registry has no referrers API).

        Raises:
            UnsafeHubAnswerError: larger than `MAX_MANIFEST`, not JSON, or nested deeper than `MAX_DEPTH`.
        """
        what = f"the {'referrers' if referrers else 'manifest'} of {repo}:{reference}"
        path = f"/v2/{repo}/{'referrers' if referrers else 'manifests'}/{reference}"
        with self._stream("GET", path, repo=repo, ok=(200, 404), headers={"Accept": accept}) as r:
            if r.status_code == 404:
                return None
            body = self.http.read(r, MAX_MANIFEST, what)
        try:
            depth = _depth(json.loads(body))
        except (ValueError, RecursionError):
            raise UnsafeHubAnswerError(f"{self.url.base} answered {what} with a body that is not JSON (or is nested "
                                       "too deeply); ptmlock uses nothing from it.") from None
        if depth > MAX_DEPTH:
            raise UnsafeHubAnswerError(f"{self.url.base} answered {what} with JSON nested {depth} deep (a manifest "
                                       f"nests at most {MAX_DEPTH}); ptmlock uses nothing from it.")
        return body

    @contextmanager
    def open_blob(self, repo: str, digest: str, *, start: int = 0) -> Iterator[BlobAnswer | None]:
        """The streamed answer for blob `digest` (None when absent), closed on exit. From byte
        `start` on when > 0 (`Range`): the answer is 206 then, or 200 with the whole blob when the
        registry ignores the range. Its body stalls are cut (`BlobAnswer.iter_content`)."""
        headers = {"Range": f"bytes={start}-"} if start else None
        with self._stream("GET", f"/v2/{repo}/blobs/{digest}", repo=repo, ok=(200, 206, 404), headers=headers) as r:
            yield None if r.status_code == 404 else BlobAnswer(r, self.limits, f"{self.url.base} ({digest})")

    # --- plumbing ---

    def _same_host(self, location: str, what: str) -> str:
        try:
            full = urljoin(self.url.base + "/", location)
            parts = urlsplit(full)
            netloc = parts.netloc.lower()
        except ValueError:
            raise UnsafeHubAnswerError(f"{self.url.base} answered an {what} that is not a URL "
                                       f"({shown(location)!r}); ptmlock sends nothing there.") from None
        if not location or parts.scheme != self.url.scheme or netloc != self.url.host:
            raise UnsafeHubAnswerError(f"{self.url.base} answered an {what} on another host or scheme "
                                       f"({shown(parts.scheme)}://{shown(netloc)}); ptmlock sends nothing there.")
        return full

    @contextmanager
    def _stream(self, method: str, path: str, *, repo: str, push: bool = False, ok: tuple[int, ...] = (200,),
                headers: dict[str, str] | None = None,
                body: Path | bytes | None = None) -> Iterator[requests.Response]:
        url = path if path.startswith(("http://", "https://")) else self.url.base + path
        scope = f"repository:{repo}:{'pull,push' if push else 'pull'}"
        r, where = self._retrying(method, url, scope, headers, body)
        if r.status_code == 401 and same_host(where, self.url.host):
            challenge = r.headers.get("WWW-Authenticate", "")
            r.close()
            self._answer(challenge, scope, method, path)
            r, where = self._retrying(method, url, scope, headers, body)
        try:
            if r.status_code not in ok:
                self._fail(r, method, path, where)
            yield r
        finally:
            r.close()

    def _retrying(self, method: str, url: str, scope: str, headers: dict[str, str] | None,
                  body: Path | bytes | None) -> tuple[requests.Response, str]:
        """(the answer, the host that gave it), retried on transient failures within the deadline."""
        def attempt(left: float) -> tuple[requests.Response, str]:
            sent = dict(headers or {})
            authz = self._authz.get(scope, self._basic)
            if authz is not None:
                sent["Authorization"] = authz
            r, where = self.http.send(method, url, sent, body, left)
            if r.status_code in RETRY_STATUS:
                r.close()
                raise Retry(f"HTTP {r.status_code}")
            return r, where

        return with_retries(attempt, limits=self.limits, source=f"The OCI registry {self.url.base}",
                             subject=f"{method} {short(url)}", fix="Check that it runs and is reachable")

    def _answer(self, challenge: str, scope: str, method: str, path: str) -> None:
        """Learn the Authorization value for `scope` from a 401's challenge."""
        scheme, params = parse_challenge(challenge)
        creds = self.credentials
        if scheme == "basic":
            value = creds.basic() if creds is not None else None
            if value is None:
                raise self._refused(401, method, path, "it asks for a user and password")
            self._authz[scope] = self._basic = value
            return
        if scheme == "bearer" and params.get("realm"):
            with self._lock:  # one token request at a time; a token server that failed is not asked again
                if self._token_failure is not None:
                    raise type(self._token_failure)(str(self._token_failure))
                try:
                    self._authz[scope] = "Bearer " + self._token(params, scope, method, path)
                except HubError as e:
                    self._token_failure = e
                    raise
            return
        raise self._refused(401, method, path, f"its challenge {shown(challenge.split(' ', 1)[0], 40)!r} is not "
                                               "Basic or Bearer with a realm")

    def _token(self, params: dict[str, str], scope: str, method: str, path: str) -> str:
        creds = self.credentials
        if creds is not None and creds.token is not None:
            return creds.token
        realm = params["realm"]
        try:
            parts = urlsplit(realm)
            host = parts.netloc.lower()
            parts.port  # noqa: B018  (validates the port)
        except ValueError:
            parts, host = urlsplit(""), ""
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UnsafeHubAnswerError(f"{self.url.base} sent a token realm {shown(realm)!r} that is not an HTTP URL; "
                                       "ptmlock sends no credentials there.")
        headers: dict[str, str] = {}
        basic = creds.basic() if creds is not None else None
        if basic is not None:
            why = refusal(parts.scheme, host, registry=self.url.host, hosts=self.hosts)
            if why:
                raise UnsafeHubAnswerError(f"{self.url.base} sent its token realm to {shown(realm)!r}: {why}; "
                                           "ptmlock sends no credentials there.")
            headers["Authorization"] = basic
        elif parts.scheme == "http" and not is_loopback(host) and self.url.scheme == "https":
            raise UnsafeHubAnswerError(f"{self.url.base} sent its token realm to {shown(realm)!r}, plain HTTP on "
                                       "another machine for an HTTPS registry; ptmlock sends no credentials there.")
        query = {"scope": params.get("scope") or scope, **({"service": params["service"]} if "service" in params else {})}
        try:
            url = requests.Request("GET", realm, params=query).prepare().url or realm
        except (requests.RequestException, ValueError):
            raise UnsafeHubAnswerError(f"{self.url.base} sent a token realm {shown(realm)!r} that is not a URL; "
                                       "ptmlock sends no credentials there.") from None
        r, _ = with_retries(lambda left: self.http.send("GET", url, headers, None, left), limits=self.limits,
                            source=f"The token server {shown(realm)} of {self.url.base}", subject="",
                            fix="Check that it runs and is reachable")
        try:
            if r.status_code in (401, 403):
                raise self._refused(r.status_code, method, path,
                                    f"its token server {shown(realm)} refused the credentials")
            body = self.http.read(r, MAX_TOKEN_ANSWER, "its token answer") if r.status_code == 200 else b""
        finally:
            r.close()
        try:
            data = json.loads(body) if body else None
            token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        except (ValueError, RecursionError):
            token = None
        if not isinstance(token, str) or not token:
            raise HubError(f"The token server {shown(realm)} of {self.url.base} answered HTTP {r.status_code} "
                           "without a token.")
        if not _token_ok(token):
            raise UnsafeHubAnswerError(f"The token server {shown(realm)} of {self.url.base} answered a token with "
                                       "characters no token has (a space, a newline or a control character).")
        return token

    def _refused(self, status: int, method: str, path: str, why: str) -> RegistryAuthError:
        who = (f"credentials from {self.credentials.origin}" if self.credentials is not None
               else "anonymous" + (f"; {self.unbound}" if self.unbound else ""))
        return RegistryAuthError(
            f"The OCI registry {self.url.base} refused {method} {short(path)} with HTTP {status} ({who}): "
            f"{why}. Log in with `docker login`, or set PTMLOCK_OCI_USERNAME and PTMLOCK_OCI_PASSWORD (or "
            "PTMLOCK_OCI_TOKEN) and list the host in PTMLOCK_OCI_HOSTS; ptmlock never writes them anywhere.")

    def _fail(self, r: requests.Response, method: str, path: str, where: str) -> None:
        if r.status_code in (401, 403):
            other = "" if same_host(where, self.url.host) else f" (answered by {shown(where)}, where it redirected)"
            raise self._refused(r.status_code, method, path, f"the credentials do not grant this{other}")
        detail = self.http.error_message(r) if method != "HEAD" else ""
        raise HubError(f"The OCI registry {self.url.base} answered HTTP {r.status_code} to {method} {short(path)}"
                       f"{': ' + detail if detail else ''}.")


def _depth(value: object) -> int:
    """How deep `value` (decoded JSON) nests, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            return depth
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _token_ok(token: str) -> bool:
    return len(token) <= 65536 and token.isascii() and token.isprintable() and " " not in token


