"""Content hashes of locked files, computed fast, and the small cache of hashes already verified.

A file is identified the way the hub identifies it: LFS files by the sha256 of their content,
the others by their git blob id, `sha1(b"blob %d\\0" % size + content)`. Hashing reads in
large chunks; hashlib releases the GIL on large updates, so a thread pool
hashes several files at once on several cores.

`VerifiedCache` remembers, per file, the digest computed the last time, keyed by the file's
real path and its stat identity (size, mtime_ns, ctime_ns, inode, device). Any write to the
file changes its ctime, which no user can set back, so a tampered file never hits the cache.
"""
from __future__ import annotations

import hashlib
import json
import os
import queue
import sys
import threading
from pathlib import Path
from typing import Any, Protocol

from ptmlock._fs import open_nofollow
from ptmlock.lockfile.model import LockedFile

CACHE_FILE = "verified-v1.json"
_READ_SIZE = 4 * 1024 * 1024  # per read of a file under _PIPELINE_MIN
_PIPELINE_MIN = 64 * 1024 * 1024  # from this size, read and hash on two threads
_PIPELINE_BUFFER = 8 * 1024 * 1024  # three of them per large file in flight
_MAX_ENTRIES = 100_000


class Hasher(Protocol):
    """The part of a hashlib object that ptmlock uses."""

    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...

    def hexdigest(self) -> str: ...


def algorithm(file: LockedFile) -> str:
    """`sha256` for an LFS file, `git-blob` (the git blob sha1) for the others."""
    return "sha256" if file.sha256 is not None else "git-blob"


def expected_digest(file: LockedFile) -> str | None:
    """The hex digest `file` must have, or None when the lock records no hash for it."""
    return file.sha256 if file.sha256 is not None else file.blob_id


def new_hasher(file: LockedFile) -> Hasher:
    """A fresh hash object for `file`'s algorithm; the git blob header is already fed in."""
    if file.sha256 is not None:
        return hashlib.sha256()
    h = hashlib.sha1(usedforsecurity=False)
    h.update(b"blob %d\0" % file.size)
    return h


def hash_file(path: str | os.PathLike[str], file: LockedFile) -> tuple[str, int]:
    """Hash the file at `path` with `file`'s algorithm: (hex digest, bytes read).

    For a git blob id the header uses `file.size`, so a file of another size never matches.
    A large file is read by a second thread while this one hashes, so reading and hashing
    overlap (hashlib releases the GIL); smaller ones are read in 4 MiB chunks.

    Raises:
        OSError: the file cannot be read.
    """
    if file.size < _PIPELINE_MIN:
        h, total = hasher_of(path, file)
        return h.hexdigest(), total
    with os.fdopen(open_nofollow(path, os.O_RDONLY), "rb", buffering=0) as f:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        digest = _hash_pipelined(f, new_hasher(file))
        return digest, _read_total(f)


def hasher_of(path: str | os.PathLike[str], file: LockedFile) -> tuple[Hasher, int]:
    """A hash object of `file`'s algorithm fed with the bytes at `path`, and their count: what a
    resumed download continues from.

    Raises:
        OSError: the file cannot be read.
    """
    h = new_hasher(file)
    total = 0
    fd = open_nofollow(path, os.O_RDONLY)  # issue 11: never hash (then append to) a planted link
    try:
        # os.read into fresh bytes: as fast as readinto() a reused buffer here (measured), with no
        # file object to build per file (500 x 1 MiB: 310 ms on one core, 260 of them sha256)
        while chunk := os.read(fd, _READ_SIZE):
            h.update(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    return h, total


def _read_total(f: Any) -> int:
    return int(f.tell())


def _hash_pipelined(f: Any, h: Hasher) -> str:
    """Hash `f` to its end while a reader thread fills the next buffers."""
    free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
    full: queue.SimpleQueue[tuple[bytearray, int] | BaseException] = queue.SimpleQueue()
    for _ in range(3):
        free.put(bytearray(_PIPELINE_BUFFER))

    stop = threading.Event()

    def read() -> None:
        try:
            while True:
                buf = free.get()
                if stop.is_set():
                    return
                n = f.readinto(buf)
                full.put((buf, n))
                if not n:
                    return
        except BaseException as e:  # handed to the hashing thread, which re-raises it
            full.put(e)

    reader = threading.Thread(target=read, name="ptmlock-read", daemon=True)
    reader.start()
    try:
        while True:
            item = full.get()
            if isinstance(item, BaseException):
                raise item
            buf, n = item
            if not n:
                break
            with memoryview(buf) as view:
                h.update(view[:n])
            free.put(buf)
    finally:
        stop.set()
        free.put(bytearray(0))  # wakes the reader if it waits for a buffer
        reader.join()
    return h.hexdigest()


class HashFeed:
    """A `Hasher` that hashes on its own thread: `update()` only queues the chunk, so the thread
    reading a socket and writing the file never waits for sha256 (hashlib releases the GIL on
    large updates, so the two run on two cores). Chunks are handed over in batches of about
    `batch` bytes (no copy), to keep the queue traffic small; `hexdigest()` waits for the rest.

    Used by `sync` downloads (issue 17: verify every byte at snapshot_download's speed, in one
    pass). Call `close()` when abandoning it, so the thread ends.
    """

    def __init__(self, hasher: Hasher, *, batch: int = 1024 * 1024) -> None:
        self._hasher = hasher
        self._batch_size = batch
        self._batch: list[bytes | bytearray | memoryview] = []
        self._pending = 0
        self._queue: queue.Queue[list[bytes | bytearray | memoryview] | None] = queue.Queue(maxsize=16)
        self._thread: threading.Thread | None = None

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        """Queue `data` (not copied: do not change it afterwards) to be hashed in order."""
        self._batch.append(data)
        self._pending += len(data)
        if self._pending >= self._batch_size:
            self._hand_over()

    def hexdigest(self) -> str:
        """The digest of everything passed to `update()`, once the thread has hashed it all."""
        self.close()
        return self._hasher.hexdigest()

    def close(self) -> None:
        """Hash what is queued and stop the thread (idempotent)."""
        if self._batch:
            self._hand_over()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _hand_over(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ptmlock-hash", daemon=True)
            self._thread.start()
        self._queue.put(self._batch)
        self._batch, self._pending = [], 0

    def _run(self) -> None:
        while (batch := self._queue.get()) is not None:
            for chunk in batch:
                self._hasher.update(chunk)


def stat_key(st: os.stat_result) -> list[int]:
    """The stat identity a cached digest is valid for."""
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def default_cache_path() -> Path:
    """`verified-v1.json` under `platformdirs.user_cache_dir("ptmlock")`."""
    if sys.platform.startswith("linux"):  # platformdirs' answer there, without its import time
        base = os.environ.get("XDG_CACHE_HOME", "")
        return Path(base if base.strip() else os.path.expanduser("~/.cache")) / "ptmlock" / CACHE_FILE
    import platformdirs

    return Path(platformdirs.user_cache_dir("ptmlock")) / CACHE_FILE


class VerifiedCache:
    """Digests of files already hashed, keyed by real path and stat identity.

    Thread-safe. `save()` writes the cache atomically, only when it changed; a missing or
    corrupt cache file is treated as empty (it is only ever an optimisation).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else default_cache_path()
        self._entries: dict[str, list[Any]] = {}
        self._touched: set[str] = set()
        self._dirty = False
        self._lock = threading.Lock()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("version") == 1 and isinstance(data.get("entries"), dict):
                self._entries = data["entries"]
        except (OSError, ValueError):
            pass

    def get(self, realpath: str, st: os.stat_result, algo: str) -> str | None:
        """The cached digest of `realpath` if its stat identity is unchanged, else None."""
        entry = self._entries.get(realpath)
        if entry is None or len(entry) != 7 or entry[:5] != stat_key(st) or entry[5] != algo:
            return None
        with self._lock:
            self._touched.add(realpath)
        return str(entry[6])

    def put(self, realpath: str, st: os.stat_result, algo: str, digest: str) -> None:
        """Remember that `realpath`, as it is per `st`, has `digest` under `algo`."""
        entry = [*stat_key(st), algo, digest]
        with self._lock:
            self._touched.add(realpath)
            if self._entries.get(realpath) != entry:  # `verify --deep` of unchanged files writes nothing
                self._entries[realpath] = entry
                self._dirty = True

    def save(self) -> None:
        """Write the cache if it changed; errors are ignored (the cache is an optimisation)."""
        from ptmlock._fs import atomic_write

        with self._lock:
            if not self._dirty:
                return
            if len(self._entries) > _MAX_ENTRIES:  # keep what this run used, drop the rest
                self._entries = {k: v for k, v in self._entries.items() if k in self._touched}
            text = json.dumps({"version": 1, "entries": self._entries}, separators=(",", ":"))
            self._dirty = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.path, text)
        except OSError:
            pass


def digest_of(path: str, file: LockedFile, *, cache: VerifiedCache | None, st: os.stat_result | None = None,
              lookup: bool = True) -> tuple[str, int, bool]:
    """`file`'s digest of the file at real path `path`: from `cache` when its stat is unchanged
    (and `lookup`), else by reading it, recording the result in `cache`.

    Returns (hex digest, bytes read, whether it came from the cache).

    Raises:
        OSError: the file cannot be read.
    """
    algo = algorithm(file)
    if st is None:
        st = os.stat(path)
    if cache is not None and lookup:
        cached = cache.get(path, st, algo)
        if cached is not None:
            return cached, 0, True
    digest, n = hash_file(path, file)
    if cache is not None:
        after = os.stat(path)
        if stat_key(after) == stat_key(st):  # changed while we read it: do not cache
            cache.put(path, after, algo, digest)
    return digest, n, False
