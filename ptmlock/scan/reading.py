"""Reading a project file for `scan`, `check` and `init --from-code`: regular files only.

A project can ship anything git stores: a symbolic link to `/dev/zero`, `/dev/urandom` or
`/proc/kmsg`, a FIFO, a link out of the tree. `read_regular` opens with `O_NOFOLLOW` and
`O_NONBLOCK` (a FIFO or a device never blocks the open), checks with `fstat` that what it
opened is a regular file, and reads at most `MAX_BYTES` (a `/proc` file says size 0 and never
ends). A symbolic link is followed only when its target is a regular file inside `root` (the
walked directory). Anything else is `None`: the scan skips it and counts it as unreadable.
"""
from __future__ import annotations

import codecs
import contextlib
import errno
import io
import os
import stat
import tokenize

MAX_BYTES = 64 * 1024 * 1024  # a source file, config or notebook larger than this is not read
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_FLAGS = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def read_regular(path: str, root: str | None = None, limit: int = MAX_BYTES) -> bytes | None:
    """The bytes of `path` when it is a regular file of at most `limit` bytes (through a symbolic
    link only when the link's target lies inside `root`, default: the file's own directory);
    None for anything else (a device, FIFO, socket, directory, a link out of the project, a
    missing or unreadable file, a file over the cap)."""
    try:
        fd = _open(path, root)
    except (OSError, ValueError):  # ValueError: a null byte in the path, or paths on two drives
        return None
    if fd is None:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            return None
        # one read of the size `fstat` gave, plus one byte: an answer of exactly that size is the
        # whole file, so it costs one call (and no 1 MiB buffer cut down after); a short read
        # (some network and FUSE file systems) or a file that grew reads on to the end
        want = st.st_size + 1
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # grew while read, or a special file that says 0 bytes
                return None
            if len(chunk) < want and size == st.st_size:
                break
            want = min(1 << 20, limit + 1 - size)
        return b"".join(chunks)
    except OSError:  # EAGAIN from a non-blocking special file, EIO, ...
        return None
    finally:
        os.close(fd)


def _open(path: str, root: str | None) -> int | None:
    """`path` opened without following a final symbolic link, or the link's target when it lies
    inside `root`; None for a link out of it. With `O_NOFOLLOW`, a plain file costs no `lstat`:
    only an open refused as a link (ELOOP) looks at the link."""
    if _NOFOLLOW:
        try:
            return os.open(path, _FLAGS)
        except OSError as e:
            if e.errno not in (errno.ELOOP, errno.EMLINK):  # EMLINK: FreeBSD's answer for a link
                raise
    if os.path.islink(path):
        target = os.path.realpath(path)
        base = os.path.realpath(root if root is not None else os.path.dirname(path) or ".")
        if os.path.commonpath([target, base]) != base:
            return None
        path = target
    return os.open(path, _FLAGS)


def read_text(path: str, root: str | None = None, limit: int = 1024 * 1024) -> str | None:
    """A small regular text file (`.ptmlockignore`), as UTF-8 with errors replaced; None otherwise."""
    data = read_regular(path, root, limit)
    return None if data is None else data.decode("utf-8", "replace")


def decode_source(data: bytes) -> str:
    """Bytes of a Python file as text: UTF-8, a BOM, or a PEP 263 `coding:` cookie; never raises
    (undecodable bytes become U+FFFD, which cannot hide a load)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", "replace")
    head = data[:400].split(b"\n", 2)[:2]
    if not any(b"coding" in line for line in head):
        with contextlib.suppress(UnicodeDecodeError):
            return data.decode("utf-8")
    try:
        encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
        return data.decode(encoding, "replace")
    except (SyntaxError, LookupError):
        return data.decode("utf-8", "replace")
