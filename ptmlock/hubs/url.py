"""The url backend: one weight file at an http(s) URL, pinned by the sha256 of its bytes.

This is how torchvision's builders, timm's `url` sources, open_clip and
`torch.hub.load_state_dict_from_url` name weights. Locking downloads the file once, streaming
and hashing it; the lock records `commit = <sha256>` and one file, named as torch names it in
its checkpoint directory (the URL path's last part), with its size and sha256. The bytes just
hashed are kept in torch's checkpoint directory when no file of that name is there yet, so the
next `ptmlock sync` has nothing to fetch. `download()` is also what sync uses.

408/429/5xx answers, transport errors and stalls are retried (resuming with `Range`) under the
network rules of `ptmlock._net`.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import posixpath
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from ptmlock import __version__
from ptmlock._net import (
    RETRY_STATUS,
    STALL_MIN_RATE,
    NetLimits,
    Retry,
    StallWatch,
    is_refused,
    run_within,
    with_retries,
)
from ptmlock.constants import ENV_URL_MIRROR
from ptmlock.errors import (
    GatedRepoError,
    HubError,
    HubUnavailableError,
    IntegrityError,
    ManifestError,
    RepoNotFoundError,
)
from ptmlock.hubs.torchhub import checkpoint_dir
from ptmlock.lockfile.model import LockedFile, LockedModel
from ptmlock.manifest.model import ModelSpec
from ptmlock.output import redact

CHUNK_SIZE = 1024 * 1024



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


def mirrored(url: str) -> str:
    """Where to fetch `url` from: `PTMLOCK_URL_MIRROR` holds comma-separated `PREFIX=REPLACEMENT`
    pairs (the longest matching prefix wins), so an air-gapped site, or a test, serves
    `https://download.pytorch.org/models/...` from its own server. The lock keeps the original
    URL; the bytes are checked against its sha256 wherever they come from.

    Raises:
        ManifestError: the setting is malformed (a pair without `=`, or a replacement that is not http(s)).
    """
    raw = os.environ.get(ENV_URL_MIRROR, "").strip()
    if not raw:
        return url
    best: tuple[str, str] | None = None
    for pair in raw.split(","):
        prefix, sep, replacement = pair.strip().partition("=")
        if not sep or not prefix or not replacement.startswith(("http://", "https://")):
            raise ManifestError(f"{ENV_URL_MIRROR}={raw!r} is malformed: write PREFIX=REPLACEMENT pairs separated by "
                                "commas, e.g. https://download.pytorch.org=http://mirror.internal/pytorch.")
        if url.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, replacement)
    return url if best is None else best[1] + url[len(best[0]):]


@dataclass(frozen=True)
class Downloaded:
    """A finished download: its size, sha256 and where the bytes are (None when not kept)."""

    size: int
    sha256: str
    path: Path | None


def download(url: str, *, model_id: str, into: Path | None = None, expect: LockedFile | None = None,
             on_bytes: Callable[[int], None] | None = None) -> Downloaded:
    """GET `url`, hashing as it streams; keep the bytes in a temp file under `into` (if given).

    A cut or stalled transfer is resumed with `Range` when the server honours it (the network
    rules of `ptmlock._net`; the deadline counts from the last progress). With `expect`, a body
    larger than `expect.size`, or other bytes than `expect.sha256`, is an `IntegrityError` and
    nothing is left under `into`. The caller moves `path` into place.

    Raises:
        RepoNotFoundError (404/410), GatedRepoError (401/403), HubUnavailableError (retries
        exhausted), HubError (other statuses), IntegrityError (see above), OSError (disk).
    """
    limits = NetLimits.from_env()
    tmp = into / f".{url_filename(url)}.{uuid.uuid4().hex[:12]}.ptmlock-partial" if into is not None else None
    state = _Partial(tmp)

    try:
        while True:
            before = state.size
            try:
                with_retries(lambda left: _get_once(url, model_id, state, expect, limits, left, on_bytes),
                             limits=limits, source=redact(url), subject="",
                             fix="No progress: check your connection and the URL")
                break
            except HubUnavailableError:
                if state.size - before < STALL_MIN_RATE * limits.deadline:  # no progress in a whole deadline
                    raise
        state.close(sync=True)
        digest = state.hasher.hexdigest()
        if expect is not None and (state.size != expect.size or digest != expect.sha256):
            got = f"{state.size} bytes" if state.size != expect.size else f"sha256 {digest}"
            raise IntegrityError(_mismatch(url, model_id, expect, got))
    except BaseException:
        state.close()
        if tmp is not None:
            _unlink(tmp)  # nothing is left behind by a failed or refused download
        raise
    return Downloaded(size=state.size, sha256=digest, path=tmp)


class _Partial:
    """The bytes of one download so far: their hash, their count and (optionally) their file."""

    def __init__(self, path: Path | None) -> None:
        self.hasher = hashlib.sha256()
        self.size = 0
        self.out: BinaryIO | None = open(path, "xb") if path is not None else None  # noqa: SIM115 - see close

    def add(self, chunk: bytes) -> None:
        self.hasher.update(chunk)
        self.size += len(chunk)
        if self.out is not None:
            self.out.write(chunk)

    def restart(self) -> None:
        self.hasher, self.size = hashlib.sha256(), 0
        if self.out is not None:
            self.out.seek(0)
            self.out.truncate(0)

    def close(self, *, sync: bool = False) -> None:
        if self.out is not None and not self.out.closed:
            if sync:
                self.out.flush()
                os.fsync(self.out.fileno())
            self.out.close()


def _get_once(url: str, model_id: str, state: _Partial, expect: LockedFile | None, limits: NetLimits, left: float,
              on_bytes: Callable[[int], None] | None) -> None:
    """One GET from `state.size` (a `Range` request when resuming), appending to `state`.

    Raises `Retry` on a transient failure, keeping what arrived."""
    headers = {"User-Agent": f"ptmlock/{__version__}", "Accept-Encoding": "identity"}
    if state.size:
        headers["Range"] = f"bytes={state.size}-"
    request = Request(mirrored(url), headers=headers)
    timeout = limits.request_timeout(left)
    try:
        # urlopen returns once the headers are in; a server may trickle them, so bound the wait
        r = run_within(min(left, limits.stall), lambda: urlopen(request, timeout=timeout),
                       on_late=lambda late: late.close())
        with r:
            if state.size and r.status != 206:  # Range ignored: start over
                state.restart()
            watch = StallWatch(stall=limits.stall, limit=left)
            while chunk := r.read1(CHUNK_SIZE):  # what has arrived, so a trickle is seen as one
                if expect is not None and state.size + len(chunk) > expect.size:
                    raise IntegrityError(_mismatch(url, model_id, expect, f"more than {expect.size} bytes"))
                state.add(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))
                watch.update(len(chunk))
    except HTTPError as e:
        if e.code == 416 and state.size:
            state.restart()
            raise Retry("HTTP 416: the partial download did not match; starting over") from None
        _raise_for_status(url, model_id, e.code)
    except (URLError, TimeoutError, ConnectionError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", None) or e
        text = f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
        raise Retry(text, refused=is_refused(text)) from None


def _mismatch(url: str, model_id: str, expect: LockedFile, got: str) -> str:
    return (f"The file at {redact(url)} changed: ptm.lock pins {expect.size} bytes with sha256 "
            f"{expect.sha256}, the server sent {got}. The download was discarded and nothing was changed. If the new "
            f"bytes are intended, re-pin them with `ptmlock lock --upgrade {model_id}`.")


def _raise_for_status(url: str, model_id: str, status: int) -> None:
    if status in RETRY_STATUS:
        raise Retry(f"HTTP {status}")
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
        from ptmlock._fs import contained_dir

        directory = self.checkpoints if self.checkpoints is not None else checkpoint_dir()
        try:
            # issue 11: a linked checkpoints folder is refused (UnsafePathError), never written through
            contained_dir(directory.parent, directory)
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
