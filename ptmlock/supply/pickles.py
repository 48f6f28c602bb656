"""Find the callables a pickle would import, by reading its opcodes, never by unpickling it.

Loading a pickle runs whatever callables its GLOBAL / STACK_GLOBAL / INST opcodes name (then
REDUCE calls them), so a weights file can carry `os.system`. `scan_pickle_file` walks the
opcode stream with `pickletools.genops`, simulating just enough of the unpickler's stack and
memo to name every imported global, and sorts them against an allow-list of what plain
tensors, state dicts and numpy arrays need (after torch's `weights_only` unpickler).

Formats: a bare pickle (`.pkl`); torch's legacy format (several pickles back to back, then raw
storage bytes); torch's zip format (`archive/data.pkl` and any other `*.pkl` member); torch's
old tar format (each member's leading pickles).
"""
from __future__ import annotations

import _compat_pickle
import copyreg
import fnmatch
import io
import pickletools
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

_MAX_PICKLES_PER_STREAM = 5  # torch's legacy format unpickles 5 pickles before the raw storage bytes
_MAX_LINE = 1 << 16

# What a tensor / state-dict / numpy-array pickle legitimately imports (cf. torch's
# `_weights_only_unpickler._get_allowed_globals`), plus numpy's array reconstruction.
_SAFE_NAMES = frozenset({
    "_codecs.encode",
    "builtins.bytearray", "builtins.bytes", "builtins.complex", "builtins.dict", "builtins.float",
    "builtins.frozenset", "builtins.int", "builtins.list", "builtins.set", "builtins.slice", "builtins.tuple",
    "collections.Counter", "collections.OrderedDict", "collections.defaultdict", "copyreg._reconstructor",
    "torch.Size", "torch.Tensor", "torch.device", "torch.nn.parameter.Parameter",
    "torch.serialization._get_layout", "torch._tensor._rebuild_from_type_v2",
    "torch.storage.TypedStorage", "torch.storage.UntypedStorage",
    "numpy.core.multiarray._reconstruct", "numpy.core.multiarray.scalar", "numpy._core.multiarray._reconstruct",
    "numpy._core.multiarray.scalar", "numpy.ndarray", "numpy.dtype",
})
_SAFE_PATTERNS = (
    "torch._utils._rebuild_*",
    "torch.*Storage", "torch.*Tensor", "torch.cuda.*Storage", "torch.cuda.*Tensor", "torch.sparse.*Tensor",
    "torch.float*", "torch.bfloat16", "torch.int*", "torch.uint*", "torch.bool", "torch.complex*",
    "torch.bcomplex32", "torch.bits*", "torch.qint*", "torch.quint*", "torch.per_tensor_*", "torch.per_channel_*",
    "numpy.dtypes.*DType",
)
# Modules whose every callable can run code, touch files, the network or the interpreter.
_DANGEROUS_MODULES = frozenset({
    "_pickle", "_posixsubprocess", "_thread", "asyncio", "bdb", "code", "codeop", "commands", "ctypes", "dill",
    "ftplib", "http", "httplib", "httpx", "importlib", "imp", "marshal", "multiprocessing", "nt", "os", "pdb",
    "pickle", "pip", "platform", "posix", "pty", "pydoc", "requests", "runpy", "shelve", "shutil", "signal",
    "smtplib", "socket", "subprocess", "sys", "telnetlib", "threading", "timeit", "urllib", "urllib2", "webbrowser",
    "zipimport",
})
_DANGEROUS_NAMES = frozenset({
    "builtins.__import__", "builtins.breakpoint", "builtins.compile", "builtins.delattr", "builtins.eval",
    "builtins.exec", "builtins.execfile", "builtins.getattr", "builtins.globals", "builtins.input",
    "builtins.locals", "builtins.open", "builtins.setattr", "builtins.vars", "builtins.apply", "builtins.file",
    "functools.partial", "functools.reduce", "operator.attrgetter", "operator.methodcaller",
    "numpy.load", "numpy.testing._private.utils.runstring", "torch.load", "torch.hub.load", "torch.jit.load",
    "torch.serialization.load", "torch.storage._load_from_bytes", "types.CodeType", "types.FunctionType",
})
DYNAMIC = "<dynamic>"  # STACK_GLOBAL whose module or name is computed: no honest pickle does that


@dataclass(frozen=True)
class PickleScan:
    """What one file's pickles import.

    `dangerous`: callables that run code, touch files or the network when loaded; `unknown`:
    globals outside the allow-list (a `torch.load(weights_only=True)` would refuse them too);
    `members`: the pickle streams read (`data.pkl` for a plain file); `error`: why the file
    could not be read as a pickle (then nothing was found, which proves nothing).
    """

    path: str
    globals: tuple[str, ...] = ()
    dangerous: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    members: tuple[str, ...] = ()
    error: str | None = None


def classify(name: str) -> str:
    """`"safe"`, `"dangerous"` or `"unknown"` for a `module.name` global."""
    if name in _SAFE_NAMES or any(fnmatch.fnmatchcase(name, p) for p in _SAFE_PATTERNS):
        return "safe"
    module = name.split(".", 1)[0]
    if name == DYNAMIC or name in _DANGEROUS_NAMES or module in _DANGEROUS_MODULES:
        return "dangerous"
    return "unknown"


def scan_pickle_file(path: str | Path) -> PickleScan:
    """Scan the file at `path` (bare pickle, torch legacy, zip or tar format); never unpickles.

    Raises:
        OSError: the file cannot be read.
    """
    p = Path(path)
    found: set[str] = set()
    members: list[str] = []
    try:
        if zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as zf:
                for info in sorted(zf.infolist(), key=lambda i: i.filename):
                    if info.filename.endswith(".pkl"):
                        with zf.open(info) as stream:
                            found |= _scan_stream(stream, info.file_size)
                        members.append(info.filename)
        elif _is_tar(p):
            with tarfile.open(p, mode="r:") as tf:
                for member in sorted(tf.getmembers(), key=lambda m: m.name):
                    payload = tf.extractfile(member) if member.isfile() else None
                    if payload is None:
                        continue
                    try:
                        found |= _scan_stream(payload, member.size)
                        members.append(member.name)
                    except _NotPickle:
                        pass  # storage payloads are raw bytes
        else:
            with p.open("rb") as stream:
                found |= _scan_stream(stream, p.stat().st_size)
            members.append(p.name)
    except _NotPickle as e:
        return PickleScan(path=str(p), error=str(e))
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as e:
        return PickleScan(path=str(p), error=f"unreadable archive ({e})")
    if not members:
        return PickleScan(path=str(p), error="an archive with no pickle inside")
    names = sorted(found)
    return PickleScan(
        path=str(p),
        globals=tuple(names),
        dangerous=tuple(n for n in names if classify(n) == "dangerous"),
        unknown=tuple(n for n in names if classify(n) == "unknown"),
        members=tuple(members),
    )


def scan_pickle_bytes(data: bytes) -> set[str]:
    """The globals the pickles in `data` import (a convenience for tests and callers with bytes).

    Raises:
        ValueError: `data` does not start with a pickle.
    """
    try:
        return _scan_stream(io.BytesIO(data), len(data))
    except _NotPickle as e:
        raise ValueError(str(e)) from None


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


class _NotPickle(Exception):
    pass


class _Bounded:
    """A read-only view that refuses reads past the stream's known size, so a forged length
    field (BINBYTES8 of 2**62) fails fast instead of allocating, and lines stay short."""

    def __init__(self, stream: IO[bytes], size: int) -> None:
        self._stream = stream
        self._left = size
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        if n < 0 or n > self._left:
            raise ValueError(f"a length of {n} bytes runs past the end of the stream")
        data = self._stream.read(n)
        self._left -= len(data)
        self.pos += len(data)
        return data

    def readline(self) -> bytes:
        line = self._stream.readline(min(_MAX_LINE, max(self._left, 0)))
        self._left -= len(line)
        self.pos += len(line)
        if not line.endswith(b"\n"):
            raise ValueError("an unterminated line")
        return line

    def tell(self) -> int:
        return self.pos

    @property
    def left(self) -> int:
        return self._left


def _scan_stream(stream: IO[bytes], size: int) -> set[str]:
    bounded = _Bounded(stream, size)
    found: set[str] = set()
    for n in range(_MAX_PICKLES_PER_STREAM):
        if bounded.left <= 0:
            break
        try:
            found |= _scan_one(bounded)
        except (ValueError, IndexError, KeyError, UnicodeDecodeError, _StackError) as e:
            if n == 0:
                raise _NotPickle(f"not a pickle ({e})") from None
            break  # the raw storage bytes after torch's legacy pickles
    return found


class _StackError(Exception):
    pass


class _Mark:
    pass


_MARK = _Mark()
_STRING_OPS = frozenset({"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "SHORT_BINUNICODE", "BINUNICODE",
                         "BINUNICODE8"})
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})


def _scan_one(stream: _Bounded) -> set[str]:
    """Walk one pickle to its STOP, tracking string values through the stack and the memo."""
    found: set[str] = set()
    stack: list[Any] = []
    memo: dict[int, Any] = {}

    def pop() -> Any:
        if not stack:
            raise _StackError("stack underflow")
        return stack.pop()

    def pop_to_mark() -> None:
        while pop() is not _MARK:
            pass

    for op, arg, _pos in pickletools.genops(cast(IO[bytes], stream)):
        name = op.name
        if name == "GLOBAL" or name == "INST":
            module, _, attr = str(arg).partition(" ")
            found.add(_normalise(module, attr))
            if name == "INST":
                pop_to_mark()
            stack.append(None)
        elif name == "STACK_GLOBAL":
            attr, module = pop(), pop()
            ok = isinstance(module, str) and isinstance(attr, str)
            found.add(_normalise(module, attr) if ok else DYNAMIC)
            stack.append(None)
        elif name in ("EXT1", "EXT2", "EXT4"):
            key = copyreg._inverted_registry.get(arg)  # type: ignore[attr-defined]
            found.add(_normalise(*key) if key else f"<extension code {arg}>")
            stack.append(None)
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1] if stack else None
        elif name in _PUT_OPS:
            memo[cast(int, arg)] = stack[-1] if stack else None
        elif name in _GET_OPS:
            stack.append(memo.get(cast(int, arg)))
        elif name == "DUP":
            stack.append(stack[-1] if stack else None)
        elif name == "MARK":
            stack.append(_MARK)
        elif name in _STRING_OPS:
            stack.append(arg if isinstance(arg, str) else None)
        else:
            before = op.stack_before
            if pickletools.markobject in before:
                pop_to_mark()
                for _ in range(before.index(pickletools.markobject)):
                    pop()
            else:
                for _ in before:
                    pop()
            stack.extend(None for _ in op.stack_after)
    return found


def _normalise(module: str, name: str) -> str:
    # protocol 0-2 pickles (torch.save's default) write Python 2 names: __builtin__.eval is builtins.eval
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return f"{module}.{name}"
