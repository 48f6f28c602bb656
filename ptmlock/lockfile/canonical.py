"""A fast tokeniser for ptm.lock in exactly the form `lockfile.write` produces.

`scan_canonical(text)` returns what `tomllib.loads(text)` returns, or None when the text is not
in that form (hand-edited spacing, comments, other TOML syntax, CRLF), and the caller then uses
a TOML parser. It is a tokeniser only: `lockfile.read.lock_from_dict` validates either result.
It exists because the runtime guard reads the lock on its first intercepted load, and a TOML
parser takes 5-10x longer on a large lock (benchmarks/bench_enforce.py).

The form: the header comment; `key = value` lines, where a value is a basic string (no raw
control character; escapes `\\b \\t \\n \\f \\r \\" \\\\ \\uXXXX`), a decimal integer, `true`/`false`
or a one-line array of strings; `[[model]]` headers after a blank line; and per model
`files = [` with one `{ path = "...", size = N[, blob = "..."][, sha256 = "..."] },` line per file
and a closing `]`. Every escape it accepts means the same in JSON, so `json.loads` decodes it.
"""
from __future__ import annotations

import json
import re
from typing import Any

from ptmlock.lockfile.model import HEADER

# A TOML basic string that is also a JSON string with the same value: no raw control character
# (JSON and TOML both refuse them; TOML also U+007F), only the escapes both share, and no
# surrogate escape (TOML refuses those, JSON would pair them).
_CHARS = r'[^"\\\x00-\x1f\x7f]*'  # written as one greedy run between escapes: 3-4x faster to match
_STR = rf'"{_CHARS}(?:(?:\\[btnfr"\\]|\\u(?![dD][89abAB])[0-9a-fA-F]{{4}}){_CHARS})*"'
_INT = r"0|[1-9][0-9]*"
_KEY_VALUE = re.compile(rf"([A-Za-z0-9_-]+) = ({_STR}|{_INT}|true|false|\[(?:{_STR}(?:, {_STR})*)?\]|\[)")
_ITEM = re.compile(_STR)
_FILE = re.compile(rf"    \{{ path = ({_STR}), size = ({_INT})(?:, blob = ({_STR}))?(?:, sha256 = ({_STR}))? \}},")


def scan_canonical(text: str) -> dict[str, Any] | None:
    """`tomllib.loads(text)` for a lock in `lockfile.write`'s form; None for any other text."""
    if not text.startswith(HEADER):
        return None
    top: dict[str, Any] = {}
    models: list[dict[str, Any]] = []
    table = top
    files: list[dict[str, Any]] | None = None  # inside a multi-line `files = [`
    for line in text[len(HEADER):].split("\n"):
        if files is not None:
            if line == "]":
                files = None
                continue
            m = _FILE.fullmatch(line)
            if m is None:
                return None
            entry: dict[str, Any] = {"path": _string(m.group(1)), "size": int(m.group(2))}
            if m.group(3) is not None:
                entry["blob"] = _string(m.group(3))
            if m.group(4) is not None:
                entry["sha256"] = _string(m.group(4))
            files.append(entry)
            continue
        if not line:
            continue
        if line == "[[model]]":
            table = {}
            models.append(table)
            continue
        m = _KEY_VALUE.fullmatch(line)
        if m is None or m.group(1) in table:
            return None
        key, raw = m.group(1), m.group(2)
        if raw == "[":
            if table is top:
                return None
            files = table[key] = []
        else:
            table[key] = _value(raw)
    if files is not None or "model" in top:
        return None  # an unclosed array, or a `model` key that the [[model]] tables would clash with
    if models:
        top["model"] = models
    return top


def _value(raw: str) -> Any:
    if raw[0] == '"':
        return _string(raw)
    if raw[0] == "[":
        return [_string(s) for s in _ITEM.findall(raw)]
    if raw in ("true", "false"):
        return raw == "true"
    return int(raw)


def _string(token: str) -> str:
    return token[1:-1] if "\\" not in token else str(json.loads(token))
