"""An OCI registry as a place `ptmlock sync` fetches locked files from.

The lock alone decides what is written where: the registry's manifest is only used to find the
blob of a locked path. Each blob is streamed to the file's partial name while it is hashed with
the lock's own algorithm (sha256 for LFS files, the git blob id for the others) and moved to its
place only when size and hash match ptm.lock (THREAT_MODEL.md: downloaded bytes). A blob cut
off mid-stream is asked again for the rest only (`Range`), as the hub downloader does; the
partial file does not outlive the run (a later run starts that blob over).
"""
from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable

import requests

from ptmlock._fs import contained_dir, open_nofollow, start_writeback
from ptmlock.errors import HubError, IntegrityError, PtmlockError
from ptmlock.install.download import Cancelled, Received
from ptmlock.install.hashing import algorithm, expected_digest, new_hasher
from ptmlock.install.hf_cache import FileTask
from ptmlock.lockfile.model import LockedModel
from ptmlock.oci.client import RegistryClient
from ptmlock.oci.layout import (
    COMMIT,
    REPO,
    Layer,
    RegistryURL,
    read_manifest,
    repository,
    tag,
)

_CHUNK = 1024 * 1024
_TRIES = 3  # a blob cut off mid-stream is resumed from the bytes kept (`Range`), at most twice


class SourceMissing(HubError):
    """The source does not have this model or file: sync tries the next source."""


class RegistrySource:
    """A `[[source]]` that is an OCI registry; `fetch` is safe to call from several threads."""

    def __init__(self, name: str, url: RegistryURL, *, pool: int = 8) -> None:
        self.name = name
        self.url = url
        self._pool = pool
        self._client: RegistryClient | None = None
        self._artifacts: dict[str, tuple[str, dict[str, Layer]] | PtmlockError | None] = {}
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
        """
        repo, layers = self._artifact(task.model)
        file = task.file
        layer = layers.get(file.path)
        if layer is None:
            raise SourceMissing(f"{self.name} has {repo}:{tag(task.model)} but no layer for {file.path}")
        if layer.size != file.size or (file.sha256 is not None and layer.digest != f"sha256:{file.sha256}"):
            raise IntegrityError(
                f"{task.model.id}: {file.path} in {self} is {layer.digest} ({layer.size} bytes), but ptm.lock pins "
                f"{expected_digest(file)} ({file.size} bytes). Nothing was placed; this source is not used again "
                "in this run. Re-publish the model with `ptmlock publish`, or check who can write to the registry.")
        # issue 11: the folders are reached without links, the partial file opened without following one
        contained_dir(task.root, task.partial.parent)
        contained_dir(task.root, task.store.parent)
        kept = Received(new_hasher(task.file))  # what this run has written, so a retry asks for the rest
        try:
            for attempt in range(1, _TRIES + 1):
                try:
                    return self._download(repo, layer, task, on_bytes, kept)
                except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as e:
                    if attempt == _TRIES:
                        raise HubError(f"{task.label}: {self} cut the download of {layer.digest} off {_TRIES} "
                                       f"times ({type(e).__name__}). Run `ptmlock sync` again.") from None
            raise AssertionError("unreachable")
        finally:  # placed, or given up: no partial file is left (a later run starts over)
            kept.hasher.close()
            try:
                os.unlink(task.partial)
            except FileNotFoundError:
                pass

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
                self._client = RegistryClient(self.url, pool=self._pool)
            return self._client

    def _artifact(self, model: LockedModel) -> tuple[str, dict[str, Layer]]:
        """(repository, layers by path) of `model`'s pin, fetched once per run: the files of a model
        wait for one manifest request (so a registry that is down is found once, not per file)."""
        repo, reference = repository(self.url, model), tag(model)
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
            raise SourceMissing(f"{self.name} has no artifact {self.url.host}/{repo}:{reference} for "
                                f"{model.id}@{model.commit[:12]}")
        return entry

    def _read(self, model: LockedModel, repo: str, reference: str) -> tuple[str, dict[str, Layer]] | None:
        raw = self.client.get_manifest(repo, reference)
        if raw is None:
            return None
        where = f"{self.url.host}/{repo}:{reference}"
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
        return repo, layers
