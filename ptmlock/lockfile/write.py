"""The one writer of `ptm.lock`: a `Lock` -> deterministic TOML text, and the file write.

Sorted, with explicit key order and no timestamps, so the same manifest and hub state give
byte-identical output. Every string is a TOML basic string with everything TOML requires
escaped (`"`, `\\`, every control character including U+007F); other characters, non-BMP ones
included, are written as themselves in UTF-8. The writer validates what it writes with the
reader's own rules (`lockfile.read.lock_from_dict`), so ptmlock never writes a lock it cannot
read back.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ptmlock._fs import write_project_file
from ptmlock.errors import LockfileError
from ptmlock.lockfile.model import HEADER, Lock
from ptmlock.lockfile.read import lock_from_dict

_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_ESCAPES = str.maketrans({**{chr(c): f"\\u{c:04x}" for c in (*range(0x20), 0x7F)}, **_SHORT})


def dumps(lock: Lock) -> str:
    """`lock` as deterministic TOML text.

    Raises:
        LockfileError: `lock` holds a value the reader would refuse (nothing is written then).
    """
    check_writable(lock)
    return HEADER + _emit(lock.to_dict())


def check_writable(lock: Lock) -> None:
    """Refuse a lock the reader would refuse, or that UTF-8 cannot hold (a lone surrogate).

    Raises:
        LockfileError: naming the field, as the reader does.
    """
    data = lock.to_dict()
    try:
        lock_from_dict(data)
        _emit(data).encode("utf-8")  # TOML text can hold no surrogate, so no parsed lock has one
    except UnicodeEncodeError as e:
        raise LockfileError(f"ptmlock refused to write an invalid ptm.lock: {e.object[e.start:e.end]!r} is not "
                            "valid Unicode text. Nothing was written") from None
    except LockfileError as e:
        raise LockfileError(f"ptmlock refused to write an invalid ptm.lock: {e.message}. Nothing was written") from None


def write_lock(path: Path, lock: Lock) -> bool:
    """Write `lock` to `path` atomically, unless the file already holds exactly that text.

    Returns whether the file was written.

    Raises:
        LockfileError: `lock` is invalid (see `dumps`).
        ProjectWriteError: the file could not be written (read-only, full disk, permissions; issue 11).
    """
    text = dumps(lock)
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    write_project_file(path, text)
    return True


def _emit(data: Mapping[str, Any]) -> str:
    out: list[str] = []
    for key in ("version", "manifest-hash"):
        out.append(f"{key} = {_value(data[key])}\n")
    for model in data["model"]:
        out.append("\n[[model]]\n")
        for key, value in model.items():
            if key != "files":
                out.append(f"{key} = {_value(value)}\n")
        files = model["files"]
        if not files:
            out.append("files = []\n")
            continue
        out.append("files = [\n")
        for f in files:
            inner = ", ".join(f"{k} = {_value(v)}" for k, v in f.items())
            out.append(f"    {{ {inner} }},\n")
        out.append("]\n")
    return "".join(out)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.translate(_ESCAPES) + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table: a model's `signature` (issue 16); its keys are bare words
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} in ptm.lock")
