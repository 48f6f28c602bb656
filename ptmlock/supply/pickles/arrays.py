"""numpy's two ways of putting arrays next to pickles, read the way their loaders read them.

- `.npy` (`np.save`): a header, then raw bytes, or a pickle when the dtype holds objects. The
  header is read as `numpy.lib.format` reads it (issue 23): `ast.literal_eval`, and on a
  `SyntaxError` below version 3 numpy's own Python-2 filter (`3L` longs); the dtype through
  numpy's `descr_to_dtype` when numpy is installed (every spelling: `'|O'`, `'object'`,
  `'O8'`, structured and sub-array dtypes holding objects), else a conservative reading
  (any `O` or `object` type means objects).
- joblib (`joblib.dump`): after each `NumpyArrayWrapper` is built, joblib's unpickler reads
  the array's bytes (after an alignment pad) from the pickle stream itself, or, for an object
  array, a nested pickle; `joblib_array` follows it.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
from typing import IO, Any

from ptmlock.supply.pickles.machine import Bounded, Dtype, Stream, Unreadable, read_pickle

NPY_MAGIC = b"\x93NUMPY"
MAX_NPY_HEADER = 1 << 20
_TYPESTR = re.compile(r"([biufcmMOSUV?])(\d*)")
_FLEXIBLE = frozenset("SUV")
_PLAIN_DESCR = re.compile(r"[<>|=]?[biufcmMSUV?]\d*(\[\w+\])?")


def npy_header(f: IO[bytes]) -> tuple[dict[str, Any], int]:
    """The header of the `.npy` stream `f` (at its start) and its length in bytes, magic included.

    Raises:
        Unreadable: a header numpy would not read, or one the scanner cannot.
    """
    magic = f.read(8)
    if len(magic) < 8 or not magic.startswith(NPY_MAGIC):
        raise Unreadable("an .npy file shorter than its magic")
    major, minor = magic[6], magic[7]
    width = 2 if major == 1 else 4
    length = int.from_bytes(f.read(width), "little")
    if (major, minor) not in ((1, 0), (2, 0), (3, 0)) or length > MAX_NPY_HEADER:
        raise Unreadable(f"an .npy header the scanner does not read (version {major}.{minor}, {length} bytes)")
    raw = f.read(length)
    if len(raw) < length:
        raise Unreadable("an .npy header cut short")
    text = raw.decode("latin1" if major < 3 else "utf-8", errors="strict")
    try:
        try:
            header = ast.literal_eval(text)
        except SyntaxError:
            if major >= 3:
                raise
            header = ast.literal_eval(_python2_header(text))
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError, tokenize.TokenError) as e:
        raise Unreadable(f"an .npy header numpy cannot parse ({type(e).__name__})") from None
    if not isinstance(header, dict) or "descr" not in header or not isinstance(header.get("shape"), tuple):
        raise Unreadable("an .npy header without a dtype and a shape")
    return header, 8 + width + length


def _python2_header(text: str) -> str:
    # numpy's _filter_header: drop the L of Python 2 longs ("(3L,)")
    tokens: list[tokenize.TokenInfo] = []
    after_number = False
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if not (after_number and token.type == tokenize.NAME and token.string == "L"):
            tokens.append(token)
        after_number = token.type == tokenize.NUMBER
    return tokenize.untokenize(tokens)


def descr_has_objects(descr: object) -> bool:
    """True when the `.npy` dtype description `descr` holds Python objects (its data is a pickle)."""
    if isinstance(descr, str) and _PLAIN_DESCR.fullmatch(descr):
        return False  # what np.save writes for numeric arrays: no need to import numpy to know
    try:
        from numpy.lib.format import descr_to_dtype
    except ImportError:
        return _mentions_objects(descr)
    try:
        return bool(descr_to_dtype(descr).hasobject)  # type: ignore[arg-type]
    except Exception as e:  # noqa: BLE001 -- numpy refuses it: np.load fails, and the scanner cannot tell why
        raise Unreadable(f"an .npy dtype numpy does not read ({descr!r:.80}: {type(e).__name__})") from None


def _mentions_objects(descr: object) -> bool:
    if isinstance(descr, str):
        return "O" in descr or "object" in descr.lower()
    if isinstance(descr, (list, tuple)):
        return any(_mentions_objects(part) for part in descr)
    if isinstance(descr, dict):
        return any(_mentions_objects(part) for part in descr.values())
    return False


def dtype_info(dtype: Dtype) -> tuple[int, bool]:
    """(itemsize, holds objects) of a pickled `numpy.dtype`, as numpy rebuilds it.

    Raises:
        Unreadable: a dtype the scanner cannot size.
    """
    kind = dtype.args[0] if dtype.args else None
    state = dtype.state
    m = _TYPESTR.fullmatch(kind) if isinstance(kind, str) else None
    if m is None or not isinstance(state, tuple) or len(state) < 8:
        raise Unreadable(f"a pickled numpy dtype the scanner does not read ({kind!r})", limit=True)
    subarray, fields, elsize, flags = state[2], state[4], state[5], state[7]
    objects = m.group(1) == "O" or (isinstance(flags, int) and bool(flags & 1))
    if isinstance(subarray, tuple) and subarray and isinstance(subarray[0], Dtype):
        objects = objects or dtype_info(subarray[0])[1]
    if isinstance(fields, dict):
        for entry in fields.values():
            if isinstance(entry, tuple) and entry and isinstance(entry[0], Dtype):
                objects = objects or dtype_info(entry[0])[1]
    if m.group(1) in _FLEXIBLE:
        # numpy takes a flexible type's size from the state
        if not isinstance(elsize, int) or elsize < 0:
            raise Unreadable(f"a pickled numpy dtype {kind!r} without a size", limit=True)
        return elsize, objects
    if not m.group(2) and m.group(1) != "?":
        raise Unreadable(f"a pickled numpy dtype {kind!r} without a size", limit=True)
    return int(m.group(2) or 1), objects


def joblib_array(stream: Bounded, state: object, out: Stream) -> None:
    """Read past the array joblib's unpickler reads after a `NumpyArrayWrapper` with `state`."""
    if not isinstance(state, dict):
        raise Unreadable("a joblib array wrapper whose state the scanner cannot read", limit=True)
    shape, dtype = state.get("shape"), state.get("dtype")
    if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape) or not isinstance(
            dtype, Dtype):
        raise Unreadable("a joblib array wrapper whose shape or dtype the scanner cannot read", limit=True)
    itemsize, objects = dtype_info(dtype)
    if objects:
        # an object array is a nested pickle, read by a plain unpickler from the same stream
        inner = Stream(globals=out.globals)
        try:
            read_pickle(stream, inner)
        finally:
            out.calls += inner.calls
        return
    if state.get("numpy_array_alignment_bytes") is not None:
        stream.skip(stream.read(1)[0])
    count = 1
    for n in shape:
        count *= n
    stream.skip(count * itemsize)
