"""Facts about one parsed module that `scan.resolve` reads: imports, calls by callee name,
attribute assignments, class fields and `__init__` parameters, and (lazily, via `scan.scopes`)
each scope's bindings and each node's context. Built from one walk of the tree.
"""
from __future__ import annotations

import ast
from typing import Any

from ptmlock.scan.loaders import KNOWN_LIBRARIES
from ptmlock.scan.scopes import (
    FUNCTIONS,
    Ctx,
    ScopeIndex,
    build_scope,
    import_names,
    locate,
)

_LEAF_FIELDS = frozenset({
    "ctx", "op", "id", "attr", "arg", "name", "names", "kind", "type_comment", "level", "module",
    "conversion", "is_async", "simple", "value_kind",
})
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {ast.Name: (), ast.Constant: ()}
_CALL, _IMPORT, _ASSIGN, _FUNCTION, _CLASS = range(5)
_NOTED: dict[type, int] = {
    ast.Call: _CALL, ast.Import: _IMPORT, ast.ImportFrom: _IMPORT, ast.Assign: _ASSIGN, ast.AnnAssign: _ASSIGN,
    ast.FunctionDef: _FUNCTION, ast.AsyncFunctionDef: _FUNCTION, ast.ClassDef: _CLASS,
}


class ModuleIndex:
    """Everything `Resolver` needs to know about one module's tree."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.imports: dict[str, str] = {}
        self.star_modules: list[str] = []
        self.libraries: set[str] = set()
        self.calls: list[ast.Call] = []
        self.calls_by_name: dict[str, list[ast.Call]] = {}
        self.attr_assigns: dict[str, list[tuple[ast.Attribute, ast.expr]]] = {}  # attr -> (target, value)
        self.item_assigns: dict[str, list[tuple[ast.Subscript, ast.expr]]] = {}  # `d[k] = v`: name -> (target, v)
        self.class_fields: dict[str, list[ast.expr]] = {}
        self.init_params: dict[str, list[tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.ClassDef]]] = {}
        self.callbacks: list[ast.Call] = []  # calls with `inputs=`: Gradio `Interface(fn, inputs)`, `.click(...)`
        self.functions: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        self.classes: dict[str, list[ast.ClassDef]] = {}
        self.alias_names: set[str] = set()
        self._scopes: dict[int, ScopeIndex] = {}
        self._ctx: dict[int, Ctx] = {}
        self._walk()

    # -- the one full walk --------------------------------------------------------------------

    def _walk(self) -> None:
        # a hand-rolled ast.walk: ~3x faster, as it skips leaf fields (ctx, op, names, ...); one
        # dict lookup tells the few node types noted here from the rest (most nodes are names,
        # constants and attributes)
        stack: list[Any] = [self.tree]
        pop, push, extend = stack.pop, stack.append, stack.extend
        calls, by_name = self.calls, self.calls_by_name
        aliases: list[tuple[str, str]] = []
        child_fields = _CHILD_FIELDS
        noted = _NOTED
        ast_type = ast.AST
        while stack:
            node = pop()
            t = type(node)
            kind = noted.get(t)
            if kind is not None:
                if kind == _CALL:
                    calls.append(node)
                    f = node.func
                    tf = type(f)
                    key = f.id if tf is ast.Name else f.attr if tf is ast.Attribute else None
                    if key is not None:
                        by_name.setdefault(key, []).append(node)
                    for kw in node.keywords:
                        if kw.arg == "inputs":
                            self.callbacks.append(node)
                elif kind == _IMPORT:
                    for name, qualname in import_names(node):
                        self._add_import(name, qualname)
                    continue
                elif kind == _ASSIGN:
                    self._note_assign(node, aliases)
                elif kind == _FUNCTION:
                    self.functions.setdefault(node.name, []).append(node)
                else:
                    self._note_class(node)
            fields = child_fields.get(t)
            if fields is None:
                if not isinstance(node, ast_type):
                    continue  # None in Dict.keys, str in Global.names
                fields = child_fields[t] = tuple(f for f in node._fields if f not in _LEAF_FIELDS)
            for name in fields:
                v = getattr(node, name, None)
                if type(v) is list:
                    extend(v)
                elif v is not None and isinstance(v, ast_type):
                    push(v)
        calls.sort(key=lambda c: (c.lineno, c.col_offset))
        self.alias_names = {target for target, root in aliases if root in self.imports}

    def _add_import(self, name: str, qualname: str) -> None:
        if name == "*":
            self.star_modules.append(qualname)
        else:
            old = self.imports.get(name)
            # keep a known library over a fallback import (try: from transformers ... except: ...)
            if old is None or (qualname.split(".")[0] in KNOWN_LIBRARIES and old.split(".")[0] not in KNOWN_LIBRARIES):
                self.imports[name] = qualname
        top = qualname.split(".")[0]
        if top in KNOWN_LIBRARIES:
            self.libraries.add(top)

    def _note_assign(self, node: ast.Assign | ast.AnnAssign, aliases: list[tuple[str, str]]) -> None:
        value = node.value
        if value is None:
            return
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if isinstance(target, ast.Attribute):
                self.attr_assigns.setdefault(target.attr, []).append((target, value))
            elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                self.item_assigns.setdefault(target.value.id, []).append((target, value))
            elif isinstance(target, ast.Name) and isinstance(value, (ast.Name, ast.Attribute)):
                root: ast.expr = value
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name):
                    aliases.append((target.id, root.id))  # `hub = torch.hub`, `Model = AutoModel`

    def _note_class(self, node: ast.ClassDef) -> None:
        self.classes.setdefault(node.name, []).append(node)
        for stmt in node.body:
            if isinstance(stmt, ast.Assign) and stmt.value is not None:
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        self.class_fields.setdefault(target.id, []).append(stmt.value)
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
                self.class_fields.setdefault(stmt.target.id, []).append(stmt.value)
            elif isinstance(stmt, FUNCTIONS) and stmt.name == "__init__":
                a = stmt.args
                for arg in (a.posonlyargs + a.args)[1:] + a.kwonlyargs:
                    self.init_params.setdefault(arg.arg, []).append((stmt, node))

    # -- qualified names ----------------------------------------------------------------------

    def static_qualname(self, expr: ast.AST) -> str | None:
        """`tf.AutoModel` -> `transformers.AutoModel` through the imports alone (no assignments)."""
        parts: list[str] = []
        while isinstance(expr, ast.Attribute):
            parts.append(expr.attr)
            expr = expr.value
        if not isinstance(expr, ast.Name):
            return None
        head = self.imports.get(expr.id)
        if head is None:
            if not self.star_modules:
                return None
            # `from transformers import *`: an unbound name may come from a known library
            head = next((f"{m}.{expr.id}" for m in self.star_modules if m.split(".")[0] in KNOWN_LIBRARIES), None)
            if head is None:
                return None
        return ".".join([head, *reversed(parts)])

    # -- scopes -------------------------------------------------------------------------------

    def scope(self, node: ast.AST) -> ScopeIndex:
        """The bindings of one scope (module, class, function, lambda or comprehension)."""
        found = self._scopes.get(id(node))
        if found is None:
            found = self._scopes[id(node)] = build_scope(node)
        return found

    def locate(self, target: ast.AST) -> Ctx:
        """The scopes around `target`, outermost first, each with the position of what is inside."""
        found = self._ctx.get(id(target))
        if found is None:
            found = self._ctx[id(target)] = locate(self.tree, target)
        return found
