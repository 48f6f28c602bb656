"""Bytes at load (issue 22, item 1): a download the guard lets through holds the locked bytes.

The guard pins a commit; a hub or a mirror behind `HF_ENDPOINT` can still serve other bytes for
a file at that commit. So when huggingface_hub downloads a file of a locked model at its locked
commit (a cache miss), the bytes are hashed as they stream to the temporary file (on a second
thread: hashlib releases the GIL) and compared with ptm.lock's sha256 (LFS) or git blob id
*before* huggingface_hub moves the file into `blobs/`. A mismatch, or a file the locked commit
does not have, deletes the temporary file, so nothing unlocked ever reaches the cache, and fails
the load with `UnlockedBytesError` (a `GuardError`), in strict and in warn mode alike: warn mode
warns about names, but never serves bytes it knows are not the locked ones.

Hooked in `huggingface_hub.file_download` (private functions, the one spot every download
passes; `hf_hub.py` registers them):
- `_hf_hub_download_to_cache_dir` / `_hf_hub_download_to_local_dir`: which locked file this call
  is fetching (a context variable, so `snapshot_download`'s worker threads each have their own);
- `http_get`: the streaming hash;
- `_chmod_and_move`: the comparison, before the move.

A file already in the cache at the locked commit is not hashed at load (offline, and every
cache hit, is `ptmlock verify`'s job); a blob downloaded and verified here is recorded in
verify's cache of verified files, so `verify` does not hash it again either.
"""
from __future__ import annotations

import os
import posixpath
import queue
import threading
from contextvars import ContextVar

from ptmlock.enforce._runtime import active, locked_entry, pinned, project_mode
from ptmlock.errors import GuardError, UnlockedBytesError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any, BinaryIO

    from ptmlock.install.hashing import Hasher
    from ptmlock.lockfile.model import LockedFile

_MAX_PENDING = 4  # chunks (10 MiB each in huggingface_hub) queued for the hashing thread


class _Download:
    """One file huggingface_hub is fetching for a locked model at its locked commit."""

    __slots__ = ("repo_id", "filename", "commit", "locked", "writer", "verified")

    def __init__(self, repo_id: str, filename: str, commit: str, locked: LockedFile | None) -> None:
        self.repo_id, self.filename, self.commit = repo_id, filename, commit
        self.locked = locked  # None: the locked commit has no such file
        self.writer: _HashingWriter | None = None
        self.verified = False


_current: ContextVar[_Download | None] = ContextVar("ptmlock_download", default=None)


def patch_file_download(module: ModuleType) -> None:
    """Hook `module` (`huggingface_hub.file_download`) so downloads are checked against ptm.lock."""
    from ptmlock.enforce._hooks import wrap_function

    wrap_function(module, "_hf_hub_download_to_cache_dir", _to_cache_dir)
    wrap_function(module, "_hf_hub_download_to_local_dir", _to_local_dir)
    wrap_function(module, "http_get", _http_get)
    wrap_function(module, "_chmod_and_move", _chmod_and_move)


def _expected(kwargs: dict[str, Any]) -> _Download | None:
    """The locked file this download call fetches, or None when it fetches nothing locked."""
    repo_id, revision, filename = kwargs.get("repo_id"), kwargs.get("revision"), kwargs.get("filename")
    if not (isinstance(repo_id, str) and isinstance(revision, str) and isinstance(filename, str)):
        return None
    pin = pinned(repo_id, revision, kwargs.get("repo_type") or "model")
    if pin is None or pin.commit is None:
        return None
    entry = locked_entry(pin)
    if entry is None or not entry.files:
        return None
    # the path the request asks for: `./modules.json` (sentence-transformers) is `modules.json` in the URL
    filename = posixpath.normpath(filename)
    locked = next((f for f in entry.files if f.path == filename), None)
    if locked is not None and locked.sha256 is None and locked.blob_id is None:
        return None  # the lock records no hash to compare with
    return _Download(repo_id, filename, pin.commit, locked)


def _to_cache_dir(original: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        download = _start(kwargs)
        if download is None:
            return original(*args, **kwargs)
        if not kwargs.get("force_download") and os.path.lexists(_pointer(kwargs)):
            return original(*args, **kwargs)  # a cache hit: `verify`'s job, never re-hashed at load
        token = _current.set(download)
        try:
            path = original(*args, **kwargs)
        finally:
            _current.reset(token)
            _stop(download)
        if isinstance(path, str) and not download.verified:
            _check_reused(download, path)  # no download: a blob already in the cache was linked
        return path

    return wrapper


def _to_local_dir(original: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        download = _start(kwargs)
        if download is None:
            return original(*args, **kwargs)
        token = _current.set(download)
        try:
            return original(*args, **kwargs)
        finally:
            _current.reset(token)
            _stop(download)

    return wrapper


def _start(kwargs: dict[str, Any]) -> _Download | None:
    if not active() or kwargs.get("dry_run"):
        return None
    try:
        return _expected(kwargs)
    except GuardError:
        raise
    except Exception as e:  # the guard must never break the program it guards
        from ptmlock.enforce._runtime import guard_failed

        guard_failed(f"looking up {kwargs.get('filename')!r} of {kwargs.get('repo_id')!r} in ptm.lock", e)
        return None


def _stop(download: _Download) -> None:
    if download.writer is not None:
        download.writer.close()


def _pointer(kwargs: dict[str, Any]) -> str:
    from huggingface_hub.file_download import repo_folder_name

    folder = repo_folder_name(repo_id=kwargs["repo_id"], repo_type=kwargs.get("repo_type") or "model")
    return os.path.join(kwargs["cache_dir"], folder, "snapshots", kwargs["revision"], *kwargs["filename"].split("/"))


def _http_get(original: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(url: str, temp_file: BinaryIO, *args: Any, **kwargs: Any) -> Any:
        download = _current.get()
        if download is not None and download.locked is not None and not isinstance(temp_file, _HashingWriter):
            from ptmlock.install.hashing import new_hasher

            download.writer = _HashingWriter(temp_file, new_hasher(download.locked))
            temp_file = download.writer  # type: ignore[assignment]  # huggingface_hub's own retries keep it
        return original(url, temp_file, *args, **kwargs)

    return wrapper


def _chmod_and_move(original: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(src: Any, dst: Any) -> Any:
        download = _current.get()
        if download is None:
            return original(src, dst)
        _compare(download, os.fspath(src), streamed=download.writer)
        result = original(src, dst)
        download.verified = True
        _remember(download, os.fspath(dst))
        return result

    return wrapper


def _compare(download: _Download, path: str, *, streamed: _HashingWriter | None, discard: bool = True) -> None:
    """Raise unless the file at `path` holds `download`'s locked bytes; on a mismatch, `path` is
    deleted first (when `discard`), so the bytes are never used.

    Raises:
        UnlockedBytesError: in strict and warn mode.
    """
    locked = download.locked
    if locked is None:
        got = None
    else:
        from ptmlock.install.hashing import expected_digest, hash_file

        digest = streamed.digest(os.path.getsize(path)) if streamed is not None else None
        got = digest if digest is not None else hash_file(path, locked)[0]
        if got == expected_digest(locked):
            _report(download, "verified", got)
            return
    if discard:
        try:
            os.unlink(path)
        except OSError:
            pass
    _refuse(download, got)


def _check_reused(download: _Download, path: str) -> None:
    """huggingface_hub linked a blob already in the cache (named by the hub's ETag) instead of
    downloading: fine when the blob is named by the locked hash, else its bytes are checked."""
    from ptmlock.install.hashing import expected_digest

    real = os.path.realpath(path)
    if download.locked is not None and os.path.basename(real) == expected_digest(download.locked):
        return
    try:
        _compare(download, real, streamed=None, discard=False)
    except GuardError:
        if os.path.islink(path):
            os.unlink(path)  # the snapshot link just made to another file's bytes
        raise


def _refuse(download: _Download, got: str | None) -> None:
    from ptmlock.enforce._runtime import _scope
    from ptmlock.enforce._where import site, user_frame
    from ptmlock.install.hashing import algorithm

    where = f"{download.repo_id}@{download.commit[:12]} {download.filename}"
    if download.locked is None or got is None:
        what = f"the hub sent a file that the locked commit {download.commit} does not have in ptm.lock"
    else:
        what = (f"the hub sent bytes with {algorithm(download.locked)} {got}, but ptm.lock locks "
                f"{download.locked.sha256 or download.locked.blob_id}")
    mode = project_mode()
    message = (f"ptmlock refused {where} ({mode} mode) at {site(user_frame())}: {what}. The download was deleted, "
               "nothing was cached. The hub or a mirror behind HF_ENDPOINT serves other bytes at the locked commit; "
               "run `ptmlock sync` against a trusted endpoint.")
    _report(download, "mismatch", got)
    error = UnlockedBytesError(message)
    scope = _scope.get()
    if scope is not None and scope.refusal is None:
        scope.refusal = error  # raised again if the library swallows it or wraps it in its own error
    raise error


def _report(download: _Download, verdict: str, got: str | None) -> None:
    from ptmlock.constants import ENV_REPORT

    report = os.environ.get(ENV_REPORT)
    if not report:
        return
    from ptmlock.enforce._report import append_record
    from ptmlock.install.hashing import expected_digest

    try:
        append_record(os.path.abspath(report), {
            "event": "bytes", "model": download.repo_id, "commit": download.commit, "file": download.filename,
            "expected": expected_digest(download.locked) if download.locked is not None else None, "got": got,
            "verdict": verdict, "mode": project_mode()})
    except (OSError, ValueError):
        pass  # bookkeeping never breaks the program; the refusal itself still happens


def _remember(download: _Download, path: str) -> None:
    """Record the verified blob in `verify`'s cache, so neither the guard nor `verify` hashes it again."""
    if download.locked is None:
        return
    try:
        from ptmlock.install.hashing import VerifiedCache, algorithm, expected_digest

        real = os.path.realpath(path)
        cache = VerifiedCache()
        cache.put(real, os.stat(real), algorithm(download.locked), str(expected_digest(download.locked)))
        cache.save()
    except Exception:  # noqa: BLE001  (an optimisation only)
        pass


class _HashingWriter:
    """A file object for `http_get` that feeds every byte it writes to a hash on another thread.

    Only a write at the end of what was hashed so far is hashed; any seek or truncate (a resumed
    or restarted download) makes the stream unusable and the file is hashed whole instead.
    """

    def __init__(self, file: BinaryIO, hasher: Hasher) -> None:
        self._file = file
        self._hasher = hasher
        self.count = 0
        self.clean = file.tell() == 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=_MAX_PENDING)
        self._thread: threading.Thread | None = None
        self._closed = False

    def write(self, data: bytes) -> int:
        if self.clean and not self._closed:
            if self._file.tell() != self.count:
                self.clean = False
            else:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="ptmlock-hash", daemon=True)
                    self._thread.start()
                self._queue.put(bytes(data))
                self.count += len(data)
        return self._file.write(data)

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._hasher.update(chunk)

    def seek(self, *args: Any) -> int:
        self.clean = False
        return self._file.seek(*args)

    def truncate(self, *args: Any) -> int:
        self.clean = False
        return self._file.truncate(*args)

    def close(self) -> None:
        """Stop the hashing thread (idempotent); the file itself is closed by its owner."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()

    def digest(self, size: int) -> str | None:
        """The hex digest of the bytes written, when they are exactly the file's `size` bytes."""
        self.close()
        return self._hasher.hexdigest() if self.clean and self.count == size else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)
