"""The only code that replaces project files: atomic writes and the run lock."""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path


def atomic_write(path: str | os.PathLike[str], data: str | bytes, *, durable: bool = True) -> None:
    """Replace `path` with `data` so that a reader sees the old file or the new one, never half.

    Writes a unique temporary file in the same directory, fsyncs it (unless not `durable`: a
    cache whose lost entry only costs recomputing it), then `os.replace`s it. The temporary
    file is removed if anything fails.
    """
    target = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        with contextlib.suppress(OSError):
            # keep the permissions of the file we replace (or the umask default)
            mode = target.stat().st_mode & 0o777 if target.exists() else 0o666 & ~_umask()
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def read_text_exactly(path: str | os.PathLike[str]) -> str:
    """The UTF-8 text of `path` with its line ends as they are (no universal-newline translation)."""
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str], blocked_cb: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the `with` block.

    `blocked_cb` is called once, only when another process holds the lock, before waiting.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        _acquire(fd, blocked_cb)
        try:
            yield
        finally:
            _release(fd)
    finally:
        os.close(fd)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _acquire(fd: int, blocked_cb: Callable[[], None] | None) -> None:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            if blocked_cb is not None:
                blocked_cb()
            while True:
                try:
                    msvcrt.locking(fd, msvcrt.LK_LOCK, 1)
                    return
                except OSError:
                    continue

    def _release(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _acquire(fd: int, blocked_cb: Callable[[], None] | None) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            if blocked_cb is not None:
                blocked_cb()
            fcntl.flock(fd, fcntl.LOCK_EX)

    def _release(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
