"""The url backend: one weight file at an http(s) URL, pinned by the sha256 of its bytes.

This is how torchvision's builders, timm's `url` sources, open_clip and
`torch.hub.load_state_dict_from_url` name weights. Locking downloads the file once, streaming
and hashing it; the lock records `commit = <sha256>` and one file, named as torch names it in
its checkpoint directory (the URL path's last part), with its size and sha256. The bytes just
hashed are kept in torch's checkpoint directory when no file of that name is there yet, so the
next `ptmlock sync` has nothing to fetch. `download()` is also what sync uses.

408/429/5xx answers and transport errors are retried with capped back-off under the total
deadline (`PTMLOCK_HUB_DEADLINE`); each request times out after `PTMLOCK_HUB_TIMEOUT`.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import posixpath
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from ptmlock import __version__, settings
from ptmlock._net import RETRY_STATUS
from ptmlock.constants import (
    ENV_HUB_DEADLINE,
    ENV_HUB_TIMEOUT,
)
from ptmlock.errors import (
    GatedRepoError,
    HubError,
    HubUnavailableError,
    IntegrityError,
    ManifestError,
    RepoNotFoundError,
)
from ptmlock.hubs.torchhub import redact
from ptmlock.lockfile.model import LockedFile, LockedModel
from ptmlock.manifest.model import ModelSpec

CHUNK_SIZE = 1024 * 1024


class _Retry(Exception):
    """A transient failure; the download starts over after a back-off."""



def url_filename(url: str) -> str:
    """The file name torch.hub gives `url` in its checkpoint directory: the URL path's last part.

    Raises:
        ManifestError: the URL has no usable file name (empty, `.`, `..`, or with a backslash).
    """
    name = posixpath.basename(urlsplit(url).path)
    if name in ("", ".", "..") or "\\" in name or "\x00" in name:
        raise ManifestError(f"The url model {redact(url)!r} names no file: its path must end with the file name, "
                            "e.g. https://host/weights/resnet18-f37072fd.pth.")
    return name


@dataclass(frozen=True)
class Downloaded:
    """A finished download: its size, sha256 and where the bytes are (None when not kept)."""

    size: int
    sha256: str
    path: Path | None


def download(url: str, *, model_id: str, into: Path | None = None, expect: LockedFile | None = None,
             on_bytes: Callable[[int], None] | None = None) -> Downloaded:
    """GET `url`, hashing as it streams; keep the bytes in a temp file under `into` (if given).

    With `expect`, a body larger than `expect.size`, or other bytes than `expect.sha256`, is an
    `IntegrityError` and nothing is left under `into`. The caller moves `path` into place.

    Raises:
        RepoNotFoundError (404/410), GatedRepoError (401/403), HubUnavailableError (retries
        exhausted), HubError (other statuses), IntegrityError (see above), OSError (disk).
    """
    timeout = settings.hub_timeout()
    deadline = settings.hub_deadline()
    start = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        tmp = into / f".{url_filename(url)}.{uuid.uuid4().hex[:12]}.ptmlock-partial" if into is not None else None
        try:
            return _get(url, model_id, tmp, expect, timeout, on_bytes)
        except _Retry as e:
            last = str(e)
            refused = "refused" in last.lower() or "name or service" in last.lower()
        elapsed = time.monotonic() - start
        delay = min(8.0, 0.25 * 2 ** (attempt - 1))
        if (refused and attempt >= 3) or elapsed + delay >= deadline:
            raise HubUnavailableError(
                f"{redact(url)} did not answer after {attempt} attempts in {elapsed:.1f}s (last: {last}). Check "
                "your connection and the URL, then try again; "
                f"{ENV_HUB_TIMEOUT} and {ENV_HUB_DEADLINE} set the per-request timeout and the total deadline.")
        time.sleep(delay)


def _get(url: str, model_id: str, tmp: Path | None, expect: LockedFile | None, timeout: float,
         on_bytes: Callable[[int], None] | None) -> Downloaded:
    try:
        return _get_once(url, model_id, tmp, expect, timeout, on_bytes)
    except BaseException:
        if tmp is not None:
            _unlink(tmp)  # nothing is left behind by a failed or refused download
        raise


def _get_once(url: str, model_id: str, tmp: Path | None, expect: LockedFile | None, timeout: float,
              on_bytes: Callable[[int], None] | None) -> Downloaded:
    request = Request(url, headers={"User-Agent": f"ptmlock/{__version__}", "Accept-Encoding": "identity"})
    h = hashlib.sha256()
    size = 0
    try:
        with urlopen(request, timeout=timeout) as r:  # noqa: S310 - the manifest only admits http(s)
            out = open(tmp, "xb") if tmp is not None else None  # noqa: SIM115 - closed in finally
            try:
                while chunk := r.read(CHUNK_SIZE):
                    size += len(chunk)
                    if expect is not None and size > expect.size:
                        raise IntegrityError(_mismatch(url, model_id, expect, f"more than {expect.size} bytes"))
                    h.update(chunk)
                    if out is not None:
                        out.write(chunk)
                    if on_bytes is not None:
                        on_bytes(len(chunk))
                if out is not None:
                    out.flush()
                    os.fsync(out.fileno())
            finally:
                if out is not None:
                    out.close()
    except HTTPError as e:
        _raise_for_status(url, model_id, e.code)
    except (URLError, TimeoutError, ConnectionError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", None) or e
        raise _Retry(f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__) from None
    digest = h.hexdigest()
    if expect is not None and (size != expect.size or digest != expect.sha256):
        got = f"{size} bytes" if size != expect.size else f"sha256 {digest}"
        raise IntegrityError(_mismatch(url, model_id, expect, got))
    return Downloaded(size=size, sha256=digest, path=tmp)


def _mismatch(url: str, model_id: str, expect: LockedFile, got: str) -> str:
    return (f"The file at {redact(url)} changed: ptm.lock pins {expect.size} bytes with sha256 "
            f"{expect.sha256}, the server sent {got}. The download was discarded and nothing was changed. If the new "
            f"bytes are intended, re-pin them with `ptmlock lock --upgrade {model_id}`.")


def _raise_for_status(url: str, model_id: str, status: int) -> None:
    if status in RETRY_STATUS:
        raise _Retry(f"HTTP {status}")
    where = redact(url)
    if status in (404, 410):
        raise RepoNotFoundError(f"url model {where!r} was not found (HTTP {status}). Check the URL for typos "
                                f"(`ptmlock remove {model_id}` drops it from ptm.toml).")
    if status in (401, 403):
        raise GatedRepoError(f"The server refused access to url model {where!r} (HTTP {status}). ptmlock sends no "
                             "credentials for url models: use a URL that can be read without them.")
    raise HubError(f"The server answered HTTP {status} for url model {where!r}. Check the URL and try again.")


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class UrlBackend:
    """Resolve `url` models by downloading and hashing the file (the only way to pin its bytes)."""

    def __init__(self, *, checkpoints: Path | None = None, keep: bool = True) -> None:
        self.checkpoints = checkpoints
        self.keep = keep

    def resolve(self, spec: ModelSpec) -> LockedModel:
        """Pin `spec` to the sha256 of the bytes at its URL; see `Backend.resolve`."""
        name = url_filename(spec.id)
        into = self._cache_dir()
        got = download(spec.id, model_id=spec.id, into=into)
        if got.path is not None:
            _keep(got.path, got.path.parent / name)
        return LockedModel(id=spec.id, commit=got.sha256, hub=spec.hub, repo_type=spec.repo_type,
                           requested=spec.revision, role=spec.role, include=spec.files,
                           files=(LockedFile(path=name, size=got.size, sha256=got.sha256),))

    def _cache_dir(self) -> Path | None:
        if not self.keep:
            return None
        from ptmlock.install.torch_cache import checkpoint_dir

        directory = self.checkpoints if self.checkpoints is not None else checkpoint_dir()
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None  # a read-only torch cache: hash only
        return directory


def _keep(tmp: Path, final: Path) -> None:
    """Move the bytes just pinned into torch's checkpoint directory unless a file is already there."""
    try:
        os.link(tmp, final)  # fails when a file is there: never replaces one
    except FileExistsError:
        pass
    except OSError:  # no hard links on this file system
        if not os.path.lexists(final):
            os.replace(tmp, final)
    finally:
        _unlink(tmp)
