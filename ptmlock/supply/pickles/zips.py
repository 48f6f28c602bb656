"""Locate a zip's entries the ways its loaders do, and say when they could disagree (issue 23).

torch's reader (miniz) and Python's `zipfile` (which `np.load` uses) both start from the end of
central directory record, but differ: `zipfile` shifts every offset by the bytes found before
the archive ("concat"), miniz does not; `zipfile` reads directory entries until the stated
directory size is used up, miniz reads the stated count; for ZIP64 `zipfile` takes the record
right before the locator, miniz the locator's offset; and there can be several end records in
the tail. `directories` returns every entry list any of these readings gives; the scanner reads
every entry of every one, and reports more than one distinct list as a disagreement
(inconclusive). Members are read from their local header (its own name and extra lengths), with
the sizes of the central directory, as both readers do; stored and deflated only.
"""
from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from typing import IO, cast

from ptmlock.supply.pickles.machine import Unreadable

EOCD = b"PK\x05\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_Z64_LOCATOR = b"PK\x06\x07"
_Z64_EOCD = b"PK\x06\x06"
_TAIL = (1 << 16) + 22
_MAX_ENTRIES = 1 << 20
_MAX_DIRECTORY = 1 << 28  # a central directory larger than this is not read (inconclusive)
_MAX_CANDIDATES = 8


@dataclass(frozen=True)
class Entry:
    """One central directory entry: `offset` is where its local header is, as a reader takes it."""

    name: str
    offset: int
    compressed: int
    size: int
    method: int
    flags: int


def directories(f: IO[bytes], size: int) -> list[tuple[Entry, ...]]:
    """Every distinct entry list a zip reader could take from `f` (`size` bytes, seekable).

    Raises:
        Unreadable: no reader finds a central directory.
    """
    start = max(0, size - _TAIL)
    f.seek(start)
    tail = f.read(size - start)
    found: list[tuple[Entry, ...]] = []
    at = len(tail)
    seen = 0
    while (at := tail.rfind(EOCD, 0, at)) >= 0 and seen < _MAX_CANDIDATES:
        seen += 1
        for listing in _readings(f, size, start + at, tail[at:at + 22]):
            if listing not in found:
                found.append(listing)
    if not found:
        raise Unreadable("no central directory a zip reader would read")
    return found


def _readings(f: IO[bytes], size: int, pos: int, record: bytes) -> list[tuple[Entry, ...]]:
    if len(record) < 22:
        return []
    _sig, _disk, _cd_disk, _n_disk, count, cd_size, cd_offset, _comment = struct.unpack("<4s4H2LH", record)
    where = [(pos, cd_size, cd_offset, count)]
    if 0xFFFF in (count,) or 0xFFFFFFFF in (cd_size, cd_offset):
        where = _zip64(f, size, pos) or where
    out: list[tuple[Entry, ...]] = []
    for record_pos, cd_size, cd_offset, count in where:
        concat = record_pos - cd_size - cd_offset
        for shift in dict.fromkeys((0, concat)):
            for listing in _central(f, size, cd_offset + shift, cd_size, count, shift):
                if listing not in out:
                    out.append(listing)
    return out


def _zip64(f: IO[bytes], size: int, pos: int) -> list[tuple[int, int, int, int]]:
    if pos < 20:
        return []
    f.seek(pos - 20)
    locator = f.read(20)
    if not locator.startswith(_Z64_LOCATOR):
        return []
    (stated,) = struct.unpack("<Q", locator[8:16])
    out = []
    for record_pos in dict.fromkeys((stated, pos - 20 - 56)):  # miniz: the stated offset; zipfile: just before
        if not 0 <= record_pos <= size - 56:
            continue
        f.seek(record_pos)
        rec = f.read(56)
        if rec.startswith(_Z64_EOCD):
            count, cd_size, cd_offset = struct.unpack("<QQQ", rec[32:56])
            out.append((record_pos, cd_size, cd_offset, count))
    return out


def _central(f: IO[bytes], size: int, offset: int, cd_size: int, count: int, shift: int) -> list[tuple[Entry, ...]]:
    if not 0 <= offset <= size or cd_size > min(size, _MAX_DIRECTORY) or count > _MAX_ENTRIES:
        return []
    f.seek(offset)
    data = f.read(min(cd_size, size - offset) + 46 * 4)  # a little past: miniz reads by count
    by_count: list[Entry] = []
    by_size: tuple[Entry, ...] | None = None
    at = 0
    while True:
        if at >= cd_size and by_size is None:
            by_size = tuple(by_count)
        if len(by_count) >= count and by_size is not None:
            break
        head = data[at:at + 46]
        if len(head) < 46 or not head.startswith(_CENTRAL):
            break
        flags, method = struct.unpack("<2H", head[8:12])
        compressed, plain = struct.unpack("<2L", head[20:28])
        n, m, k = struct.unpack("<3H", head[28:34])
        (local,) = struct.unpack("<L", head[42:46])
        name = data[at + 46:at + 46 + n].decode("utf-8" if flags & 0x800 else "cp437", errors="replace")
        plain, compressed, local = _zip64_extra(data[at + 46 + n:at + 46 + n + m], plain, compressed, local)
        by_count.append(Entry(name, local + shift, compressed, plain, method, flags))
        at += 46 + n + m + k
    out = [tuple(by_count[:count])] if len(by_count) >= count else []
    if by_size is not None and by_size not in out:
        out.append(by_size)
    return out


def _zip64_extra(extra: bytes, plain: int, compressed: int, local: int) -> tuple[int, int, int]:
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack("<2H", extra[at:at + 4])
        if kind == 1:
            values = extra[at + 4:at + 4 + length]
            fields = []
            for current in (plain, compressed, local):
                if current == 0xFFFFFFFF and len(values) >= 8:
                    (current,) = struct.unpack("<Q", values[:8])
                    values = values[8:]
                fields.append(current)
            return fields[0], fields[1], fields[2]
        at += 4 + length
    return plain, compressed, local


def open_member(f: IO[bytes], size: int, entry: Entry) -> tuple[IO[bytes], str | None]:
    """A stream of `entry`'s content (stored or deflated) and, when the local header names it
    otherwise, that name (Python's zipfile refuses such a member; torch's reader reads it).

    Raises:
        Unreadable: no local header there, encryption, or a compression the scanner does not read.
    """
    if not 0 <= entry.offset <= size - 30:
        raise Unreadable(f"{entry.name}: its local header offset {entry.offset} is outside the file")
    f.seek(entry.offset)
    head = f.read(30)
    if not head.startswith(_LOCAL):
        raise Unreadable(f"{entry.name}: no local header at offset {entry.offset}")
    n, m = struct.unpack("<2H", head[26:30])
    local_name = f.read(n).decode("utf-8" if entry.flags & 0x800 else "cp437", errors="replace")
    start = entry.offset + 30 + n + m
    if entry.flags & 0x1:
        raise Unreadable(f"{entry.name}: encrypted")
    if start + entry.compressed > size:
        raise Unreadable(f"{entry.name}: its data runs past the end of the file")
    window = _Window(f, start, entry.compressed)
    other = local_name if local_name != entry.name else None
    if entry.method == 0:
        return cast(IO[bytes], window), other
    if entry.method == 8:
        return cast(IO[bytes], _Inflating(window)), other
    raise Unreadable(f"{entry.name}: compression method {entry.method}, which the scanner does not read")


class _Window(io.RawIOBase):
    """`length` bytes of `f` from `start`, seekable."""

    def __init__(self, f: IO[bytes], start: int, length: int) -> None:
        self._f, self._start, self._length, self._pos = f, start, length, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = max(0, pos if whence == 0 else self._pos + pos if whence == 1 else self._length + pos)
        return self._pos

    def read(self, n: int | None = -1) -> bytes:
        left = self._length - self._pos
        n = left if n is None or n < 0 else min(n, left)
        if n <= 0:
            return b""
        self._f.seek(self._start + self._pos)
        data = self._f.read(n)
        self._pos += len(data)
        return data

    def readline(self, limit: int | None = -1) -> bytes:
        want = limit if limit is not None and limit >= 0 else 1 << 16
        line = b""
        while len(line) < want:
            chunk = self.read(min(4096, want - len(line)))
            if not chunk:
                break
            cut = chunk.find(b"\n")
            if cut >= 0:
                self._pos -= len(chunk) - cut - 1
                return line + chunk[:cut + 1]
            line += chunk
        return line


class _Inflating(io.RawIOBase):
    """A raw-deflate member, inflated as it is read (not seekable)."""

    def __init__(self, raw: _Window) -> None:
        self._raw, self._z, self._buf = raw, zlib.decompressobj(-15), b""

    def readable(self) -> bool:
        return True

    def _fill(self, n: int) -> None:
        while len(self._buf) < n and not self._z.eof:
            chunk = self._raw.read(1 << 20)
            if not chunk:
                break
            try:
                self._buf += self._z.decompress(chunk)
            except zlib.error as e:
                raise Unreadable(f"a bad deflate stream ({e})") from None

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            self._fill(1 << 62)
            n = len(self._buf)
        else:
            self._fill(n)
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def readline(self, limit: int | None = -1) -> bytes:
        want = limit if limit is not None and limit >= 0 else 1 << 16
        self._fill(want)
        cut = self._buf.find(b"\n", 0, want)
        return self.read(cut + 1 if cut >= 0 else want)
