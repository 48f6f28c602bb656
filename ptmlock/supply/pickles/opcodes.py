"""Decode pickle opcodes the way CPython's C unpickler (`_pickle.c`) reads them, not as `pickletools` does.

`pickletools.genops` is stricter than the loader in places, and a scanner that rejects what the
loader accepts fails open (issue 23): the C unpickler reads `INT` with `strtol(s, &end, 0)` then
`int(s, 0)` (so `0x10`, `017`, `+5`, ` 7` and `12\\0junk` are integers), `LONG` with `int(s, 0)`
after a trailing `L`, `FLOAT` up to a NUL, `GET`/`PUT` in base 10; it needs no `PROTO` header and
accepts protocol 0-5 opcodes in any order. Binary arguments are read with pickletools' own
readers (their formats are fixed). Every error raised here is one the C unpickler raises too
(`Unreadable(limit=False)`), except the scanner's own bounds (`limit=True`).
"""
from __future__ import annotations

import pickle
import pickletools
import re
from collections.abc import Iterator
from typing import IO, Protocol, cast

MAX_LINE = 1 << 16  # a protocol-0 argument line longer than this is not read (inconclusive)
_STRTOL = re.compile(rb"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_INT64 = 1 << 63
CODES = {op.code.encode("latin-1")[0]: op for op in pickletools.opcodes}


class Unreadable(Exception):
    """The stream is not a pickle the scanner understood to its end (inconclusive).

    `limit`: the scanner's own bound stopped it (an argument line over `MAX_LINE`), where the
    unpickler would have read on.
    """

    def __init__(self, message: str, *, limit: bool = False) -> None:
        super().__init__(message)
        self.limit = limit


class Source(Protocol):
    def read(self, n: int = -1) -> bytes: ...

    def readline(self) -> bytes: ...


def decode(stream: Source) -> Iterator[tuple[pickletools.OpcodeInfo, object]]:
    """Yield (opcode, argument) until a STOP (included) or the end of the stream.

    Raises:
        Unreadable: an unknown opcode or an argument the C unpickler rejects.
    """
    while True:
        code = stream.read(1)
        if not code:
            return
        op = CODES.get(code[0])
        if op is None:
            raise Unreadable(f"invalid load key {code!r} (not an opcode)")
        yield op, _argument(op, stream)
        if op.name == "STOP":
            return


def _line(stream: Source) -> bytes:
    line = stream.readline()
    if not line.endswith(b"\n"):
        raise Unreadable("pickle data was truncated (an unterminated argument line)")
    return line


def _argument(op: pickletools.OpcodeInfo, stream: Source) -> object:
    name = op.name
    if op.arg is None:
        return None
    if name == "INT":
        return c_int(_line(stream))
    if name == "LONG":
        line = _line(stream)[:-1]
        return _int0(line[:-1] if line.endswith(b"L") else line, "LONG")
    if name == "FLOAT":
        text = _line(stream)[:-1].split(b"\0", 1)[0]
        try:
            return float(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise Unreadable("could not convert string to float") from None
    if name in ("GET", "PUT"):
        try:
            return int(_line(stream).split(b"\0", 1)[0].decode("ascii"), 10)
        except (UnicodeDecodeError, ValueError):
            raise Unreadable(f"a {name} key that is not a decimal integer") from None
    if name in ("GLOBAL", "INST"):
        module, qualname = _line(stream)[:-1], _line(stream)[:-1]
        try:
            return f"{module.decode('utf-8')} {qualname.decode('utf-8')}"
        except UnicodeDecodeError:
            raise Unreadable(f"a {name} name that is not UTF-8") from None
    if name == "PROTO":
        proto = stream.read(1)
        if not proto:
            raise Unreadable("pickle data was truncated")
        if proto[0] > pickle.HIGHEST_PROTOCOL:
            raise Unreadable(f"unsupported pickle protocol: {proto[0]}")
        return proto[0]
    try:
        return op.arg.reader(cast(IO[bytes], stream))
    except Unreadable:
        raise
    except (ValueError, UnicodeDecodeError) as e:
        raise Unreadable(f"{name}: {e}") from None


def c_int(line: bytes) -> int | bool:
    """The value of an `INT` argument line (newline included), as `_pickle.c`'s `load_int` reads it."""
    if len(line) < 2:
        raise Unreadable("pickle data was truncated (an empty INT line)")
    m = _STRTOL.match(line)
    if m and line[m.end():m.end() + 1] in (b"\n", b"\0"):
        digits = m.group(2)
        base = 16 if digits[:2].lower() == b"0x" else 8 if len(digits) > 1 and digits[:1] == b"0" else 10
        value = int(digits[2:] if base == 16 else digits, base) * (-1 if m.group(1) == b"-" else 1)
        if -_INT64 <= value < _INT64:
            return bool(value) if len(line) == 3 and value in (0, 1) else value
    return _int0(line, "INT")


def _int0(text: bytes, what: str) -> int:
    # PyLong_FromString(s, NULL, 0): base prefixes, underscores, surrounding whitespace, up to a NUL
    try:
        return int(text.split(b"\0", 1)[0].decode("ascii"), 0)
    except (UnicodeDecodeError, ValueError):
        raise Unreadable(f"could not convert the {what} argument {text[:40]!r} to int") from None
