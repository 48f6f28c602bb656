"""Loaders wrapped in a project function and called, with literal ids, from other modules.

    # models.py                               # app.py
    def load_encoder(name):                   from models import load_encoder
        return AutoModel.from_pretrained(name)    enc = load_encoder("org/encoder")

Analysing `models.py` alone, the id is a parameter: a dynamic load. Each module-level function
whose parameter flows straight into a loader's id argument is recorded as a `Wrapper`; once
every file is analysed, `scan_paths` reads the files that mention a wrapper's name and reports
each call of it whose argument resolves to literal ids (`calls_to_wrappers`, which also reads
constants imported from the project's other modules: `scan.imported`), at the call site, with
the wrapper's qualified name as the loader. One level deep: a wrapper of a wrapper in a
third module is not followed (the inner wrapper's own call sites are), but a function that passes
its own parameter on to a wrapper has its calls in the same module read (`_fetch(url)`), and a
wrapper reached through `from <its module> import *` is one.

A call matches a wrapper when the imported name resolves (through `import`/`from ... import`,
relative imports included) to `<module>.<function>` and `<module>` is a dotted suffix of the
wrapper file's path (`src/pkg/models.py` answers `pkg.models`, `models` and `.models`).
"""
from __future__ import annotations

import ast
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ptmlock.scan import identity
from ptmlock.scan.forward import through_param
from ptmlock.scan.imported import ProjectModules
from ptmlock.scan.index import ModuleIndex
from ptmlock.scan.loaders import GENERIC_FETCHERS, URL, classify_id
from ptmlock.scan.resolve import Resolver
from ptmlock.scan.scopes import FUNCTIONS, Ctx
from ptmlock.scan.types import Finding
from ptmlock.scan.urls import NAMED_HELPER, fetches_weights, loads_a_model, url_ids
from ptmlock.scan.values import Vals

_MAX_SITES = 200  # calls of one wrapper reported per file


@dataclass(frozen=True)
class Wrapper:
    """A module-level function whose parameter `param` (position `index`) is a loader's id."""

    path: str
    function: str
    param: str
    index: int | None
    loader: str
    library: str
    hub: str
    repo_type: str

    def to_dict(self) -> dict[str, object]:
        return {"function": self.function, "param": self.param, "index": self.index, "loader": self.loader,
                "library": self.library, "hub": self.hub, "repo_type": self.repo_type}

    @classmethod
    def from_dict(cls, data: Mapping[str, object], path: str) -> Wrapper:
        index = data["index"]
        return cls(path=path, function=str(data["function"]), param=str(data["param"]),
                   index=index if isinstance(index, int) else None, loader=str(data["loader"]),
                   library=str(data["library"]), hub=str(data["hub"]), repo_type=str(data["repo_type"]))

    @property
    def module_parts(self) -> tuple[str, ...]:
        stem = os.path.splitext(os.path.normpath(self.path))[0]
        parts = tuple(p for p in stem.replace(os.sep, "/").split("/") if p not in ("", "."))
        return parts[:-1] if parts and parts[-1] == "__init__" else parts


def wrapper_param(expr: object, ctx: Ctx) -> tuple[str, str, int | None] | None:
    """(function, parameter, position) when `expr` is a bare parameter of the module-level function
    the call sits in, or of the `__init__` of a module-level class (then the "function" is the
    class, called as `Cls(...)`, and positions skip `self`); else None."""
    if not isinstance(expr, ast.Name) or not isinstance(ctx[-1].scope, FUNCTIONS):
        return None
    func = ctx[-1].scope
    positional = [a.arg for a in func.args.posonlyargs + func.args.args]
    name = func.name
    if len(ctx) == 3 and isinstance(ctx[1].scope, ast.ClassDef) and func.name == "__init__" and positional:
        name, positional = ctx[1].scope.name, positional[1:]
    elif len(ctx) != 2:
        return None
    if expr.id in positional:
        return name, expr.id, positional.index(expr.id)
    if expr.id in (a.arg for a in func.args.kwonlyargs):
        return name, expr.id, None
    return None


def calls_to_wrappers(path: str, text: str, wrappers: Sequence[Wrapper],
                      modules: ProjectModules | None = None, ix: ModuleIndex | None = None) -> list[Finding]:
    """Findings at each call in `text` (the file at `path`) of one of `wrappers`, where the
    wrapped argument resolves to literal Hub ids (reading constants imported from the project's
    other `modules`); a file that does not parse gives none. `ix`: the file's index, when the
    first pass built it (then `text` is not read)."""
    if ix is None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tree = ast.parse(text, filename=path)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return []
        ix = ModuleIndex(tree)
    r = Resolver(ix, modules.external(path) if modules is not None else None)
    by_name: dict[str, list[Wrapper]] = {}
    for w in wrappers:
        by_name.setdefault(w.function, []).append(w)
    out: list[Finding] = []
    for call in ix.calls:
        qualname = ix.static_qualname(call.func) or _star_imported(call, ix, by_name)
        if qualname is None:
            continue
        module, _, name = qualname.rpartition(".")
        for w in by_name.get(name, ()):
            if os.path.normpath(w.path) == os.path.normpath(path) or not module_matches(module, w.module_parts) \
                    or (w.hub == URL and NAMED_HELPER.search(name)):  # the first pass reports its URLs
                continue
            expr = _given(call, w.param, w.index)
            if expr is None:
                continue
            ctx = ix.locate(call)
            sites = [(call, expr)]
            inner = wrapper_param(through_param(expr, ctx, ix), ctx)
            if inner is not None:  # `def _fetch(url): utils.download(url, ...)`: its calls here are the sites
                outer = [(c, e) for c in ix.calls_by_name.get(inner[0], []) if isinstance(c.func, ast.Name)
                         for e in [_given(c, inner[1], inner[2])] if e is not None]
                sites = [(c, e) for c, e in outer if _ids(r.values(e, ix.locate(c)), w, ix.locate(c))[0]] or sites
            for site, given in sites:
                ids, hub = _ids(r.values(given, ix.locate(site)), w, ix.locate(site))
                if ids and len(out) < _MAX_SITES:
                    found = Finding(path=path, line=site.lineno, col=site.col_offset + 1,
                                    loader=".".join((*w.module_parts[-2:], w.function)), library=w.library,
                                    model_ids=tuple(dict.fromkeys(ids)), revision=None, hub=hub,
                                    repo_type=w.repo_type, ignored="ptmlock: ignore" in _line(text, site.lineno))
                    if found not in out:  # one parameter feeding two loaders of one wrapper: one finding
                        out.append(found)
    return out


def _star_imported(call: ast.Call, ix: ModuleIndex, by_name: Mapping[str, list[Wrapper]]) -> str | None:
    """`from .utils import *` then `load_file_from_url(...)`: the wrapper of that module."""
    name = call.func.id if isinstance(call.func, ast.Name) else None
    if name is None or name not in by_name or name in ix.functions:
        return None
    return next((f"{m}.{name}" for m in ix.star_modules
                 if any(module_matches(m, w.module_parts) for w in by_name[name])), None)


def _given(call: ast.Call, param: str, index: int | None) -> ast.expr | None:
    expr = next((k.value for k in call.keywords if k.arg == param), None)
    if expr is None and index is not None and index < len(call.args) \
            and not any(isinstance(a, ast.Starred) for a in call.args[: index + 1]):
        expr = call.args[index]
    return expr


def _ids(vals: Vals, w: Wrapper, ctx: Ctx) -> tuple[list[str], str]:
    if w.hub == URL:  # a download helper: the URLs (or Hub repos) it is given
        generic = w.loader in GENERIC_FETCHERS and not fetches_weights(w.function) and not loads_a_model(ctx)
        got = url_ids(vals, None, generic)
        return (list(got.ids), got.hub) if got.kind == "ids" else ([], w.hub)
    return [r for c in (classify_id(v) for v in vals if isinstance(v, str))
            if c.kind == "hf" for r in [identity.fetched_repo(c.value, w.library, w.loader)] if r], w.hub


def module_matches(module: str, parts: tuple[str, ...]) -> bool:
    """`module` names the wrapper's file, or its package (which re-exports it: `from facexlib.utils
    import load_file_from_url` for facexlib/utils/misc.py)."""
    dotted = tuple(p for p in module.lstrip(".").split(".") if p)
    return bool(dotted) and any(len(dotted) <= len(ps) and ps[len(ps) - len(dotted):] == dotted
                                for ps in (parts, parts[:-1]))


def _line(text: str, lineno: int) -> str:
    lines = text.splitlines()
    return lines[lineno - 1] if 0 < lineno <= len(lines) else ""


# an import line, its backslash continuations included (`from .utils import a,\` then `b`)
_LINE = rb"[^\n\\]*(?:\\\r?\n?[^\n\\]*)*"  # up to the end of the line, over `\` + newline
_IMPORT = re.compile(rb"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import[ \t]+(\([^)]*\)|" + _LINE + rb")"
                     rb"|import[ \t]+(" + _LINE + rb"))", re.M)
_WORD = re.compile(r"\w+")
_WORD_BYTES = re.compile(rb"\w+")  # the same words in ASCII text, without decoding it


class WrapperImports:
    """A cheap pre-filter: does a file import a wrapper by name, or a wrapper's module and call
    an attribute of that name (`.name(`)? Only the lines holding `import` are read (a `find`
    loop), not the whole file once per wrapper name; the calls are looked for once per file, by
    one regex (~8x faster than a substring scan per wrapper name). Import lines in ASCII (nearly
    all) are split into words and compared as bytes, without decoding."""

    def __init__(self, wrappers: list[Wrapper]) -> None:
        self.by_name: dict[str, list[Wrapper]] = {}
        for w in wrappers:
            self.by_name.setdefault(w.function, []).append(w)
        self.names = {n.encode(): n for n in self.by_name}
        self.modules = {w.module_parts[-1] for w in wrappers if w.module_parts}
        self.modules_bytes = {m.encode() for m in self.modules}
        self.called = re.compile(rb"\.(?:" + b"|".join(re.escape(n) for n in self.names) + rb")\(")

    def __call__(self, data: bytes) -> bool:
        statements = _import_statements(data)
        if not statements:
            return False
        # the whole file first: most name no wrapper and no wrapper's module at all
        imported, module_word = self._words(b"\n".join(names for _, names in statements))
        if not imported and not module_word and not any(self._star(module, names) for module, names in statements):
            return False
        calls: bool | None = None
        for module, names in statements:
            imported, module_word = self._words(names)
            if any(module_matches(module, w.module_parts) for n in imported for w in self.by_name[n]) \
                    and _calls_a_name(data, names):
                return True  # `from <the wrapper's module or package> import <wrapper>`, then a call of it
            # a wrapper's module bound to a name (`import m`, `from p import m`, `import p.m as x`),
            # then `.name(`; the module a `from` statement reads binds no name (`from p.m import X`)
            if calls is not False and module_word:
                if calls is None:
                    calls = self.called.search(data) is not None
                if calls:
                    return True
            if self._star(module, names) and any(
                    any(module_matches(module, w.module_parts) for w in ws) and n.encode() + b"(" in data
                    for n, ws in self.by_name.items()):  # `from <the wrapper's module> import *`
                return True
        return False

    def may_import(self, lines: bytes) -> bool:
        """Can a file whose import lines (`prefilter.quick_bytes_scan`) are `lines` import a
        wrapper? Only if an import statement binds a wrapper's name or the last part of its
        module (`__call__` reads nothing else of them), or imports `*` from that module. The
        words of all the lines are tried first: most files name neither anywhere."""
        if not lines.isascii():
            return True
        words = set(_WORD_BYTES.findall(lines))
        if words.isdisjoint(self.names) and words.isdisjoint(self.modules_bytes):
            return False
        for module, names in _import_statements(lines):
            imported, module_word = self._words(names)
            if imported or module_word or self._star(module, names):
                return True
        return False

    def _star(self, module: str, names: bytes) -> bool:
        """`from <a wrapper's module> import *`."""
        return names.strip() == b"*" and module.rsplit(".", 1)[-1] in self.modules

    def _words(self, names: bytes) -> tuple[set[str], bool]:
        """The wrapper names among the words of an import's name list, and whether a wrapper's
        module is one of them."""
        if names.isascii():
            words = set(_WORD_BYTES.findall(names))
            return {self.names[w] for w in words & self.names.keys()}, not self.modules_bytes.isdisjoint(words)
        text = set(_WORD.findall(names.decode("utf-8", "replace")))
        return text & self.by_name.keys(), not self.modules.isdisjoint(text)


def _calls_a_name(data: bytes, names: bytes) -> bool:
    """Is one of the names an import statement binds (a wrapper, or the alias it is bound to)
    called in `data`? A package's `__init__.py` that only re-exports a wrapper calls none."""
    words = {w for w in _WORD_BYTES.findall(names) if w != b"as"} if names.isascii() else \
        {w.encode() for w in _WORD.findall(names.decode("utf-8", "replace")) if w != "as"}
    return any(re.search(rb"(?<![\w.])" + re.escape(w) + rb"\s*\(", data) for w in words if w in data)


def _import_statements(data: bytes) -> list[tuple[str, bytes]]:
    """(module, the list of names) of each import statement: `from m import (a, b as c)` gives
    ("m", b"(a, b as c)"), `import x.y` gives ("", b"x.y")."""
    out: list[tuple[str, bytes]] = []
    find = data.find
    i = find(b"import")
    while i >= 0:
        m = _IMPORT.match(data, data.rfind(b"\n", 0, i) + 1)
        if m is not None:
            module, listed, plain = m.groups()
            out.append((module.decode() if module else "", listed or plain or b""))  # ASCII: `[\w.]+` in bytes
            if m.end() > i:
                i = find(b"import", m.end())
                continue
        end = find(b"\n", i)
        i = find(b"import", end) if end >= 0 else -1
    return out
