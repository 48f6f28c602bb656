"""Where, in code alone (strings and comments removed, lines kept), a call sits in the body of a
`from_pretrained` override: there the analyzer takes `super().from_pretrained(...)` for the
override forwarding its caller's id, not for a load (`analyze._Analyzer._delegating`), and the
pre-filter need not parse a file whose every `.from_pretrained` is such a call (the large
modeling files of transformers and diffusers are; parsing them was ~8% of a cold scan).

Read from the text by indentation, so it answers "inside" only where the text leaves no doubt:
a tab in an indentation, a header it cannot close, or brackets it cannot balance answer "not
inside", and the file is parsed.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import AnyStr, Generic

# the innermost function around the call, by these names, makes it a delegation
DELEGATORS = ("from_pretrained", "_from_pretrained", "from_single_file")
_DEF = r"(?:async[ \t]+)?def[ \t]+(\w+)[ \t]*\("


class Enclosing(Generic[AnyStr]):
    """`delegates(code, i)` for one string type (bytes for raw files, str for text)."""

    def __init__(self, c: Callable[[str], AnyStr]) -> None:
        self.nl: AnyStr = c("\n")
        self.tab: AnyStr = c("\t")
        self.colon: AnyStr = c(":")
        self.backslash: AnyStr = c("\\")
        self.blank: AnyStr = c(" \t\r\x0c")
        self.opens: tuple[AnyStr, ...] = (c("("), c("["), c("{"))
        self.closes: tuple[AnyStr, ...] = (c(")"), c("]"), c("}"))
        self.define: re.Pattern[AnyStr] = re.compile(c(_DEF))
        self.bracket: re.Pattern[AnyStr] = re.compile(c(r"[()\[\]{}]"))
        self.delegators: frozenset[AnyStr] = frozenset(c(n) for n in DELEGATORS)

    def _depth(self, code: AnyStr, start: int, end: int) -> int:
        """Open brackets minus closed ones in `code[start:end]`."""
        return sum(code.count(o, start, end) for o in self.opens) - sum(code.count(c, start, end) for c in self.closes)

    def _statement_start(self, code: AnyStr, start: int) -> bool:
        """Does the line at `start` begin a statement (not continue one: inside brackets, or after `\\`)?"""
        if start == 0:
            return True
        before = code[:start - 1].rstrip(self.blank)
        return not before.endswith(self.backslash) and self._depth(code, 0, start) == 0

    def _body_start(self, code: AnyStr, header: int) -> int:
        """The index just after the `:` that ends the `def` header whose `(` is at `header`, or -1."""
        depth = 0
        for m in self.bracket.finditer(code, header):
            depth += 1 if m.group() in self.opens else -1
            if depth == 0:
                colon = code.find(self.colon, m.end())
                return -1 if colon < 0 or self._depth(code, m.end(), colon) != 0 else colon + 1
        return -1

    def delegates(self, code: AnyStr, i: int) -> bool:
        """Is index `i` of `code` inside the body of a function named in DELEGATORS, as the
        innermost function (a nested `def` is a scope of its own; class bodies are not)?"""
        end = code.find(self.nl, i)
        line = code.rfind(self.nl, 0, i) + 1
        while not self._statement_start(code, line):  # the statement the call is part of
            if line == 0:
                return False
            line = code.rfind(self.nl, 0, line - 1) + 1
        indent: int | None = None
        while True:
            text = code[line:end if end >= 0 else len(code)]
            stripped = text.lstrip(self.blank)
            width = len(text) - len(stripped)
            if self.tab in text[:width]:
                return False  # tabs: widths the text cannot compare
            if stripped and (indent is None or width < indent) and self._statement_start(code, line):
                found = self.define.match(stripped)
                if found is not None:
                    body = self._body_start(code, line + width + found.end() - 1)
                    if body < 0:
                        return False
                    if i >= body:  # in this function's body: the innermost function around the call
                        return found.group(1) in self.delegators
                indent = width  # a header's defaults, a class, any statement: look further out
                if width == 0:
                    return False
            if line == 0:
                return False
            end = line - 1
            line = code.rfind(self.nl, 0, end) + 1
