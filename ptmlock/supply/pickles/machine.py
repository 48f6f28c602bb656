"""Read one pickle stream opcode by opcode the way the unpickler would, without running it.

`opcodes.decode` reads each opcode and its argument as CPython's C unpickler does; this module
keeps the machine's stack, marks and memo (`PUT`/`BINPUT`/`LONG_BINPUT`/`MEMOIZE`,
`GET`/`BINGET`/`LONG_BINGET`) with the values it can know (strings, numbers, `None`, booleans,
tuples, dicts, the globals themselves), so a `STACK_GLOBAL`'s operands are the values the
unpickler would pop, wherever they were memoised (issue 12). Everything the stream imports
(`GLOBAL`, `INST`, `STACK_GLOBAL`, `EXT*`) is recorded as it is met, so a stream that breaks
half-way still reports what came before the break: the unpickler would have imported those.

joblib's unpickler reads raw array bytes from the stream right after the `BUILD` of each
`joblib.numpy_pickle.NumpyArrayWrapper` (and, for object arrays, a nested pickle): with a
`joblib` hook (`arrays.joblib_array`) the machine follows it there (issue 23: no false alarm on
`joblib.dump` of numpy arrays). A wrapper built any other way is a stream it cannot follow.
"""
from __future__ import annotations

import copyreg
import pickletools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, cast

from ptmlock.supply.pickles.allowlist import DYNAMIC, display, qualified
from ptmlock.supply.pickles.opcodes import MAX_LINE, Unreadable, decode

__all__ = ["MAX_LINE", "Bounded", "Dtype", "Global", "Stream", "Unreadable", "read_pickle"]
JOBLIB_WRAPPER = "joblib.numpy_pickle.NumpyArrayWrapper"


class Bounded:
    """A read-only view that refuses reads past the stream's known size (`limit`), so a forged
    length field (BINBYTES8 of 2**62) fails fast instead of allocating, and lines stay short."""

    def __init__(self, stream: object, limit: int) -> None:
        self._stream = cast("_Readable", stream)
        self.left = limit
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self.left:
            raise Unreadable(f"pickle data was truncated: a read of {n} bytes at offset {self.pos} runs past the "
                             f"end of the stream ({max(self.left, 0)} left)")
        data = self._stream.read(n)
        self.left -= len(data)
        self.pos += len(data)
        if len(data) < n:
            raise Unreadable(f"pickle data was truncated at offset {self.pos}")
        return data

    def skip(self, n: int) -> None:
        """Read past `n` raw bytes (joblib's array data) in bounded chunks."""
        if n > self.left:
            raise Unreadable(f"array data of {n} bytes at offset {self.pos} runs past the end of the stream")
        while n:
            n -= len(self.read(min(n, 1 << 22)))

    def readline(self) -> bytes:
        line = self._stream.readline(min(MAX_LINE, max(self.left, 0)))
        self.left -= len(line)
        self.pos += len(line)
        if not line.endswith(b"\n"):
            if len(line) >= MAX_LINE:
                raise Unreadable(f"an argument line longer than {MAX_LINE} bytes", limit=True)
            raise Unreadable("pickle data was truncated (an unterminated argument line)")
        return line

    def at_end(self) -> bool:
        """True when no byte is left (reads one byte to know, for streams of unknown size)."""
        if self.left <= 0:
            return True
        probe = self._stream.read(1)
        if not probe:
            return True
        self._stream = cast("_Readable", _Prefixed(probe, self._stream))
        return False

    def tell(self) -> int:
        return self.pos


class _Readable(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...

    def readline(self, limit: int = -1, /) -> bytes: ...


class _Prefixed:
    def __init__(self, head: bytes, rest: _Readable) -> None:
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


@dataclass(frozen=True)
class Global:
    """A global the stream imported, as a value on the stack."""

    name: str


@dataclass(eq=False)
class Dtype:
    """`numpy.dtype(*args)` with its `BUILD` state, as a pickle writes a dtype."""

    args: tuple[object, ...]
    state: object = None


@dataclass(eq=False)
class _Wrapper:
    state: object = None


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
_TUPLES = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}

ArrayHook = Callable[[Bounded, object, "Stream"], None]


@dataclass
class Stream:
    """What one pickle imported (`globals`, in order met) and the value it returns when known."""

    globals: list[str] = field(default_factory=list)
    value: object = _OPAQUE
    proto: int = 0
    calls: int = 0  # opcodes that call what was imported (REDUCE, BUILD, INST, OBJ, NEWOBJ...)
    arrays: int = 0  # joblib arrays read from the stream after their wrapper


def read_pickle(stream: Bounded, out: Stream, *, joblib: ArrayHook | None = None) -> None:
    """Walk one pickle to its STOP, filling `out` as it goes; with `joblib`, as joblib's
    unpickler reads it (the hook reads each wrapped array's bytes).

    Raises:
        Unreadable: an unknown opcode, a truncated or oversized argument, a stack or memo the
            unpickler would reject, or no STOP.
    """
    m = _Machine()
    stack, memo, pop, top = m.stack, m.memo, m.pop, m.top
    try:
        for op, arg in decode(stream):
            name = op.name
            if name in _CALLS:
                out.calls += 1
            if name == "PROTO":
                out.proto = cast(int, arg)
            elif name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                found = display(*qualified(module, attr, out.proto))
                out.globals.append(found)
                if name == "INST":
                    m.pop_mark()
                    _check_wrapper(joblib, found)
                stack.append(_OPAQUE if name == "INST" else Global(found))
            elif name == "STACK_GLOBAL":
                qual, mod = pop(), pop()
                found = display(*qualified(mod, qual, out.proto)) if isinstance(mod, str) and isinstance(
                    qual, str) else DYNAMIC
                out.globals.append(found)
                stack.append(Global(found))
            elif name in ("EXT1", "EXT2", "EXT4"):
                key = copyreg._inverted_registry.get(arg)  # type: ignore[attr-defined]
                found = display(*key) if key else f"<extension code {arg}>"
                out.globals.append(found)
                stack.append(Global(found))
            elif name == "MEMOIZE":
                memo[len(memo)] = top()
            elif name in _PUT:
                if cast(int, arg) < 0:
                    raise Unreadable("negative PUT argument")
                memo[cast(int, arg)] = top()
            elif name in _GET:
                if cast(int, arg) not in memo:
                    raise Unreadable(f"a memo read of key {arg} that was never written")
                stack.append(memo[cast(int, arg)])
            elif name == "MARK":
                stack.append(_MARK)
            elif name == "POP":
                if not stack:
                    raise Unreadable("unpickling stack underflow")
                stack.pop()  # the C unpickler's POP also pops a bare mark
            elif name == "DUP":
                stack.append(top())
            elif name in _LITERALS:
                stack.append(arg)
            elif name in _CONSTANTS:
                stack.append(_CONSTANTS[name])
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name in _TUPLES:
                items = [pop() for _ in range(_TUPLES[name])]
                stack.append(tuple(reversed(items)))
            elif name == "TUPLE":
                stack.append(tuple(m.pop_mark()))
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "DICT":
                stack.append(_pairs({}, m.pop_mark()))
            elif name == "SETITEM":
                value, key = pop(), pop()
                _pairs(top(), [key, value])
            elif name == "SETITEMS":
                items = m.pop_mark()
                _pairs(top(), items)
            elif name == "REDUCE":
                args, fn = pop(), pop()
                _check_wrapper(joblib, fn)
                is_dtype = fn == Global("numpy.dtype") and isinstance(args, tuple)
                stack.append(Dtype(cast(tuple[object, ...], args)) if is_dtype else _OPAQUE)
            elif name == "NEWOBJ":
                args, cls = pop(), pop()
                stack.append(_Wrapper() if cls == Global(JOBLIB_WRAPPER) and args == () else _OPAQUE)
            elif name == "BUILD":
                state, obj = pop(), top()
                if isinstance(obj, Dtype):
                    obj.state = state
                elif isinstance(obj, _Wrapper) and joblib is not None:
                    stack.pop()
                    joblib(stream, state, out)
                    out.arrays += 1
                    stack.append(_OPAQUE)
            elif name == "STOP":
                out.value = pop()
                return  # values left on the stack are ignored, as the unpickler does
            elif name == "FRAME":
                continue
            else:
                m.generic(op, joblib)
    except Unreadable:
        raise
    except (ValueError, IndexError, KeyError, UnicodeDecodeError, EOFError, OSError, TypeError) as e:
        raise Unreadable(str(e) or type(e).__name__) from None
    raise Unreadable("pickle data was truncated (the stream ends before STOP)")


def _pairs(target: object, items: list[object]) -> object:
    if len(items) % 2:
        raise Unreadable("odd number of items for SETITEMS or DICT")
    if isinstance(target, dict):
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]  # TypeError for an unhashable key, as the unpickler
    return target


def _check_wrapper(joblib: ArrayHook | None, value: object) -> None:
    # joblib reads array bytes after the BUILD of a wrapper; one made another way would desync us
    if joblib is not None and value in (Global(JOBLIB_WRAPPER), JOBLIB_WRAPPER):
        raise Unreadable("joblib's array wrapper is built in a way the scanner does not follow", limit=True)


class _Machine:
    def __init__(self) -> None:
        self.stack: list[object] = []
        self.memo: dict[int, object] = {}

    def pop(self) -> object:
        if not self.stack or self.stack[-1] is _MARK:
            raise Unreadable("unpickling stack underflow")
        return self.stack.pop()

    def pop_mark(self) -> list[object]:
        items: list[object] = []
        while True:
            if not self.stack:
                raise Unreadable("could not find MARK")
            item = self.stack.pop()
            if item is _MARK:
                return items[::-1]
            items.append(item)

    def top(self) -> object:
        if not self.stack or self.stack[-1] is _MARK:
            raise Unreadable("unpickling stack underflow")
        return self.stack[-1]

    def generic(self, op: pickletools.OpcodeInfo, joblib: ArrayHook | None) -> None:
        # every other opcode's stack effect, from pickletools' own description of it
        before = op.stack_before
        popped: list[object] = []
        if pickletools.markobject in before:
            popped += self.pop_mark()
            for _ in range(before.index(pickletools.markobject)):
                popped.append(self.pop())
        else:
            for _ in before:
                popped.append(self.pop())
        if op.name in _CALLS:
            for value in popped:
                _check_wrapper(joblib, value)
        self.stack.extend(_OPAQUE for _ in op.stack_after)
