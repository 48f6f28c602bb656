"""An OCI registry as a place `ptmlock sync` fetches locked files from.

The lock alone decides what is written where: the registry's manifest is only used to find the
blob of a locked path. Each blob is streamed to the file's partial name while it is hashed with
the lock's own algorithm (sha256 for LFS files, the git blob id for the others) and moved to its
place only when size and hash match ptm.lock (docs/threat-model.md: downloaded bytes). A blob cut
off mid-stream is asked again for the rest only (`Range`), as the hub downloader does; the
partial file does not outlive the run (a later run starts that blob over).

Issue 25: tar layers (`.tar`, `+gzip`, `+zstd`, as modctl and KitOps push them) are streamed and
only the locked file's member is copied out (`oci/unpack.py`); an artifact is found by an explicit
reference of ptm.toml, else by the digest `publish` recorded (`ptm.oci.json`), else by ptmlock's
tag; the files of one model share one manifest request, so a registry that is down is found once.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

import requests

from ptmlock._fs import contained_dir, open_nofollow, start_writeback
from ptmlock.errors import HubError, IntegrityError, PtmlockError
from ptmlock.install.download import Cancelled, Received
from ptmlock.install.hashing import algorithm, expected_digest, new_hasher
from ptmlock.install.hf_cache import FileTask
from ptmlock.lockfile.model import LockedModel
from ptmlock.oci.client import RegistryClient
from ptmlock.oci.transport import BlobAnswer
from ptmlock.oci.layout import (
    COMMIT,
    REPO,
    Layer,
    RegistryURL,
    read_manifest,
    repository,
    split_reference,
    tag,
)
from ptmlock.oci.unpack import copy_member, decompressed

_CHUNK = 1024 * 1024
_T = TypeVar("_T")
_TRIES = 3  # a blob cut off mid-stream is resumed from the bytes kept (`Range`), at most twice


class SourceMissing(HubError):
    """The source does not have this model or file: sync tries the next source."""


class RegistrySource:
    """A `[[source]]` that is an OCI registry; `fetch` is safe to call from several threads."""

    def __init__(self, name: str, url: RegistryURL, *, pool: int = 8, references: Mapping[str, str] | None = None,
                 pinned: Mapping[str, tuple[str, str, str]] | None = None,
                 credentials_env: dict[str, str] | None = None) -> None:
        self.name = name
        self.url = url
        # model id (case-folded) -> "repo:tag" / "repo@digest" from ptm.toml (issue 25)
        self.references = {k.casefold(): v for k, v in (references or {}).items()}
        # model id (case-folded) -> (commit, repository, manifest digest) recorded by `publish` (issue 25)
        self.pinned = {k.casefold(): v for k, v in (pinned or {}).items()}
        self._pool = pool
        self._credentials_env = credentials_env  # issue 22: the [[source]]'s own credential variables
        self._client: RegistryClient | None = None
        self._artifacts: dict[str, tuple[str, str, list[Layer], str] | PtmlockError | None] = {}
        self._reading: dict[str, threading.Lock] = {}  # one manifest request per model at a time
        self._lock = threading.Lock()
        self.cancel = threading.Event()

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"

    def fetch(self, task: FileTask, on_bytes: Callable[[int], None]) -> int:
        """Place `task`'s file at `task.store` from this registry, checked against ptm.lock.
        Returns the bytes received.

        Raises:
            SourceMissing: the registry has no artifact for the pin, or it lacks this file.
            IntegrityError: the registry served an artifact or bytes other than the lock pins.
            HubError: the registry refused (RegistryAuthError) or is unreachable.
            MissingExtraError: a zstd layer without the `zstandard` package (exit 3).
        """
        repo, where, layers, digest = self._artifact(task.model)
        file = task.file
        candidates = _candidates(layers, file.path)
        signature = task.model.signature
        if not candidates and signature is not None and signature.path == file.path:
            from ptmlock.oci.referrers import find_bundle  # issue 25: the bundle as a referrer

            bundle = find_bundle(self.client, repo, digest, signature.sha256)
            candidates = [replace(bundle, path=file.path)] if bundle is not None else []
        if not candidates:
            raise SourceMissing(f"{self.name} has {where} but no layer for {file.path}")
        raw = candidates[0] if candidates[0].archive == "raw" else None
        if raw is not None and (raw.size != file.size or (file.sha256 is not None
                                                           and raw.digest != f"sha256:{file.sha256}")):
            raise IntegrityError(
                f"{task.model.id}: {file.path} in {self} is {raw.digest} ({raw.size} bytes), but ptm.lock pins "
                f"{expected_digest(file)} ({file.size} bytes). Nothing was placed; this source is not used again "
                "in this run. Re-publish the model with `ptmlock publish`, or check who can write to the registry.")
        # issue 11: the folders are reached without links, the partial file opened without following one
        contained_dir(task.root, task.partial.parent)
        contained_dir(task.root, task.store.parent)
        kept = Received(new_hasher(task.file))  # what this run has written, so a retry asks for the rest
        try:
            if raw is not None:
                return self._tries(task, raw, lambda: self._download(repo, raw, task, on_bytes, kept))
            for layer in candidates:  # tar layers that may hold it (issue 25)
                got = self._tries(task, layer, lambda: self._unpack(repo, layer, task, on_bytes, kept))
                if got is not None:
                    return got
            raise SourceMissing(f"{self.name} has {where} but none of its tar layers holds {file.path}")
        finally:  # placed, or given up: no partial file is left (a later run starts over)
            kept.hasher.close()
            try:
                os.unlink(task.partial)
            except FileNotFoundError:
                pass

    def _tries(self, task: FileTask, layer: Layer, attempt: Callable[[], _T]) -> _T:
        """`attempt()`, again (at most `_TRIES` times) when the blob is cut off mid-stream."""
        for n in range(1, _TRIES + 1):
            try:
                return attempt()
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
                if n == _TRIES:
                    raise HubError(f"{task.label}: {self} cut the download of {layer.digest} off {_TRIES} "
                                   f"times ({type(e).__name__}). Run `ptmlock sync` again.") from None
        raise AssertionError("unreachable")

    def _unpack(self, repo: str, layer: Layer, task: FileTask, on_bytes: Callable[[int], None],
                kept: Received) -> int | None:
        """Stream the tar layer and copy out `task`'s file (`oci/unpack.py`); None when it is not in it."""
        file = task.file
        what = f"{self.name}'s layer {layer.digest[:19]}... ({layer.media_type}) of {task.model.id}"

        def sized(n: int) -> None:
            if n != file.size:
                raise self._tampered(task, f"the tar layer holds it with {n} bytes, but ptm.lock pins {file.size}")

        def write(chunk: bytes) -> None:
            if self.cancel.is_set():
                raise Cancelled(f"{task.label}: cancelled")
            out.write(chunk)
            kept.add(chunk)
            on_bytes(len(chunk))

        with self.client.open_blob(repo, layer.digest) as r, \
                os.fdopen(open_nofollow(task.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as out:
            if r is None:
                raise SourceMissing(f"{self.name} lists {layer.digest} for {file.path} but does not serve it")
            kept.restart(new_hasher(file))
            stream = decompressed(_Body(r, limit=layer.size, what=what), layer.archive, what=what)
            alias = file.path.rsplit("/", 1)[-1] if layer.path == file.path else None  # old modctl: bare names
            limit = sum(f.size for f in task.model.files) + 64 * 1024 * 1024  # tar headers, padding, unlocked files
            if not copy_member(stream, wanted=file.path, alias=alias, what=what, write=write, size=sized, limit=limit):
                return None
            out.flush()
            os.fsync(out.fileno())
        digest = kept.hasher.hexdigest()
        if kept.offset != file.size or digest != expected_digest(file):
            raise self._tampered(task, f"{algorithm(file)} {digest}, but ptm.lock pins {expected_digest(file)}")
        os.replace(task.partial, task.store)
        return kept.received

    def _download(self, repo: str, layer: Layer, task: FileTask, on_bytes: Callable[[int], None],
                  kept: Received) -> int:
        """One GET of the blob, from the bytes `kept` by earlier attempts of this run on."""
        file = task.file
        with self.client.open_blob(repo, layer.digest, start=kept.offset) as r, \
                os.fdopen(open_nofollow(task.partial, os.O_WRONLY | os.O_CREAT | os.O_APPEND), "ab") as out:
            if r is None:
                raise SourceMissing(f"{self.name} lists {layer.digest} for {file.path} but does not serve it")
            if r.status_code != 206 or not kept.offset:  # from the start: the first try (whatever a stale
                out.truncate(0)  # partial file holds), or a registry that ignores Range
                kept.restart(new_hasher(file))
            for chunk in r.iter_content(_CHUNK):
                if kept.offset + len(chunk) > file.size:
                    raise self._tampered(task, f"more than the {file.size} bytes ptm.lock pins")
                if self.cancel.is_set():
                    raise Cancelled(f"{task.label}: cancelled")
                out.write(chunk)
                start_writeback(out.fileno(), kept.offset, len(chunk))  # so the fsync below is cheap
                kept.add(chunk)
                on_bytes(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if kept.offset != file.size:
            raise self._tampered(task, f"{kept.offset} bytes, but ptm.lock pins {file.size}")
        digest = kept.hasher.hexdigest()
        if digest != expected_digest(file):
            raise self._tampered(task, f"{algorithm(file)} {digest}, but ptm.lock pins {expected_digest(file)}")
        os.replace(task.partial, task.store)
        return kept.received

    def _tampered(self, task: FileTask, what: str) -> IntegrityError:
        return IntegrityError(
            f"{task.model.id}: {task.file.path} from {self} failed its integrity check: {what}. The download was "
            "discarded and nothing was placed; this source is not used again in this run. Check who can write to "
            "the registry, then re-publish with `ptmlock publish`.")

    @property
    def client(self) -> RegistryClient:
        with self._lock:
            if self._client is None:
                self._client = RegistryClient(self.url, pool=self._pool, credentials_env=self._credentials_env)
            return self._client

    def _artifact(self, model: LockedModel) -> tuple[str, str, list[Layer], str]:
        """(repository, layers by path) of `model`'s pin, fetched once per run: the files of a model
        wait for one manifest request (so a registry that is down is found once, not per file)."""
        repo, reference = self.reference(model)
        key = f"{repo}:{reference}"
        with self._lock:
            gate = self._reading.setdefault(key, threading.Lock())
        with gate:
            if key not in self._artifacts:
                try:
                    self._artifacts[key] = self._read(model, repo, reference)
                except (HubError, IntegrityError) as e:  # unreachable, refused or hostile: the same answer for every file
                    self._artifacts[key] = e
        entry = self._artifacts[key]
        if isinstance(entry, PtmlockError):
            raise type(entry)(entry.message)  # a fresh one per file (threads raise it at once)
        if entry is None:
            sep = "@" if reference.startswith("sha256:") else ":"
            raise SourceMissing(f"{self.name} has no artifact {self.url.host}/{repo}{sep}{reference} for "
                                f"{model.id}@{model.commit[:12]}")
        return entry

    def reference(self, model: LockedModel) -> tuple[str, str]:
        """(repository, tag or digest) of `model` here: ptm.toml's explicit reference, else the
        digest `publish` recorded for this commit, else ptmlock's own tag."""
        explicit = self.references.get(model.id.casefold())
        if explicit is not None:
            return split_reference(explicit)
        pinned = self.pinned.get(model.id.casefold())
        if pinned is not None and pinned[0] == model.commit:
            return pinned[1], pinned[2]
        return repository(self.url, model), tag(model)

    def _read(self, model: LockedModel, repo: str, reference: str) -> tuple[str, str, list[Layer], str] | None:
        raw = self.client.get_manifest(repo, reference)
        if raw is None:
            return None
        where = f"{self.url.host}/{repo}{'@' if reference.startswith('sha256:') else ':'}{reference}"
        if reference.startswith("sha256:") and "sha256:" + hashlib.sha256(raw).hexdigest() != reference:
            raise IntegrityError(f"{self}: the manifest served for {where} has another digest "
                                 f"(sha256:{hashlib.sha256(raw).hexdigest()}). ptmlock uses nothing from it; this "
                                 "source is not used again in this run.")
        try:
            notes, layers = read_manifest(json.loads(raw), where=where)
        except ValueError as e:
            raise IntegrityError(f"{self}: {e}. ptmlock uses nothing from it; this source is not used again in "
                                 "this run.") from None
        named_repo, named_commit = notes.get(REPO), notes.get(COMMIT)
        if (named_repo is not None and named_repo.casefold() != model.canonical.casefold()) or (
                named_commit is not None and named_commit != model.commit):
            raise IntegrityError(
                f"{self}: {where} says it holds {named_repo}@{named_commit}, but ptm.lock pins "
                f"{model.canonical}@{model.commit}. ptmlock uses nothing from it; this source is not used again in "
                "this run. Re-publish with `ptmlock publish`.")
        return repo, where, layers, "sha256:" + hashlib.sha256(raw).hexdigest()


def _candidates(layers: list[Layer], path: str) -> list[Layer]:
    """The layers that may hold `path`, best first: a raw layer of that path (then only it); else
    tar layers named by that path, by a folder above it, or by nothing."""
    raw = [la for la in layers if la.archive == "raw" and la.path == path]
    if raw:
        return raw[:1]
    tars = [la for la in layers if la.archive != "raw"]
    return ([la for la in tars if la.path == path] + [la for la in tars if la.path and path.startswith(la.path + "/")]
            + [la for la in tars if not la.path])


class _Body(io.RawIOBase):
    """A blob answer as a file (for tarfile, gzip, zstandard): the transport's chunks (stalls cut,
    a cut connection is requests' ChunkedEncodingError / ConnectionError); at most `limit` bytes."""

    def __init__(self, r: BlobAnswer, *, limit: int, what: str) -> None:
        self._chunks = r.iter_content(_CHUNK)
        self._rest = b""
        self._left = limit
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._rest:
            self._rest = next(self._chunks, b"")
            self._left -= len(self._rest)
            if self._left < 0:
                raise IntegrityError(f"{self._what} is longer than the size its manifest gives; nothing was placed.")
        n = min(len(buffer), len(self._rest))
        buffer[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n
