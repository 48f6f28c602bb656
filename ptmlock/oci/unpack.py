"""One locked file out of a ModelPack tar layer (`.tar`, `.tar+gzip`, `.tar+zstd`), streamed (issue 25).

The layer's digest identifies the tar; the lock identifies the file. So a tar layer is read as a
stream (never extracted as a whole, never written anywhere but the one file's partial name), and
its members are checked as they pass:

- a member's name must be a relative path inside the model folder: no leading `/`, no `..`, no
  backslash or NUL; a folder entry is skipped; anything that is not a regular file or a folder
  (a symbolic or hard link, a device, a FIFO) makes the whole layer refused;
- only the member whose path is the locked file's is copied out, to a file the caller opened, and
  its size and hash are then checked against ptm.lock by the caller before it is placed.

gzip is Python's own; zstd needs the `zstandard` package (`pip install 'ptmlock[oci-zstd]'`;
Python 3.11's standard library has no zstd), imported only when a zstd layer is read.
"""
from __future__ import annotations

import gzip
import importlib
import tarfile
from collections.abc import Callable
from typing import Any

from ptmlock.errors import IntegrityError, ManifestError

ZSTD_EXTRA = "pip install 'ptmlock[oci-zstd]'"
_CHUNK = 1024 * 1024


class MissingExtraError(ManifestError):
    """A layer needs an optional package that is not installed (exit 3, naming the pip command)."""


class UnsafeLayerError(IntegrityError):
    """A tar layer holds a link, a device, or a path outside the model folder (exit 5)."""


def decompressed(raw: Any, archive: str, *, what: str) -> Any:
    """The tar stream inside a layer blob read from `raw` (`tar`, `tar+gzip` or `tar+zstd`).

    Raises:
        MissingExtraError: a zstd layer and no `zstandard` package.
    """
    if archive == "tar":
        return raw
    if archive == "tar+gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    try:
        zstandard = importlib.import_module("zstandard")
    except ImportError:
        raise MissingExtraError(f"{what} is a zstd-compressed tar layer, and reading it needs the zstandard package "
                                f"(not in Python's standard library before 3.14). Install it with `{ZSTD_EXTRA}`, "
                                "or publish the model with uncompressed layers.") from None
    return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)


def member_path(name: str) -> str | None:
    """The repo path a tar member's name stands for (`./a/b` -> `a/b`, `.` -> ""), or None when
    it would leave the model folder."""
    path = name.replace("\\", "\0")
    while path.startswith("./"):
        path = path[2:]
    path = path.rstrip("/")
    if path in ("", "."):
        return ""  # the model folder itself (KitOps writes a `.` folder entry)
    parts = path.split("/")
    if not path or path.startswith("/") or "\0" in path or any(p in ("", ".", "..") for p in parts):
        return None
    return path


def copy_member(stream: Any, *, wanted: str, alias: str | None, what: str, write: Callable[[bytes], None],
                size: Callable[[int], None], limit: int) -> bool:
    """Find the regular file `wanted` (or `alias`, the bare file name some packers write) in the
    tar `stream` and hand its bytes to `write`, after its size to `size` (which may refuse it).
    True when found; False when the tar ends without it. A tar that holds more than `limit` bytes
    before it (all the model's locked files and then some) is refused: a decompression bomb
    costs no more than reading the model.

    Raises:
        UnsafeLayerError: a member is a link, a device or a FIFO, or its path leaves the folder.
        IntegrityError: the stream is not a valid tar (or not valid gzip / zstd).
    """
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                if member.offset_data > limit:
                    raise UnsafeLayerError(f"{what} holds more than the {limit} bytes of the model's locked files "
                                           "before the one looked for; ptmlock reads no further. Nothing was placed; "
                                           "this source is not used again in this run.")
                found = _check(member, what)
                if found is None or found not in (wanted, alias):
                    continue
                size(member.size)
                data: Any = tar.extractfile(member)
                while True:
                    chunk = data.read(_CHUNK)
                    if not chunk:
                        break
                    write(chunk)
                return True
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, _zstd_error()) as e:
        raise IntegrityError(f"{what} is not a valid tar layer ({type(e).__name__}: {str(e)[:120]}). Nothing was "
                             "placed; this source is not used again in this run.") from None
    return False


def _check(member: tarfile.TarInfo, what: str) -> str | None:
    """The member's repo path when it is a regular file; None for a folder; raises otherwise."""
    path = member_path(member.name)
    if path is None or (path == "" and not member.isdir()):
        raise UnsafeLayerError(f"{what} holds {member.name!r}, a path outside the model folder; ptmlock writes "
                               "nothing from it. Nothing was placed; this source is not used again in this run.")
    if member.isdir():
        return None
    if not member.isreg():
        kind = ("a symbolic link" if member.issym() else "a hard link" if member.islnk()
                else "a device" if member.isdev() else "not a regular file")
        raise UnsafeLayerError(f"{what} holds {member.name!r}, which is {kind}; ptmlock places regular files only. "
                               "Nothing was placed; this source is not used again in this run.")
    return path


def _zstd_error() -> type[BaseException]:
    try:
        zstandard = importlib.import_module("zstandard")
    except ImportError:
        return tarfile.TarError
    error: type[BaseException] = zstandard.ZstdError
    return error

