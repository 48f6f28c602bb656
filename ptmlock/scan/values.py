"""The values the scan resolver reasons about, and the resolver's memoised entry point.

An expression resolves to a tuple of possible values (`Vals`): constants, containers (`Seq`,
`Map`), references to imported names, local classes, instances and functions, and the markers
`LOCAL` (a filesystem path), `OBJ` (an object such as a loaded model) and `RUNTIME` (also a value
decided at run time, beside the static ones: a flag read with a default is not surely that default).
An empty tuple means unknown.
"""
from __future__ import annotations

import ast
import itertools
import re
import string
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from ptmlock.scan.index import ModuleIndex
from ptmlock.scan.scopes import FUNCTIONS, Ctx

Vals = tuple[object, ...]

# An unknown part of a URL whose known prefix names the host ("https://huggingface.co/org/repo/
# resolve/main/{name}.zip" with a run-time name): `classify_id` reads such a string only when the
# unknown part comes after the Hub repo; anything else with it is no id.
PARTIAL = "\x00"

MAX_ALTS = 256      # more alternatives than this is "unknown"
MAX_ELTS = 2048     # larger container literals are data, not model choices
MAX_DEPTH = 40
MAX_RANGE = 64     # `for i in range(1, 4)`: each i an alternative of what is built from it
MAX_SITES = 32      # call sites followed for one parameter
BUDGET = 40_000     # resolution steps per module: a pathological file cannot stall a scan


class Marker:
    """A value that is not a constant: `LOCAL` (a filesystem path), `OBJ` (an object)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


LOCAL = Marker("LOCAL")
OBJ = Marker("OBJ")
RUNTIME = Marker("RUNTIME")  # beside static values: a value only the run decides (`kwargs.get("k", "dflt")`)


@dataclass(frozen=True)
class Seq:
    """A list, tuple or set: each item's alternatives, in order."""

    items: tuple[Vals, ...]


@dataclass(frozen=True)
class Map:
    """A dict: (key alternatives, value alternatives) per entry."""

    entries: tuple[tuple[Vals, Vals], ...]


@dataclass(frozen=True)
class ImportRef:
    """An imported name, fully qualified (`transformers.AutoModel`)."""

    qualname: str


@dataclass(frozen=True)
class ClassRef:
    """A class defined in the module."""

    node: ast.ClassDef


@dataclass(frozen=True)
class InstRef:
    """An instance of a class defined in the module (built by `call`, where it is known)."""

    node: ast.ClassDef
    call: ast.Call | None = None


@dataclass(frozen=True)
class FuncRef:
    """A function defined in the module."""

    node: ast.FunctionDef | ast.AsyncFunctionDef


def union(parts: Iterable[Vals]) -> Vals:
    seen: dict[object, None] = {}
    for part in parts:
        for v in part:
            seen.setdefault(v, None)
    return tuple(seen)


def truthy(vals: Vals) -> Vals:
    return tuple(v for v in vals if not (v is None or v is False or v == "" or v == 0
                                         or (isinstance(v, Seq) and not v.items)))


def members(vals: Vals) -> Vals:
    """What iterating over each value yields (list items, dict keys)."""
    out: list[Vals] = []
    for v in vals:
        if isinstance(v, Seq):
            out.extend(v.items)
        elif isinstance(v, Map):
            out.extend(k for k, _ in v.entries)
    return union(out)


def unpack(vals: Vals, path: tuple[int, ...]) -> Vals:
    for i in path:
        vals = union(v.items[i] for v in vals if isinstance(v, Seq) and i < len(v.items))
    return vals


def int_range(bounds: list[Vals]) -> Vals:
    """`range(...)` of literal int bounds, as a sequence of at most MAX_RANGE ints; else unknown."""
    ints = [b[0] for b in bounds if len(b) == 1 and type(b[0]) is int]
    if len(ints) != len(bounds) or (len(ints) == 3 and ints[2] == 0):
        return ()
    steps = range(*ints)
    return (Seq(tuple((i,) for i in steps)),) if 0 < len(steps) <= MAX_RANGE else ()


def strs(vals: Vals) -> list[str]:
    return [v for v in vals if isinstance(v, str)]


def product(parts: list[list[str]]) -> list[str] | None:
    n = 1
    for p in parts:
        n *= len(p)
    if n > MAX_ALTS:
        return None
    return ["".join(c) for c in itertools.product(*parts)]


PERCENT_SAFE = re.compile(r"(?:[^%]|%%|%(?:\(\w+\))?[sdir])*\Z", re.S)


def partial_ok(known: Iterable[str]) -> bool:
    """May an unknown part follow these strings (the prefix of a URL) as `PARTIAL`?"""
    return any("://" in s for s in known)


def safe_format(template: str) -> bool:
    try:
        for _, name, spec, conversion in string.Formatter().parse(template):
            if spec or conversion not in (None, "s") or (name and not re.fullmatch(r"\w*", name)):
                return False
    except ValueError:
        return False
    return True


class ResolverBase:
    """State and the memoised `values()`; `Resolver` supplies `_values` for each node type."""

    def __init__(self, index: ModuleIndex, external: Callable[[str], Vals] | None = None) -> None:
        self.ix = index
        self.external = external  # another scanned module's constants (`scan.imported`), by qualified name
        self.budget = BUDGET
        self._memo: dict[tuple[int, Ctx], Vals] = {}
        self._active: set[tuple[int, Ctx]] = set()
        self._by_name: dict[str, Vals] = {}
        self._returns_memo: dict[int, Vals] = {}
        # (name, scope) -> the one value it is taken to hold while a string is built from it (`Resolver._joint`)
        self.pins: dict[tuple[str, int], object] = {}

    def values(self, expr: ast.AST, ctx: Ctx, depth: int = 0) -> Vals:
        """The values `expr`, evaluated at `ctx`, may hold; () when unknown."""
        if depth > MAX_DEPTH or self.budget <= 0:
            return ()
        key = (id(expr), ctx)
        found = self._memo.get(key) if not self.pins else None
        if found is not None:
            return found
        if key in self._active:
            return ()
        self._active.add(key)
        self.budget -= 1
        try:
            out = self._values(expr, ctx, depth)
        finally:
            self._active.discard(key)
        if len(out) > MAX_ALTS:
            out = ()
        if not self.pins:
            self._memo[key] = out
        return out

    def at(self, node: ast.AST, depth: int) -> Vals:
        return self.values(node, self.ix.locate(node), depth)

    def narrowed(self, call: ast.Call, arg: ast.expr, cls: ast.AST | None, vals: Vals, d: int) -> Vals:
        raise NotImplementedError

    def built_with(self, cls: str, attr: str, d: int, call: ast.Call | None = None) -> Vals:
        """What the module's calls of its class `cls` (or the one `call`) pass as the keyword `attr`:
        the fields an instance is built with (`Config(hf_repo_id="org/a", ...)`, a dataclass)."""
        calls = [call] if call is not None else self.ix.calls_by_name.get(cls, [])[:MAX_SITES]
        return union(self.at(k.value, d) for c in calls for k in c.keywords if k.arg == attr)

    def _values(self, e: ast.AST, ctx: Ctx, depth: int) -> Vals:
        raise NotImplementedError


def strings_in(vals: Vals, depth: int = 0) -> Iterator[str]:
    """Every string in `vals`, inside tables and lists too."""
    for v in vals:
        if isinstance(v, str):
            yield v
        elif depth < 4 and isinstance(v, Map):
            for _, entry in v.entries:
                yield from strings_in(entry, depth + 1)
        elif depth < 4 and isinstance(v, Seq):
            for item in v.items:
                yield from strings_in(item, depth + 1)


def last_name(e: ast.AST) -> str | None:
    if isinstance(e, ast.Attribute):
        return e.attr
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.Call):
        return last_name(e.func)
    return None


def option_dest(call: ast.Call, *, click: bool) -> str | None:
    """The attribute an argparse `add_argument` (or a click option) stores into."""
    dest = next((k.value for k in call.keywords if k.arg == "dest"), None)
    if isinstance(dest, ast.Constant) and isinstance(dest.value, str):
        return dest.value
    flags = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    if click:
        plain = [f for f in flags if not f.startswith("-")]
        if plain:
            return plain[0]
    longs = [f for f in flags if f.startswith("--")]
    chosen = longs[0] if longs else (flags[0] if flags else None)
    if chosen is None:
        return None
    return chosen.lstrip("-").replace("-", "_").lower() if click else chosen.lstrip("-").replace("-", "_")


def enclosing_class(ctx: Ctx) -> ast.ClassDef | None:
    for i in range(len(ctx) - 1, 0, -1):
        outer = ctx[i - 1].scope
        if isinstance(ctx[i].scope, FUNCTIONS) and isinstance(outer, ast.ClassDef):
            return outer
    return None
