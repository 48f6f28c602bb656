"""Decide a file's format the way the loaders do, then read every pickle stream in it.

The format comes from the first bytes, as `torch.load` decides it (`torch/serialization.py`:
`_is_zipfile` looks for a zip local header at offset 0, `_legacy_load` tries `tarfile` and
then reads pickles), never from the name or the end of the file (issue 12: `zipfile.is_zipfile`
looks at the end, so a pickle with a zip appended passed). Then:

- zip (torch's format, `.npz`, zip-compressed pickles): every member but torch's raw storages and
  version records; a member is a pickle by its name (`.pkl`, `.pickle`) or its first bytes;
- tar (torch's pre-0.4 format): every member;
- torch's legacy format (a pickle of the magic number, then four more pickles, then raw
  storage bytes): all five pickles;
- a plain pickle (`pickle.load`, `joblib.load`): exactly one stream, then the end of the file;
- gzip, bz2, xz, lzma and zlib (joblib's compressors): inflated, then read as above;
- numpy `.npy` with an object dtype (its data is a pickle).

Anything not read to its end is a reason for an `inconclusive` verdict (fail closed).
"""
from __future__ import annotations

import ast
import bz2
import gzip
import io
import lzma
import re
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import IO, cast

from ptmlock.supply.pickles.machine import Bounded, Stream, Unreadable, read_pickle

TORCH_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER, the legacy format's first pickle
MAX_INFLATED = 1 << 30  # a compressed stream or nested archive inflates to at most this (else inconclusive)
MAX_DEPTH = 4  # archives inside compressed streams inside archives...
PICKLE_NAMES = (".pkl", ".pickle", ".joblib", ".bin", ".pt", ".pth", ".ckpt", ".tar", ".dat", ".data", ".npy",
                ".gz", ".bz2", ".xz", ".lzma", ".z", ".zlib", ".sav", ".model")
_PROTOCOL0_FIRST = frozenset(ord(op.code) for op in __import__("pickletools").opcodes if op.proto <= 1)
# torch zip members that are raw bytes no loader unpickles: storages and version records
_RAW_MEMBER = re.compile(r"(^|/)(data/\d+|version|byteorder|\.format_version|\.storage_alignment|serialization_id)$")
_COMPRESSED: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"\x5d\x00\x00", "lzma"),
    (b"\x78\x01", "zlib"), (b"\x78\x5e", "zlib"), (b"\x78\x9c", "zlib"), (b"\x78\xda", "zlib"),
)
_UNSUPPORTED: tuple[tuple[bytes, str], ...] = ((b"\x04\x22\x4d\x18", "lz4"), (b"\x28\xb5\x2f\xfd", "zstd"))


@dataclass
class Findings:
    """What the scan of one file collected, as it went."""

    formats: list[str] = field(default_factory=list)
    globals: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)  # the pickle streams read
    reasons: list[str] = field(default_factory=list)  # why the verdict is inconclusive
    calls: int = 0  # call opcodes met in the pickles read

    def fail(self, where: str, why: object) -> None:
        self.reasons.append(f"{where}: {why}")


def sniff(head: bytes) -> str:
    """The format the loaders would take `head` (a file's first 512 bytes or more) for: "zip",
    "tar", "npy", a compression name, "unsupported:<name>", "pickle", "pickle?" (protocol 0/1:
    decided by reading it) or "data"."""
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    for magic, kind in _COMPRESSED:
        if head.startswith(magic):
            return kind
    for magic, kind in _UNSUPPORTED:
        if head.startswith(magic):
            return f"unsupported:{kind}"
    if _is_tar_header(head):
        return "tar"
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 5:
        return "pickle"
    if head and head[0] in _PROTOCOL0_FIRST:
        # protocol 0/1 has no header, and text or raw weights (GGML's "lmgg") start with opcode
        # letters too: `scan_stream` reads it and keeps it only if it is a pickle
        return "pickle?"
    return "data"


def _is_tar_header(head: bytes) -> bool:
    if len(head) < 512:
        return False
    try:
        tarfile.TarInfo.frombuf(head[:512], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def scan_stream(f: IO[bytes], size: int, label: str, out: Findings, *, depth: int = 0, name: str = "") -> None:
    """Scan `size` bytes of `f` (at its start; seekable unless it is a plain pickle) into `out`."""
    if depth > MAX_DEPTH:
        out.fail(label, f"nested more than {MAX_DEPTH} levels deep")
        return
    head = f.read(512)
    f = cast(IO[bytes], _Rewound(head, f))
    kind = sniff(head)
    if kind != "pickle?":
        out.formats.append(kind)  # a maybe-pickle says what it turned out to be
    try:
        if kind == "pickle?":
            _scan_maybe_pickle(f, size, label, out, named=(name or label).lower().endswith(PICKLE_NAMES))
        elif kind == "pickle":
            _scan_pickles(f, size, label, out)
        elif kind == "zip":
            _scan_zip(_seekable(f, size, label), label, out, depth)
        elif kind == "tar":
            seekable = _seekable(f, size, label)
            _scan_tar(seekable, label, out, depth)
            if head[0] == 0x80 or head[0] in _PROTOCOL0_FIRST:
                # a tar whose first member's name may be a pickle: tar to torch.load, pickle to pickle.load
                seekable.seek(0)
                _scan_maybe_pickle(seekable, size, f"{label} (read as a pickle)", out, named=True)
        elif kind == "npy":
            _scan_npy(f, size, label, out)
        elif kind.startswith("unsupported:"):
            out.fail(label, f"{kind.split(':')[1]}-compressed, which the scanner does not read")
        elif kind != "data":
            inflated = _inflate(kind, f)
            scan_stream(inflated, len(inflated.getbuffer()), f"{label} ({kind})", out, depth=depth + 1,
                        name=name or label)
    except Unreadable as e:
        out.fail(label, e)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error,
            NotImplementedError, RuntimeError, ValueError, UnicodeError) as e:
        out.fail(label, f"unreadable {kind} ({type(e).__name__}: {e})")


def _scan_maybe_pickle(f: IO[bytes], size: int, label: str, out: Findings, *, named: bool = False) -> None:
    # Protocol 0/1 has no header. The stream counts as a pickle when it reads to its end as one;
    # when the scanner's own line bound stopped it; when it broke after importing something
    # (importing runs module code) under a name loaders unpickle (`named`); or after an opcode
    # that calls an import (a payload that already ran) under any name. Otherwise no loader ran
    # anything: data (issue 12: fail closed, without calling every text file or raw weight blob
    # inconclusive).
    trial = Findings()
    try:
        _scan_pickles(f, size, label, trial)
    except Unreadable as e:
        if not e.limit and not (trial.globals and (named or trial.calls)):
            out.formats.append("data")
            return
        trial.fail(label, e)
    out.formats.append("pickle")
    out.globals += trial.globals
    out.members += trial.members
    out.reasons += trial.reasons


def _scan_pickles(f: IO[bytes], size: int, label: str, out: Findings) -> None:
    stream = Bounded(f, size)
    first = Stream(globals=out.globals)
    out.members.append(label)
    try:
        read_pickle(stream, first)
    finally:
        out.calls += first.calls
    if first.value == TORCH_MAGIC:
        # torch's legacy format: magic, protocol version, sys info, the object, storage keys;
        # torch.load reads all five, then raw storage bytes it never unpickles
        for n in range(2, 6):
            if stream.at_end():
                raise Unreadable(f"torch's legacy format ends after {n - 1} of its 5 pickles")
            read_pickle(stream, Stream(globals=out.globals))
        return
    if not stream.at_end():
        raise Unreadable("bytes after the pickle's STOP (a second stream, or data appended to it)")


def _scan_zip(f: IO[bytes], label: str, out: Findings, depth: int) -> None:
    with zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
        if not infos:
            raise Unreadable("an empty zip archive")
        for info in infos:  # duplicates included: every local entry the directory lists
            if info.is_dir() or _RAW_MEMBER.search(info.filename):
                continue
            where = f"{label}:{info.filename}"
            try:
                with zf.open(info) as member:
                    if info.filename.lower().endswith((".pkl", ".pickle")):
                        out.formats.append("pickle")
                        _scan_pickles(member, info.file_size, where, out)
                    else:
                        scan_stream(member, info.file_size, where, out, depth=depth + 1, name=info.filename)
            except Unreadable as e:
                out.fail(where, e)


def _scan_tar(f: IO[bytes], label: str, out: Findings, depth: int) -> None:
    with tarfile.open(fileobj=f, mode="r:") as tf:
        for member in tf.getmembers():
            if not member.isfile():
                continue
            where = f"{label}:{member.name}"
            payload = tf.extractfile(member)
            if payload is None:
                continue
            # torch's old tar members (sys_info, pickle, storages, tensors) are all read by
            # pickle.load; `storages` and `tensors` interleave raw bytes, which read as inconclusive
            scan_stream(payload, member.size, where, out, depth=depth + 1, name=member.name + ".pkl")


def _scan_npy(f: IO[bytes], size: int, label: str, out: Findings) -> None:
    magic = f.read(8)
    major = magic[6]
    width = 2 if major == 1 else 4
    length = int.from_bytes(f.read(width), "little")
    if major not in (1, 2, 3) or length > 1 << 20:
        raise Unreadable(f"an .npy header numpy does not read (version {major}, {length} bytes)")
    header = ast.literal_eval(f.read(length).decode("latin1" if major < 3 else "utf-8"))
    if not isinstance(header, dict) or "descr" not in header:
        raise Unreadable("an .npy header without a dtype")
    if _has_objects(header["descr"]):
        # np.save pickles object arrays; np.load(allow_pickle=True) unpickles them
        out.formats.append("pickle")
        _scan_pickles(f, size - 8 - width - length, f"{label} (object array)", out)


def _has_objects(descr: object) -> bool:
    if isinstance(descr, str):
        return descr.lstrip("<>|=").startswith("O")
    if isinstance(descr, (list, tuple)):
        return any(_has_objects(part) for part in descr)
    raise Unreadable(f"an .npy dtype the scanner does not read ({descr!r})")


def _open_compressed(kind: str, f: IO[bytes]) -> IO[bytes]:
    if kind == "gzip":
        return cast(IO[bytes], gzip.GzipFile(fileobj=f))
    if kind == "bz2":
        return cast(IO[bytes], bz2.BZ2File(f))
    return cast(IO[bytes], lzma.LZMAFile(f, format=lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE))


def _inflate(kind: str, f: IO[bytes]) -> io.BytesIO:
    out = io.BytesIO()
    if kind == "zlib":
        z = zlib.decompressobj()
        while chunk := f.read(1 << 20):
            out.write(z.decompress(chunk, MAX_INFLATED + 1 - out.tell()))
            _cap(out)
        if not z.eof:
            raise Unreadable("a truncated zlib stream")
    else:
        with _open_compressed(kind, f) as stream:
            while chunk := stream.read(1 << 20):
                out.write(chunk)
                _cap(out)
    out.seek(0)
    return out


def _cap(buf: io.BytesIO) -> None:
    if buf.tell() > MAX_INFLATED:
        raise Unreadable(f"inflates past {MAX_INFLATED} bytes")


def _seekable(f: IO[bytes], size: int, label: str) -> IO[bytes]:
    rewound = cast(object, f)
    if isinstance(rewound, _Rewound) and rewound.inner_seekable():
        return rewound.inner()
    if size > MAX_INFLATED:
        raise Unreadable(f"a nested archive over {MAX_INFLATED} bytes")
    return io.BytesIO(f.read(size))


class _Rewound(io.RawIOBase):
    """`f` with its already-read head put back in front."""

    def __init__(self, head: bytes, f: IO[bytes]) -> None:
        self._head = head
        self._f = f

    def inner_seekable(self) -> bool:
        try:
            return self._f.seekable()
        except (AttributeError, ValueError):
            return False

    def inner(self) -> IO[bytes]:
        self._f.seek(self._f.tell() - len(self._head))
        self._head = b""
        return self._f

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            head, self._head = self._head, b""
            return head + self._f.read()
        if self._head:
            head, self._head = self._head[:n], self._head[n:]
            if len(head) < n:
                head += self._f.read(n - len(head))
            return head
        return self._f.read(n)

    def readline(self, limit: int | None = -1) -> bytes:
        if self._head:
            cut = self._head.find(b"\n")
            stop = cut + 1 if cut >= 0 else len(self._head)
            if limit is not None and limit >= 0:
                stop = min(stop, limit)
            head, self._head = self._head[:stop], self._head[stop:]
            if head.endswith(b"\n") or (limit is not None and 0 <= limit <= len(head)):
                return head
            return head + self._f.readline(-1 if limit is None or limit < 0 else limit - len(head))
        return self._f.readline(-1 if limit is None else limit)
