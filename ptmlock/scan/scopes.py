"""Scopes of one module: the bindings of each scope (module, class, function, lambda,
comprehension) and where a node sits among them (`Frame`s, outermost first).

A binding records its conditional-block path, so that the resolver can tell the assignment that
surely ran before a use from the ones that only may have.
"""
from __future__ import annotations

import ast
import bisect
import sys
from dataclasses import dataclass, field

INF = (sys.maxsize, 0)

FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
_TRY = tuple(t for t in (ast.Try, getattr(ast, "TryStar", None)) if t is not None)
_MATCH = getattr(ast, "Match", None)

# binding kinds
ASSIGN, AUG, FOR, WITH, PARAM, IMPORT, DEF, CLASS = range(8)


@dataclass(frozen=True)
class Frame:
    """A scope and the position in it (line, col, conditional-block path) of what we look at."""

    scope: ast.AST
    path: tuple[int, ...]
    line: int
    col: int


Ctx = tuple[Frame, ...]


@dataclass(frozen=True, eq=False)
class Binding:
    """One place that binds a name in a scope; `pos` is where the binding takes effect,
    `start` where its value is evaluated, `path` the conditional blocks around it."""

    kind: int
    name: str
    value: ast.AST | None
    node: ast.AST
    pos: tuple[int, int]
    start: tuple[int, int]
    path: tuple[int, ...]
    unpack: tuple[int, ...] = ()
    qualname: str | None = None  # IMPORT: what the name refers to


@dataclass
class ScopeIndex:
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    globals: set[str] = field(default_factory=set)


def _pos(node: ast.AST) -> tuple[int, int]:
    return (node.lineno, node.col_offset)  # type: ignore[attr-defined]


def _end(node: ast.AST) -> tuple[int, int]:
    return (node.end_lineno or node.lineno, node.end_col_offset or 0)  # type: ignore[attr-defined]


def _start(node: ast.AST) -> tuple[int, int]:
    decorators = getattr(node, "decorator_list", None)
    return min([_pos(node)] + [_pos(d) for d in decorators]) if decorators else _pos(node)


def _span_has(node: ast.AST, a: tuple[int, int], b: tuple[int, int]) -> bool:
    return _start(node) <= a and b <= _end(node)


def _list_has(stmts: list[ast.stmt], a: tuple[int, int], b: tuple[int, int]) -> bool:
    return bool(stmts) and _start(stmts[0]) <= a and b <= _end(stmts[-1])



def import_names(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
    """(bound name, what it refers to) for one import statement; relative modules keep their dots."""
    out: list[tuple[str, str]] = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                out.append((alias.asname, alias.name))
            else:
                top = alias.name.split(".")[0]
                out.append((top, top))
    else:
        module = "." * node.level + (node.module or "")
        for alias in node.names:
            if alias.name == "*":
                qualname = module
            else:
                qualname = f"{module}.{alias.name}" if node.module else module + alias.name
            out.append((alias.asname or alias.name, qualname))
    return out


def build_scope(node: ast.AST) -> ScopeIndex:
    """The bindings of one scope node."""
    return _ScopeBuilder(node).build()


class _ScopeBuilder:
    def __init__(self, node: ast.AST) -> None:
        self.node = node
        self.index = ScopeIndex()

    def add(self, b: Binding) -> None:
        self.index.bindings.setdefault(b.name, []).append(b)

    def build(self) -> ScopeIndex:
        node = self.node
        if isinstance(node, (*FUNCTIONS, ast.Lambda)):
            a = node.args
            positional = a.posonlyargs + a.args
            defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
            params = list(zip(positional, defaults)) + list(zip(a.kwonlyargs, a.kw_defaults))
            params += [(v, None) for v in (a.vararg, a.kwarg) if v is not None]
            for arg, default in params:
                self.add(Binding(PARAM, arg.arg, default, arg, _pos(node), _pos(node), ()))
            if isinstance(node, ast.Lambda):
                return self.index
        if isinstance(node, COMPREHENSIONS):
            for gen in node.generators:
                self._bind_target(gen.target, FOR, gen.iter, gen, (), _end(gen.target), _pos(gen.iter))
            return self.index
        body = getattr(node, "body", [])
        self._stmts(body, ())
        for names in self.index.bindings.values():
            names.sort(key=lambda b: b.pos)
        return self.index

    def _bind_target(self, target: ast.AST, kind: int, value: ast.AST | None, node: ast.AST,
                     path: tuple[int, ...], pos: tuple[int, int], start: tuple[int, int],
                     unpack: tuple[int, ...] = ()) -> None:
        if isinstance(target, ast.Name):
            self.add(Binding(kind, target.id, value, node, pos, start, path, unpack))
        elif isinstance(target, (ast.Tuple, ast.List)):
            for i, elt in enumerate(target.elts):
                if isinstance(elt, ast.Starred):
                    self._bind_target(elt.value, kind, None, node, path, pos, start)
                else:
                    self._bind_target(elt, kind, value, node, path, pos, start, unpack + (i,))

    def _stmts(self, stmts: list[ast.stmt], path: tuple[int, ...]) -> None:
        for s in stmts:
            if isinstance(s, ast.Assign):
                for target in s.targets:
                    self._bind_target(target, ASSIGN, s.value, s, path, _end(s), _pos(s))
            elif isinstance(s, ast.AnnAssign):
                if s.value is not None:
                    self._bind_target(s.target, ASSIGN, s.value, s, path, _end(s), _pos(s))
            elif isinstance(s, ast.AugAssign):
                self._bind_target(s.target, AUG, s, s, path, _end(s), _pos(s))
            elif isinstance(s, (ast.For, ast.AsyncFor)):
                self._bind_target(s.target, FOR, s.iter, s, path, _end(s.target), _pos(s))
                self._stmts(s.body, path + (id(s.body),))
                self._stmts(s.orelse, path + (id(s.orelse),))
            elif isinstance(s, (ast.While, ast.If)):
                self._stmts(s.body, path + (id(s.body),))
                self._stmts(s.orelse, path + (id(s.orelse),))
            elif isinstance(s, (ast.With, ast.AsyncWith)):
                for item in s.items:
                    if item.optional_vars is not None:
                        self._bind_target(item.optional_vars, WITH, item.context_expr, s, path,
                                          _end(item.optional_vars), _pos(s))
                self._stmts(s.body, path)
            elif isinstance(s, _TRY):
                self._stmts(s.body, path)
                for h in s.handlers:
                    self._stmts(h.body, path + (id(h.body),))
                self._stmts(s.orelse, path + (id(s.orelse),))
                self._stmts(s.finalbody, path)
            elif _MATCH is not None and isinstance(s, _MATCH):
                for case in s.cases:
                    self._stmts(case.body, path + (id(case.body),))
            elif isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.add(Binding(DEF, s.name, s, s, _end(s), _pos(s), path))
            elif isinstance(s, ast.ClassDef):
                self.add(Binding(CLASS, s.name, s, s, _end(s), _pos(s), path))
            elif isinstance(s, (ast.Import, ast.ImportFrom)):
                for name, qualname in import_names(s):
                    if name != "*":
                        self.add(Binding(IMPORT, name, None, s, _end(s), _pos(s), path, qualname=qualname))
            elif isinstance(s, (ast.Global, ast.Nonlocal)):
                self.index.globals.update(s.names)


def locate(tree: ast.Module, target: ast.AST) -> Ctx:
    """The scopes around `target`, outermost first, each with the position of what is inside."""
    a, b = _pos(target), _end(target)
    frames: list[Frame] = []
    scope: ast.AST = tree
    path: tuple[int, ...] = ()
    stmts: list[ast.stmt] = tree.body
    node: ast.AST | None = None
    while True:
        i = bisect.bisect_right(stmts, a, key=_start) - 1
        s = stmts[i] if i >= 0 and b <= _end(stmts[i]) else None
        if s is None:
            break
        node = s
        if s is target:
            break
        nested: list[ast.stmt] | None = None
        new_path = path
        if isinstance(s, (*FUNCTIONS, ast.ClassDef)):
            if _list_has(s.body, a, b):
                frames.append(Frame(scope, path, *_pos(s)))
                scope, path, stmts = s, (), s.body
                continue
        elif isinstance(s, (ast.If, ast.For, ast.AsyncFor, ast.While)):
            for lst in (s.body, s.orelse):
                if _list_has(lst, a, b):
                    nested, new_path = lst, path + (id(lst),)
        elif isinstance(s, (ast.With, ast.AsyncWith)):
            if _list_has(s.body, a, b):
                nested = s.body
        elif isinstance(s, _TRY):
            for lst in (s.body, s.finalbody):
                if _list_has(lst, a, b):
                    nested = lst
            for lst in [h.body for h in s.handlers] + [s.orelse]:
                if _list_has(lst, a, b):
                    nested, new_path = lst, path + (id(lst),)
        elif _MATCH is not None and isinstance(s, _MATCH):
            for case in s.cases:
                if _list_has(case.body, a, b):
                    nested, new_path = case.body, path + (id(case.body),)
        if nested is None:
            break
        stmts, path = nested, new_path
    # inside one statement (or its header): lambdas and comprehensions open scopes
    while node is not None and node is not target:
        child = next((c for c in _positioned_children(node) if _span_has(c, a, b)), None)
        if child is None:
            break
        if isinstance(child, ast.Lambda) and _span_has(child.body, a, b):
            frames.append(Frame(scope, path, *_pos(child)))
            scope, path = child, ()
        elif isinstance(child, COMPREHENSIONS) and not _span_has(child.generators[0].iter, a, b):
            frames.append(Frame(scope, path, *_pos(child)))
            scope, path = child, ()
        node = child
    frames.append(Frame(scope, path, *a))
    return tuple(frames)


def _positioned_children(node: ast.AST) -> list[ast.AST]:
    # `arguments`, `comprehension`, `withitem`, `match_case` carry no position: look through them
    out: list[ast.AST] = []
    for child in ast.iter_child_nodes(node):
        if hasattr(child, "lineno"):
            out.append(child)
        elif not isinstance(child, (ast.expr_context, ast.operator, ast.boolop, ast.unaryop, ast.cmpop)):
            out.extend(_positioned_children(child))
    return out
