"""Read one pickle stream opcode by opcode the way `pickle.Unpickler` would, without running it.

`pickletools.genops` decodes the opcodes and their arguments; this module keeps the machine's
stack, marks and memo (`PUT`/`BINPUT`/`LONG_BINPUT`/`MEMOIZE`, `GET`/`BINGET`/`LONG_BINGET`) with
the literal values it can know (strings, numbers, `None`, booleans), so a `STACK_GLOBAL`'s
operands are the values the unpickler would pop, wherever they were memoised (issue 12: the old
scanner looked at adjacent opcodes). Everything the stream imports (`GLOBAL`, `INST`,
`STACK_GLOBAL`, `EXT*`) is recorded as it is met, so a stream that breaks half-way still
reports what came before the break: the unpickler would have imported those already.
"""
from __future__ import annotations

import copyreg
import pickletools
from dataclasses import dataclass, field
from typing import IO, cast

from ptmlock.supply.pickles.allowlist import DYNAMIC, display, qualified

MAX_LINE = 1 << 16  # a protocol-0 argument line longer than this is not read (inconclusive)


class Unreadable(Exception):
    """The stream is not a pickle the scanner understood to its end (inconclusive).

    `limit`: the scanner's own bound stopped it (an argument line over `MAX_LINE`), where the
    unpickler would have read on.
    """

    def __init__(self, message: str, *, limit: bool = False) -> None:
        super().__init__(message)
        self.limit = limit


class Bounded:
    """A read-only view that refuses reads past the stream's known size (`limit`), so a forged
    length field (BINBYTES8 of 2**62) fails fast instead of allocating, and lines stay short."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self._stream = stream
        self.left = limit
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self.left:
            raise Unreadable(f"a read of {n} bytes at offset {self.pos} runs past the end of the stream "
                             f"({max(self.left, 0)} left)")
        data = self._stream.read(n)
        self.left -= len(data)
        self.pos += len(data)
        return data

    def readline(self) -> bytes:
        line = self._stream.readline(min(MAX_LINE, max(self.left, 0)))
        self.left -= len(line)
        self.pos += len(line)
        if not line.endswith(b"\n"):
            if len(line) >= MAX_LINE:
                raise Unreadable(f"an argument line longer than {MAX_LINE} bytes", limit=True)
            raise Unreadable("an unterminated argument line")
        return line

    def at_end(self) -> bool:
        """True when no byte is left (reads one byte to know, for streams of unknown size)."""
        if self.left <= 0:
            return True
        probe = self._stream.read(1)
        if not probe:
            return True
        self._stream = cast(IO[bytes], _Prefixed(probe, self._stream))
        return False

    def tell(self) -> int:
        return self.pos


class _Prefixed:
    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def read(self, n: int = -1) -> bytes:
        head, self._head = self._head, b""
        if n < 0:
            return head + self._rest.read()
        return head + self._rest.read(n - len(head)) if n > len(head) else head

    def readline(self, limit: int = -1) -> bytes:
        head, self._head = self._head, b""
        if head == b"\n" or limit == 1:
            return head
        return head + self._rest.readline(limit - 1 if limit > 0 else -1)


class _Mark:
    pass


_MARK = _Mark()
_OPAQUE = object()
_LITERALS = frozenset({
    "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8",
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
})
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}
_PUT = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_CALLS = frozenset({"REDUCE", "BUILD", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX"})
_GET = frozenset({"GET", "BINGET", "LONG_BINGET"})


@dataclass
class Stream:
    """What one pickle imported (`globals`, in order met) and the value it returns when known."""

    globals: list[str] = field(default_factory=list)
    value: object = _OPAQUE
    proto: int = 0
    calls: int = 0  # opcodes that call what was imported (REDUCE, BUILD, INST, OBJ, NEWOBJ...)


def read_pickle(stream: Bounded, out: Stream) -> None:
    """Walk one pickle to its STOP, filling `out` as it goes.

    Raises:
        Unreadable: an unknown opcode, a truncated or oversized argument, a stack or memo the
            unpickler would reject, or no STOP.
    """
    m = _Machine()
    stack, memo, pop, pop_mark, top = m.stack, m.memo, m.pop, m.pop_mark, m.top
    try:
        for op, arg, _pos in pickletools.genops(cast(IO[bytes], stream)):
            name = op.name
            if name in _CALLS:
                out.calls += 1
            if name == "PROTO":
                out.proto = cast(int, arg)
                continue
            if name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                out.globals.append(display(*qualified(module, attr, out.proto)))
                if name == "INST":
                    pop_mark()
                stack.append(_OPAQUE)
            elif name == "STACK_GLOBAL":
                qual, mod = pop(), pop()
                if isinstance(mod, str) and isinstance(qual, str):
                    out.globals.append(display(*qualified(mod, qual, out.proto)))
                else:
                    out.globals.append(DYNAMIC)
                stack.append(_OPAQUE)
            elif name in ("EXT1", "EXT2", "EXT4"):
                key = copyreg._inverted_registry.get(arg)  # type: ignore[attr-defined]
                out.globals.append(display(*key) if key else f"<extension code {arg}>")
                stack.append(_OPAQUE)
            elif name == "MEMOIZE":
                memo[len(memo)] = top()
            elif name in _PUT:
                memo[cast(int, arg)] = top()
            elif name in _GET:
                if cast(int, arg) not in memo:
                    raise Unreadable(f"a memo read of key {arg} that was never written")
                stack.append(memo[cast(int, arg)])
            elif name == "MARK":
                stack.append(_MARK)
            elif name == "DUP":
                stack.append(top())
            elif name in _LITERALS:
                stack.append(arg)
            elif name in _CONSTANTS:
                stack.append(_CONSTANTS[name])
            elif name == "STOP":
                out.value = pop()
                if stack:
                    raise Unreadable("values left on the stack at STOP")
                return
            else:
                m.generic(op)
    except Unreadable:
        raise
    except (ValueError, IndexError, KeyError, UnicodeDecodeError, EOFError, OSError) as e:
        raise Unreadable(str(e) or type(e).__name__) from None
    raise Unreadable("the stream ends before STOP")


class _Machine:
    def __init__(self) -> None:
        self.stack: list[object] = []
        self.memo: dict[int, object] = {}

    def pop(self) -> object:
        if not self.stack:
            raise Unreadable("the stack runs empty")
        return self.stack.pop()

    def pop_mark(self) -> None:
        while self.pop() is not _MARK:
            pass

    def top(self) -> object:
        if not self.stack:
            raise Unreadable("a memo write or DUP with an empty stack")
        return self.stack[-1]

    def generic(self, op: pickletools.OpcodeInfo) -> None:
        # every other opcode's stack effect, from pickletools' own description of it
        before = op.stack_before
        if pickletools.markobject in before:
            self.pop_mark()
            for _ in range(before.index(pickletools.markobject)):
                self.pop()
        else:
            for _ in before:
                self.pop()
        self.stack.extend(_OPAQUE for _ in op.stack_after)
