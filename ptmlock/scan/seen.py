"""One text for the scan's pre-filter (`scan.prefilter`), and which substrings it was found to
hold: each is looked for once, however many rules ask; and the text's import lines."""
from __future__ import annotations

from typing import AnyStr, Generic


class Seen(Generic[AnyStr]):
    """One text, and which substrings it was found to hold (each is looked for once); `imports()`
    is the same for the text's import lines."""

    __slots__ = ("text", "_found", "_syntax", "_imports", "imp", "code")
    # `imports()`, set by `prefilter._Needles.first` before any rule reads it (never `self`: that cycle
    # would keep the text alive until the cyclic collector runs, and scan workers run without it)
    imp: Seen[AnyStr]

    def __init__(self, text: AnyStr, syntax: tuple[AnyStr, AnyStr, AnyStr, AnyStr, AnyStr], code: bool = False
                 ) -> None:
        self.text: AnyStr = text
        self.code = code  # the text is code alone: strings and comments removed
        self._found: dict[AnyStr, bool] = {}
        self._syntax: tuple[AnyStr, AnyStr, AnyStr, AnyStr, AnyStr] = syntax  # `import`, newline, ( ) \\
        self._imports: Seen[AnyStr] | None = None

    def has(self, needle: AnyStr) -> bool:
        found = self._found.get(needle)
        if found is None:
            found = self._found[needle] = needle in self.text
        return found

    def imports(self) -> Seen[AnyStr]:
        """The lines that hold the word `import`, whole (an import after `;` too), each with its
        continuation: up to the `)` of an open parenthesis, or the next line after a backslash."""
        if self._imports is None:
            text, (word, nl, lparen, rparen, backslash) = self.text, self._syntax
            lines: list[AnyStr] = []
            i = text.find(word)
            while i >= 0:
                start = text.rfind(nl, 0, i) + 1
                end = line_end(text, i, nl)
                line = text[start:end]
                if lparen not in line and not line.rstrip().endswith(backslash):  # nearly every import
                    lines.append(line)
                    i = text.find(word, end)
                    continue
                part = start  # the part last added: only it can open a parenthesis or end in `\` (linear)
                while True:
                    opened = text.rfind(lparen, part, end)
                    if opened >= 0 and text.find(rparen, opened, end) < 0:  # `from m import (a,` ...
                        close = text.find(rparen, end)
                        if close < 0:
                            end = len(text)
                            break
                        part, end = end, line_end(text, close, nl)
                    elif text[max(text.rfind(nl, part, end) + 1, part):end].rstrip().endswith(backslash) \
                            and end < len(text):
                        part, end = end, line_end(text, end + 1, nl)
                    else:
                        break
                lines.append(text[start:end])
                i = text.find(word, end)
            self._imports = Seen(nl.join(lines), self._syntax)
        return self._imports


def line_end(text: AnyStr, i: int, nl: AnyStr) -> int:
    end = text.find(nl, i)
    return len(text) if end < 0 else end
