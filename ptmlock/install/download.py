"""Fetch one locked file from a Hugging Face compatible hub, hashing it while it streams.

The lock already knows each file's size and hash, so there is no HEAD request: one GET of
`/{repo}/resolve/{commit}/{path}` through huggingface_hub's own HTTP session (proxies, client
factory, offline switch and token handling all apply). Bytes go to `task.partial`, a fixed name
that only this code writes, under the per-blob lock huggingface_hub also takes; a later run
resumes it with `Range`. Only when the size and hash match the lock is the file moved to
`task.store` with `os.replace`, so a reader never sees a partial or wrong file.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from ptmlock import __version__
from ptmlock._fs import contained_dir, contained_file, open_nofollow, start_writeback
from ptmlock._hfcompat import stream_get
from ptmlock._net import (
    RETRY_STATUS,
    SETTINGS_HINT,
    STALL_MIN_RATE,
    NetLimits,
    Retry,
    StallWatch,
    backoff,
    is_refused,
    run_within,
    transport_errors,
)
from ptmlock.errors import GatedRepoError, HubError, HubUnavailableError, IntegrityError
from ptmlock.hubs.hf_http import request_errors, unreadable
from ptmlock.install.hashing import (
    Hasher,
    HashFeed,
    algorithm,
    expected_digest,
    hasher_of,
    new_hasher,
)
from ptmlock.install.hf_cache import FileTask

_BATCH_BYTES = 1024 * 1024
_BATCH_SECONDS = 0.1
_MAX_TRIES_WITHOUT_PROGRESS = 6

class Cancelled(Exception):
    """The run was interrupted; the partial file is kept for the next sync."""


class Received:
    """A download in progress: the hash of the bytes on disk so far, and their count. Bytes are
    hashed on a second thread as they arrive (`HashFeed`): one pass, and the socket reads never
    wait for sha256. The hub downloader and the registry source (`oci/source.py`) both keep one;
    call `hasher.close()` when abandoning it."""

    def __init__(self, hasher: Hasher, offset: int = 0) -> None:
        self.hasher = HashFeed(hasher)
        self.offset = offset  # bytes in the partial file
        self.received = 0  # bytes received in this run

    def add(self, chunk: bytes) -> None:
        """`chunk` was appended to the partial file."""
        self.hasher.update(chunk)
        self.offset += len(chunk)
        self.received += len(chunk)

    def restart(self, hasher: Hasher) -> None:
        """The partial file was emptied: count and hash from zero again."""
        self.hasher.close()
        self.hasher, self.offset = HashFeed(hasher), 0


class _Batch:
    """Chunks received (64 KiB each from httpcore) that are written and counted together: one
    `writev` and one progress update per MiB, or per `_BATCH_SECONDS` on a slow link, instead of
    per chunk (issue 17: sync at snapshot_download's speed). Every chunk is hashed."""

    def __init__(self, out: Any, state: Received, on_bytes: Callable[[int], None]) -> None:
        self.fd = out.fileno()
        self.state, self.on_bytes = state, on_bytes
        self.chunks: list[bytes] = []
        self.size = 0
        self.since = time.monotonic()

    def add(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        self.size += len(chunk)

    def full(self) -> bool:
        """Time to write: a MiB is waiting, or the oldest chunk has waited `_BATCH_SECONDS`."""
        return self.size >= _BATCH_BYTES or time.monotonic() - self.since >= _BATCH_SECONDS

    def drop(self) -> None:
        self.chunks, self.size = [], 0

    def write(self) -> None:
        """Append the batch to the file, hash it and count it."""
        if not self.size:
            return
        chunks, n = self.chunks, self.size
        self.drop()
        _write_all(self.fd, chunks)
        start_writeback(self.fd, self.state.offset, n)  # so the fsync at the end finds it on disk
        for chunk in chunks:
            self.state.add(chunk)
        self.on_bytes(n)
        self.since = time.monotonic()


def _write_all(fd: int, chunks: list[bytes]) -> None:
    """`os.writev` until every byte is written (a regular file may take fewer at once)."""
    if not hasattr(os, "writev"):  # Windows
        for chunk in chunks:
            os.write(fd, chunk)  # FileIO semantics: the whole chunk on a regular file
        return
    views = [memoryview(c) for c in chunks]
    while views:
        n = os.writev(fd, views)
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if views and n:
            views[0] = views[0][n:]


class Fetcher:
    """Downloads `FileTask`s from `endpoint`; safe to share between threads."""

    def __init__(self, endpoint: str, *, cancel: threading.Event | None = None) -> None:
        from huggingface_hub.utils import build_hf_headers, get_session

        self.cancel = cancel if cancel is not None else threading.Event()
        self.endpoint = endpoint.rstrip("/")
        self.session = get_session()
        self.headers: dict[str, str] = build_hf_headers(library_name="ptmlock", library_version=__version__)
        self.headers["Accept-Encoding"] = "identity"  # the bytes as stored, so sizes and hashes match
        self.limits = NetLimits.from_env()
        self.transport_errors = transport_errors()

    def url(self, task: FileTask) -> str:
        """The resolve URL of `task`'s file at the pinned commit."""
        from huggingface_hub import hf_hub_url

        m = task.model
        return hf_hub_url(m.canonical, task.file.path, repo_type=m.repo_type, revision=m.commit, endpoint=self.endpoint)

    def fetch(self, task: FileTask, on_bytes: Callable[[int], None]) -> int:
        """Download `task`'s file into `task.store`, checked against the lock. Returns the bytes
        received (resumed bytes already on disk are reported to `on_bytes` but not counted).

        Raises:
            IntegrityError: the hub served bytes whose size or hash differ from the lock (the
                partial file is deleted; `task.store` is untouched).
            HubError: not found, refused, or unavailable past the retry deadline.
            OSError: the cache cannot be written.
        """
        # issue 11: the folders are reached without links, the partial file opened without following one
        contained_dir(task.root, task.partial.parent)
        contained_dir(task.root, task.store.parent)
        state = self._resume(task)
        if state.offset:
            on_bytes(state.offset)
        try:
            return self._fetch(task, state, on_bytes)
        finally:
            state.hasher.close()  # the hashing thread ends on every exit (error, cancel, success)

    def _fetch(self, task: FileTask, state: Received, on_bytes: Callable[[int], None]) -> int:
        file = task.file
        resumed = state.offset > 0
        tries = 0
        last_progress = time.monotonic()
        url = self.url(task)
        # unbuffered: every byte goes out with `os.writev` (`_Batch`), none waits in a Python buffer
        with os.fdopen(open_nofollow(task.partial, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "ab", buffering=0) as out:
            while state.offset < file.size:
                tries += 1
                before, started = state.received, time.monotonic()
                try:
                    self._get(task, url, out, state, on_bytes, self.limits.deadline - (started - last_progress))
                    reason, refused = "", False
                except Retry as e:
                    reason, refused = e.reason, e.refused
                if state.offset >= file.size:
                    break
                got = state.received - before
                if got > 0 and got >= STALL_MIN_RATE * (time.monotonic() - started):  # a trickle is no progress
                    tries, last_progress = 1, time.monotonic()
                delay = backoff(tries)
                waited = time.monotonic() - last_progress
                if tries >= _MAX_TRIES_WITHOUT_PROGRESS or waited + delay > self.limits.deadline:
                    out.flush()
                    raise HubUnavailableError(
                        f"{task.model.id}: downloading {file.path} from {self.endpoint} failed after {tries} attempts "
                        f"in {waited:.1f}s without progress (last: {reason or 'connection closed early'}). "
                        f"{state.offset} of {file.size} bytes are kept; run `ptmlock sync` again to resume."
                        + ("" if refused else f" {SETTINGS_HINT}."))
                if self.cancel.wait(delay):
                    raise Cancelled(f"{task.label}: cancelled")
            out.flush()
            os.fsync(out.fileno())
        received = state.received
        actual = state.hasher.hexdigest()
        want = expected_digest(file)
        if actual != want:
            _unlink(task.partial)
            if resumed:  # the bytes kept from an earlier run may be what is wrong: once more from zero
                return self.fetch(task, on_bytes)
            raise IntegrityError(
                f"{task.model.id}: {file.path} failed its integrity check: {algorithm(file)} expected {want}, got "
                f"{actual} (from {self.endpoint}). The download was discarded and nothing in the cache was changed. "
                "The hub or a proxy served other bytes than ptm.lock pins; run `ptmlock sync` again, and if it "
                f"persists check HF_ENDPOINT, or re-pin with `ptmlock lock --upgrade {task.model.id}` if the repo "
                "was rewritten.")
        os.replace(task.partial, task.store)
        return received

    def _resume(self, task: FileTask) -> Received:
        """The hash state and offset to continue `task.partial` from (0 when there is none)."""
        st = contained_file(task.root, task.partial, create_parent=False)
        if st is None:
            return Received(new_hasher(task.file))
        size = st.st_size
        if 0 < size <= task.file.size:
            hasher, read = hasher_of(task.partial, task.file)
            return Received(hasher, read)
        _truncate(task.partial)
        return Received(new_hasher(task.file))

    def _get(self, task: FileTask, url: str, out: Any, state: Received, on_bytes: Callable[[int], None],
             left: float) -> None:
        """One GET from `state.offset`, appending to `out` and updating `state` as bytes arrive;
        `left` is what remains of the deadline. Slow headers are cut at the stall time, a body
        slower than the stall rule (`ptmlock._net.StallWatch`) is cut and resumed by the caller.

        Raises:
            Retry: a transient failure (what arrived so far is kept in `state`).
            IntegrityError, HubError: see `fetch`.
        """
        from huggingface_hub.errors import OfflineModeIsEnabled

        headers = dict(self.headers)
        if state.offset:
            headers["Range"] = f"bytes={state.offset}-"
        size = task.file.size
        timeout = self.limits.request_timeout(max(left, 0.1))
        try:
            r = run_within(min(max(left, 0.1), self.limits.stall),
                           lambda: stream_get(self.session, url, headers=headers, timeout=timeout),
                           on_late=lambda late: late.close())
            with closing(r):
                watch = StallWatch(stall=self.limits.stall, limit=max(left, 0.1))
                status = r.status_code
                if status >= 400 and not (status == 416 and state.offset):
                    self._raise_for_status(task, r)
                if state.offset and status != 206:  # Range ignored or refused: start over
                    _truncate_open(out)
                    state.restart(new_hasher(task.file))
                    if status == 416:
                        raise Retry("HTTP 416: the partial download did not match; starting over")
                batch = _Batch(out, state, on_bytes)
                try:
                    for chunk in r.iter_bytes():  # as received: a cut connection keeps every byte so far
                        if state.offset + batch.size + len(chunk) > size:
                            batch.drop()
                            _truncate_open(out)
                            _unlink(task.partial)
                            raise IntegrityError(
                                f"{task.model.id}: {task.file.path!r} is larger on {self.endpoint} than the {size} "
                                "bytes ptm.lock pins. The download was discarded and nothing in the cache was "
                                f"changed. If the repo was rewritten, re-pin with `ptmlock lock --upgrade "
                                f"{task.model.id}`.")
                        batch.add(chunk)
                        watch.update(len(chunk))  # a trickle is cut even while the batch is small
                        if self.cancel.is_set():
                            raise Cancelled(f"{task.label}: cancelled")
                        if batch.full():
                            batch.write()
                finally:
                    batch.write()  # what arrived is kept, also when the connection was cut
        except OfflineModeIsEnabled:
            raise HubError("HF_HUB_OFFLINE is set, so nothing can be downloaded. Unset it to sync, or run "
                           "`ptmlock sync --offline` to only check what is missing.") from None
        except self.transport_errors as e:
            text = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            raise Retry(text, refused=is_refused(text)) from None
        except request_errors() as e:  # a redirect loop is no transient failure (issue 11)
            raise unreadable(self.endpoint, repr(task.label), e) from None
        if state.offset < size:  # a complete answer, but shorter than the file the lock pins
            _unlink(task.partial)
            raise IntegrityError(
                f"{task.model.id}: {task.file.path!r} is {state.offset} bytes on {self.endpoint}, but ptm.lock pins "
                f"{size} bytes. The download was discarded and nothing in the cache was changed. Run `ptmlock sync` "
                f"again; if it persists, check HF_ENDPOINT, or re-pin with `ptmlock lock --upgrade {task.model.id}` "
                "if the repo was rewritten.")

    def _raise_for_status(self, task: FileTask, r: Any) -> None:
        status = r.status_code
        code = r.headers.get("X-Error-Code", "")
        m = task.model
        if status in RETRY_STATUS:
            raise Retry(f"HTTP {status}")
        if status in (401, 403) and code != "RepoNotFound":
            raise GatedRepoError(
                f"{m.id}: {self.endpoint} refused {task.file.path!r} (HTTP {status}{', ' + code if code else ''}). "
                "The repo is gated or private: accept its conditions on the model page and set HF_TOKEN to a token "
                "of that account (ptmlock never writes the token anywhere).")
        if status in (401, 404):
            raise HubError(
                f"{m.id}: {self.endpoint} has no {task.file.path!r} at commit {m.commit[:12]} (HTTP {status}"
                f"{', ' + code if code else ''}). The pinned commit may be gone (force-push or deleted repo); "
                f"re-pin with `ptmlock lock --upgrade {m.id}`, or check HF_ENDPOINT.")
        raise HubError(f"{m.id}: {self.endpoint} answered HTTP {status} for {task.file.path!r}. Check HF_ENDPOINT "
                       "and try again.")


def _truncate(path: Path) -> None:
    os.close(open_nofollow(path, os.O_WRONLY | os.O_TRUNC))


def _truncate_open(out: Any) -> None:
    out.flush()
    out.truncate(0)
    out.seek(0)


def _unlink(path: os.PathLike[str]) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass

