"""Where a table or key sits in the raw text of ptm.toml, for `file:line:col` messages (the
parser's, the signing tables', audit's and PTM001's). Pure; imports nothing of ptmlock but errors."""
from __future__ import annotations

import re
from pathlib import Path

from ptmlock.errors import ManifestError


class Locator:
    """Finds the line and column of a table or key in the raw text, for messages."""

    def __init__(self, text: str, path: Path) -> None:
        self.lines = text.splitlines()
        self.path = path

    def error(self, table: str | None, key: str | None, what: str, choices: tuple[str, ...]) -> ManifestError:
        line, col = self._find(table, key)
        hint = ""
        if key is not None and choices:  # an unknown key: suggest the closest known one
            import difflib  # only on this error path: keeps the start-up of read-only verbs small

            close = difflib.get_close_matches(key, choices, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else f" Known keys: {', '.join(choices)}."
        text = what if what.endswith(".") else what + "."
        return ManifestError(f"{self.path}:{line}:{col}: {text}{hint}")

    def position(self, table: str | None, key: str | None) -> tuple[int, int]:
        """(line, column), 1-based, of `key` in `table` (a `[table."key"]` header counts)."""
        return self._find(table, key)

    def _find(self, table: str | None, key: str | None) -> tuple[int, int]:
        start, end = 0, len(self.lines)
        if table is not None:
            header = self._header_line(table)
            if header is not None:
                start = header
                end = next((i for i in range(header + 1, len(self.lines)) if self.lines[i].lstrip().startswith("[")),
                           len(self.lines))
                if key is None:
                    return header + 1, 1
        if key is not None:
            pattern = re.compile(r"^(\s*)(?:" + re.escape(key) + r"|\"" + re.escape(key) + r"\"|'" + re.escape(key)
                                 + r"')\s*[=.]")
            for i in range(start, end):
                m = pattern.match(self.lines[i])
                if m:
                    return i + 1, len(m.group(1)) + 1
            # a sub-table written as a header, e.g. [models."x"] when looking for key x under models
            if table is not None:
                found = self._header_line(f'{table}."{key}"') or self._header_line(f"{table}.{key}")
                if found is not None:
                    return found + 1, 1
            found = self._header_line(key)
            if found is not None:
                return found + 1, 1
        return (start + 1 if table is not None else 1), 1

    def _header_line(self, table: str) -> int | None:
        want = norm_header(table)
        for i, line in enumerate(self.lines):
            s = line.strip()
            if s.startswith("[") and not s.startswith("[["):
                inner = s[1:s.index("]")] if "]" in s else s[1:]
                if norm_header(inner) == want:
                    return i
        return None


def norm_header(header: str) -> tuple[str, ...]:
    """`models."org/x"` -> ("models", "org/x"): a TOML table header as its keys."""
    parts: list[str] = []
    for m in re.finditer(r'\s*(?:"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([A-Za-z0-9_\-]+))\s*(?:\.|$)', header):
        parts.append(next(g for g in m.groups() if g is not None))
    return tuple(parts)
