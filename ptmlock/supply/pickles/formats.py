"""Decide a file's format the way the loaders do, then read every pickle stream in it.

The format comes from the first bytes, as the loaders decide it (`torch.load`: a zip local
header at offset 0, else tar, else pickles; `np.load`: either zip magic, the `.npy` magic, else
a pickle; `joblib.load`: its compressor magics), never from the name or the end of the file
(issue 12). Then:

- zip (torch's format, `.npz`): every entry of every central directory a loader could read
  (`zips`), whatever its name; torch's raw storages only when numpy could read them (`.npy` magic);
- tar (torch's pre-0.4 format): every member;
- torch's legacy format (a pickle of the magic number, then four more pickles, then raw
  storage bytes): all five pickles;
- a plain pickle (`pickle.load`, `joblib.load`): one stream, followed where joblib reads
  array bytes from it (`arrays.joblib_array`), then the end of the file;
- gzip, bz2, xz, lzma (any dictionary size), zlib and joblib's old "ZF" container: inflated, then
  read as above;
- numpy `.npy` with a dtype holding objects (its data is a pickle).

Anything not read to its end is a reason for an `inconclusive` verdict (fail closed); "data"
only when every loader would refuse the bytes before importing anything.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import tarfile
import zlib
from dataclasses import dataclass, field
from typing import IO, cast

from ptmlock.supply.pickles.arrays import NPY_MAGIC, descr_has_objects, joblib_array, npy_header
from ptmlock.supply.pickles.machine import Bounded, Stream, Unreadable, read_pickle
from ptmlock.supply.pickles.opcodes import CODES
from ptmlock.supply.pickles.others import GGUF_MAGIC, HDF5_MAGIC, gguf_flags, hdf5_flags, keras_config_flags
from ptmlock.supply.pickles.zips import EOCD, directories, open_member

TORCH_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER, the legacy format's first pickle
MAX_INFLATED = 1 << 30  # a compressed stream or nested archive inflates to at most this (else inconclusive)
MAX_DEPTH = 4  # archives inside compressed streams inside archives...
MAX_CONFIG = 1 << 26  # a Keras config.json is read up to this size
PICKLE_NAMES = (".pkl", ".pickle", ".joblib", ".bin", ".pt", ".pth", ".ckpt", ".tar", ".dat", ".data", ".npy",
                ".gz", ".bz2", ".xz", ".lzma", ".z", ".zlib", ".sav", ".model")
# torch zip members that are raw bytes torch never unpickles: storages and version records
_RAW_MEMBER = re.compile(r"(^|/)(data/\d+|version|byteorder|\.format_version|\.storage_alignment|serialization_id)$")
_IDENTIFIER_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_COMPRESSED: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"\x5d\x00", "lzma"), (b"ZF", "joblib-zfile"),
)
_UNSUPPORTED: tuple[tuple[bytes, str], ...] = ((b"\x04\x22\x4d\x18", "lz4"), (b"\x28\xb5\x2f\xfd", "zstd"))
_ZFILE_HEADER = 2 + 19  # joblib < 0.9.3: "ZF", the length in hex padded to 19 characters, zlib data


@dataclass
class Findings:
    """What the scan of one file collected, as it went."""

    formats: list[str] = field(default_factory=list)
    globals: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)  # the pickle streams read
    reasons: list[str] = field(default_factory=list)  # why the verdict is inconclusive
    calls: int = 0  # call opcodes met in the pickles read
    complete: int = 0  # pickle streams read to their STOP
    flags: list[tuple[str, str]] = field(default_factory=list)  # (finding code, message): beyond pickles

    def flag(self, where: str, found: list[tuple[str, str]]) -> None:
        self.flags += [(code, f"{where}: {message}") for code, message in found]

    def fail(self, where: str, why: object) -> None:
        self.reasons.append(f"{where}: {why}")


def sniff(head: bytes) -> str:
    """The format the loaders would take `head` (a file's first 512 bytes or more) for: "zip",
    "tar", "npy", a compression name, "unsupported:<name>", "pickle", "pickle?" (no protocol
    header: decided by reading it) or "data"."""
    if head.startswith((b"PK\x03\x04", EOCD)):
        return "zip"  # np.load takes both magics; torch the first
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    if head.startswith(GGUF_MAGIC):
        return "gguf"
    for magic, kind in _COMPRESSED:
        if head.startswith(magic):
            return kind
    if len(head) >= 2 and head[0] == 0x78 and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"  # joblib tries zlib on any 0x78; only a valid header inflates
    for magic, kind in _UNSUPPORTED:
        if head.startswith(magic):
            return f"unsupported:{kind}"
    if _is_tar_header(head):
        return "tar"
    if len(head) >= 2 and head[0] == 0x80 and head[1] <= 5:
        return "pickle"
    if head and head[0] in CODES:
        # the unpickler needs no PROTO header: any opcode starts a pickle; text or raw weights
        # start with opcode bytes too, so `scan_stream` reads it and keeps it only if it is one
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
    """Scan `size` bytes of `f` (at its start) into `out`; never raises (a failure is a reason)."""
    if depth > MAX_DEPTH:
        out.fail(label, f"nested more than {MAX_DEPTH} levels deep")
        return
    kind = "data"
    try:
        head = f.read(512)
        f = cast(IO[bytes], _Rewound(head, f))
        kind = sniff(head)
        if kind != "pickle?":
            out.formats.append(kind)  # a maybe-pickle says what it turned out to be
        if kind == "pickle?":
            _scan_maybe_pickle(f, size, label, out, named=(name or label).lower().endswith(PICKLE_NAMES))
        elif kind == "pickle":
            _scan_pickles(f, size, label, out)
        elif kind == "zip":
            _scan_zip(_seekable(f, size), size, label, out, depth)
        elif kind == "tar":
            seekable = _seekable(f, size)
            _scan_tar(seekable, label, out, depth)
            if head[0] in CODES:
                # a tar whose first member's name may be a pickle: tar to torch.load, pickle to pickle.load
                seekable.seek(0)
                _scan_maybe_pickle(seekable, size, f"{label} (read as a pickle)", out, named=True)
        elif kind == "npy":
            _scan_npy(f, size, label, out)
        elif kind == "hdf5":
            out.flag(label, hdf5_flags(f))
        elif kind == "gguf":
            out.flag(label, gguf_flags(f))
        elif kind.startswith("unsupported:"):
            out.fail(label, f"{kind.split(':')[1]}-compressed, which the scanner does not read")
        elif kind != "data":
            inflated = _inflate(kind, f)
            scan_stream(inflated, len(inflated.getbuffer()), f"{label} ({kind})", out, depth=depth + 1,
                        name=name or label)
    except Unreadable as e:
        out.fail(label, e)
    except (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error, ValueError, UnicodeError) as e:
        out.fail(label, f"unreadable {kind} ({type(e).__name__}: {e})")
    except Exception as e:  # noqa: BLE001 -- a scanner failure is this file's inconclusive finding, never a crash
        out.fail(label, f"the scanner failed on this {kind} ({type(e).__name__}: {e})")


def _scan_maybe_pickle(f: IO[bytes], size: int, label: str, out: Findings, *, named: bool = False) -> None:
    # No protocol header. The stream counts as a pickle when it reads to its end as one; when
    # the scanner's own bound stopped it; when it broke after importing something (importing runs
    # module code) under a name loaders unpickle (`named`); or after an opcode that calls an import
    # (a payload that already ran) under any name. Otherwise the unpickler itself would have
    # refused it before anything ran: data (issue 12: fail closed, without calling every text
    # file or raw weight blob inconclusive). A stream read to its STOP is a pickle whatever follows.
    trial = Findings()
    try:
        _scan_pickles(f, size, label, trial)
    except Unreadable as e:
        if not e.limit and not trial.complete and not (trial.globals and (named or trial.calls)):
            out.formats.append("data")
            return
        trial.fail(label, e)
    out.formats.append("pickle")
    out.globals += trial.globals
    out.members += trial.members
    out.reasons += trial.reasons


def _scan_pickles(f: IO[bytes], size: int, label: str, out: Findings) -> None:
    start = _tell(f)
    stream = Bounded(f, size)
    first = Stream(globals=out.globals)
    out.members.append(label)
    try:
        read_pickle(stream, first, joblib=joblib_array)
    finally:
        out.calls += first.calls
    out.complete += 1
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
    if first.arrays:
        _plain_reading(f, start, size, label, out)


def _plain_reading(f: IO[bytes], start: int | None, size: int, label: str, out: Findings) -> None:
    # joblib read raw array bytes from the stream; pickle.load and torch.load read the same bytes
    # as opcodes: whatever they would import before failing counts too
    if start is None:
        out.fail(label, "joblib arrays in a stream the scanner cannot read a second time as a plain pickle")
        return
    f.seek(start)
    plain = Stream()
    try:
        read_pickle(Bounded(f, size), plain)
    except Unreadable as e:
        if e.limit:
            out.fail(f"{label} (read as a plain pickle)", e)
    out.globals += [g for g in plain.globals if _IDENTIFIER_PATH.fullmatch(g.replace(":", "."))]


def _tell(f: IO[bytes]) -> int | None:
    rewound = cast(object, f)
    if isinstance(rewound, _Rewound):
        return 0 if rewound.inner_seekable() else None
    try:
        return f.tell() if f.seekable() else None
    except (AttributeError, OSError, ValueError):
        return None


def _scan_zip(f: IO[bytes], size: int, label: str, out: Findings, depth: int) -> None:
    listings = directories(f, size)
    if len(listings) > 1:
        out.fail(label, f"zip readers could disagree: {len(listings)} different central directories "
                        "(torch's reader and Python's zipfile locate entries differently); all are scanned")
    seen: set[tuple[str, int]] = set()
    for listing in listings:
        for entry in listing:
            if (entry.name, entry.offset) in seen:
                continue
            seen.add((entry.name, entry.offset))
            where = f"{label}:{entry.name}"
            try:
                member, other = open_member(f, size, entry)
                if other is not None:
                    out.fail(where, f"its local header names it {other!r} (Python's zipfile refuses it, torch "
                                    "reads it)")
                if entry.size > MAX_INFLATED:
                    raise Unreadable(f"a member of {entry.size} bytes")
                if _RAW_MEMBER.search(entry.name):
                    head = member.read(len(NPY_MAGIC))
                    if head != NPY_MAGIC:
                        continue  # raw bytes to torch; bytes, not an array, to np.load
                    member = cast(IO[bytes], _Rewound(head, member))
                if entry.name.rsplit("/", 1)[-1] == "config.json":  # Keras v3 .keras: the model's layers
                    out.flag(where, keras_config_flags(member.read(MAX_CONFIG)))
                    continue
                if entry.name.lower().endswith((".pkl", ".pickle")):
                    out.formats.append("pickle")
                    _scan_pickles(member, entry.size, where, out)
                else:
                    scan_stream(member, entry.size, where, out, depth=depth + 1, name=entry.name)
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
    header, length = npy_header(f)
    if descr_has_objects(header["descr"]):
        # np.save pickles object arrays; np.load(allow_pickle=True) unpickles them
        out.formats.append("pickle")
        _scan_pickles(f, size - length, f"{label} (object array)", out)


def _open_compressed(kind: str, f: IO[bytes]) -> IO[bytes]:
    if kind == "gzip":
        return cast(IO[bytes], gzip.GzipFile(fileobj=f))
    if kind == "bz2":
        return cast(IO[bytes], bz2.BZ2File(f))
    return cast(IO[bytes], lzma.LZMAFile(f, format=lzma.FORMAT_XZ if kind == "xz" else lzma.FORMAT_ALONE))


def _inflate(kind: str, f: IO[bytes]) -> io.BytesIO:
    out = io.BytesIO()
    if kind in ("zlib", "joblib-zfile"):
        if kind == "joblib-zfile":
            header = f.read(_ZFILE_HEADER)
            try:
                int(header[2:].decode("ascii"), 16)
            except (UnicodeDecodeError, ValueError):
                raise Unreadable("a joblib 'ZF' container without its length") from None
        z = zlib.decompressobj()
        while chunk := f.read(1 << 20):
            out.write(z.decompress(chunk, MAX_INFLATED + 1 - out.tell()))
            _cap(out)
            if z.eof:
                break
        if not z.eof:
            raise Unreadable(f"a truncated {kind} stream")
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


def _seekable(f: IO[bytes], size: int) -> IO[bytes]:
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
        self._base = f.tell() - len(head) if self.inner_seekable() else 0

    def inner_seekable(self) -> bool:
        try:
            return bool(self._f.seekable())
        except (AttributeError, ValueError, OSError):
            return False

    def inner(self) -> IO[bytes]:
        self._f.seek(self._base)
        self._head = b""
        return self._f

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self.inner_seekable()

    def tell(self) -> int:
        return int(self._f.tell()) - self._base - len(self._head)

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence != 0:
            raise OSError("only absolute seeks")
        self._head = b""
        return self._f.seek(self._base + pos) - self._base

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
