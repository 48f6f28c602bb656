"""Constants that a module imports from another module of the project, for the calls of project
helpers (`scan.wrappers`, the second pass):

    # easyocr/config.py                         # easyocr/easyocr.py
    recognition_models = {"gen2": {             from .config import *
        "english_g2": {"url": "https://..."}}}  download_and_unzip(recognition_models["gen2"][net]["url"], ...)

A name bound by `from <module> import NAME` (relative or absolute), an attribute of an imported
project module, or a name a `from <module> import *` may bind, resolves to that module's
module-level value when the module is one of the scanned files. Only strings, numbers, lists and
dicts cross the module boundary, and only one hop (the other module's own imports are not
followed). The second pass's cache key holds the content of every scanned Python file, so an
edited constants module is read again.
"""
from __future__ import annotations

import ast
import os
import warnings
from collections.abc import Callable, Mapping

from ptmlock.scan.index import ModuleIndex
from ptmlock.scan.resolve import Resolver
from ptmlock.scan.scopes import INF, Frame
from ptmlock.scan.values import Map, Seq, Vals

Reader = Callable[[str, str], "str | None"]  # (path, root) -> the file's text

_MAX_UP = 8  # directories searched upwards for an absolute import's package


class ProjectModules:
    """The project's Python files (normalised path -> scan root) and a reader for them."""

    def __init__(self, files: Mapping[str, str], read: Reader) -> None:
        self.files = files
        self.read = read
        self._resolvers: dict[str, Resolver | None] = {}

    def module_file(self, importer: str, dotted: str) -> str | None:
        """The scanned file `dotted` (`.config`, `pkg.urls`) names, imported from `importer`."""
        level = len(dotted) - len(dotted.lstrip("."))
        parts = [p for p in dotted.lstrip(".").split(".") if p]
        base = os.path.dirname(os.path.normpath(importer))
        bases: list[str] = []
        if level:
            for _ in range(level - 1):
                base = os.path.dirname(base)
            bases.append(base)
        else:
            for _ in range(_MAX_UP):
                bases.append(base)
                if os.path.dirname(base) == base:
                    break
                base = os.path.dirname(base)
        for b in bases:
            stem = os.path.join(b, *parts)
            for candidate in (stem + ".py", os.path.join(stem, "__init__.py")):
                if os.path.normpath(candidate) in self.files:
                    return os.path.normpath(candidate)
        return None

    def external(self, importer: str) -> Callable[[str], Vals]:
        """The hook `Resolver` calls with a qualified name (`.config.recognition_models`)."""
        def resolve(qualname: str) -> Vals:
            module, _, name = qualname.rpartition(".")
            path = self.module_file(importer, module) if module.strip(".") else None
            if path is None or path == os.path.normpath(importer):
                return ()
            r = self._resolver(path)
            if r is None:
                return ()
            frame = Frame(r.ix.tree, (), *INF)
            return plain(r.values(ast.Name(id=name, ctx=ast.Load()), (frame,)))
        return resolve

    def _resolver(self, path: str) -> Resolver | None:
        if path not in self._resolvers:
            text = self.read(path, self.files[path])
            tree = None
            if text is not None:
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        tree = ast.parse(text, filename=path)
                except (SyntaxError, ValueError, RecursionError, MemoryError):
                    tree = None
            self._resolvers[path] = Resolver(ModuleIndex(tree)) if tree is not None else None
        return self._resolvers[path]


def plain(vals: Vals, depth: int = 0) -> Vals:
    """`vals` without what only means something in its own module (classes, functions, markers)."""
    if depth > 8:
        return ()
    out: list[object] = []
    for v in vals:
        if v is None or isinstance(v, (str, int, float)):
            out.append(v)
        elif isinstance(v, Seq):
            out.append(Seq(tuple(plain(item, depth + 1) for item in v.items)))
        elif isinstance(v, Map):
            out.append(Map(tuple((plain(k, depth + 1), plain(x, depth + 1)) for k, x in v.entries)))
    return tuple(out)
