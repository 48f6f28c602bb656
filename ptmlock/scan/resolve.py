"""What values an expression can hold, decided from the source alone.

`Resolver.values(expr, ctx)` returns the tuple of values `expr` may evaluate to (see
`scan.values`). It is a "may" analysis: `x or "a"`, `if x is None: x = "a"` and an argparse
default all contribute their static values and drop the unknown part. Names are resolved
flow-sensitively within a scope: the last assignment that surely ran before the use, plus the
conditional ones after it.
"""
from __future__ import annotations

import ast
import itertools
from collections.abc import Callable, Iterable
from typing import TypeVar

from ptmlock.scan.calls import CallsMixin
from ptmlock.scan.narrow import receiver_table
from ptmlock.scan.scopes import (
    AUG,
    COMPREHENSIONS,
    FOR,
    FUNCTIONS,
    IMPORT,
    INF,
    PARAM,
    WITH,
    Binding,
    Ctx,
    Frame,
)
from ptmlock.scan.values import (
    LOCAL,
    MAX_ALTS,
    MAX_ELTS,
    OBJ,
    PARTIAL,
    PERCENT_SAFE,
    ClassRef,
    FuncRef,
    ImportRef,
    InstRef,
    Map,
    Marker,
    Seq,
    Vals,
    enclosing_class,
    members,
    partial_ok,
    product,
    strings_in,
    strs,
    truthy,
    union,
    unpack,
)


_E = TypeVar("_E", ast.JoinedStr, ast.BinOp)
_MAX_PINNED = 32  # table entries a string is built from one by one


class Resolver(CallsMixin):
    """Static values of expressions in one module (see the module docstring)."""

    # -- expressions --------------------------------------------------------------------------

    def _values(self, e: ast.AST, ctx: Ctx, depth: int) -> Vals:
        d = depth + 1
        if isinstance(e, ast.Constant):
            v = e.value
            return (v,) if v is None or isinstance(v, (str, int, float)) else ()
        if isinstance(e, ast.Name):
            return self._name(e.id, ctx, d)
        if isinstance(e, ast.Attribute):
            return self._attribute(e, ctx, d)
        if isinstance(e, ast.Subscript):
            return self._subscript(e, ctx, d)
        if isinstance(e, ast.Call):
            return self._call(e, ctx, d)
        if isinstance(e, ast.JoinedStr):
            return self._joint(e, ctx, d, self._fstring)
        if isinstance(e, ast.BinOp):
            return self._joint(e, ctx, d, self._binop)
        if isinstance(e, ast.BoolOp):
            vs = [self.values(v, ctx, d) for v in e.values]
            if isinstance(e.op, ast.And):
                return vs[-1]
            return union([*(truthy(v) for v in vs[:-1]), vs[-1]])
        if isinstance(e, ast.IfExp):
            return union([self.values(e.body, ctx, d), self.values(e.orelse, ctx, d)])
        if isinstance(e, (ast.List, ast.Tuple, ast.Set)):
            return self._seq(e.elts, ctx, d)
        if isinstance(e, ast.Dict):
            return self._dict(e, ctx, d)
        if isinstance(e, ast.NamedExpr):
            return self.values(e.value, ctx, d)
        if isinstance(e, ast.Lambda):
            return (OBJ,)
        if isinstance(e, COMPREHENSIONS):
            inner = ctx + (Frame(e, (), e.lineno, e.col_offset),)
            if isinstance(e, ast.DictComp):
                return (Map(((self.values(e.key, inner, d), self.values(e.value, inner, d)),)),)
            return (Seq((self.values(e.elt, inner, d),)),)
        return ()

    def _seq(self, elts: list[ast.expr], ctx: Ctx, d: int) -> Vals:
        if len(elts) > MAX_ELTS:
            return ()
        items: list[Vals] = []
        for elt in elts:
            if isinstance(elt, ast.Starred):
                for v in self.values(elt.value, ctx, d):
                    if isinstance(v, Seq):
                        items.extend(v.items)
            else:
                items.append(self.values(elt, ctx, d))
        return (Seq(tuple(items)),)

    def _dict(self, e: ast.Dict, ctx: Ctx, d: int) -> Vals:
        if len(e.keys) > MAX_ELTS:
            return ()
        entries: list[tuple[Vals, Vals]] = []
        for k, v in zip(e.keys, e.values):
            if k is None:
                entries.extend(x for m in self.values(v, ctx, d) if isinstance(m, Map) for x in m.entries)
            else:
                entries.append((self.values(k, ctx, d), self.values(v, ctx, d)))
        return (Map(tuple(entries)),)

    def _joint(self, e: _E, ctx: Ctx, d: int, build: Callable[[_E, Ctx, int], Vals]) -> Vals:
        """A string built from two reads of one table entry, `spec = MODELS[name]` then
        `f"{spec['repo']}/resolve/{spec['rev']}"`: built once per entry (with `spec` pinned to it),
        not from the repos of some entries and the revisions of others."""
        roots = [n.value.id for n in ast.walk(e) if isinstance(n, (ast.Subscript, ast.Attribute))
                 and isinstance(n.value, ast.Name) and n.value.id not in ("self", "cls")]
        shared = next((r for r in dict.fromkeys(roots) if roots.count(r) > 1), None)
        if shared is None or self.pins:
            return build(e, ctx, d)
        entries = self._name(shared, ctx, d)
        if not 1 < len(entries) <= _MAX_PINNED or not all(isinstance(v, (Map, Seq)) for v in entries):
            return build(e, ctx, d)
        out: list[Vals] = []
        key = (shared, id(ctx[-1].scope))
        for entry in entries:
            self.pins[key] = entry
            try:
                out.append(build(e, ctx, d))
            finally:
                del self.pins[key]
        return union(out)

    def _fstring(self, e: ast.JoinedStr, ctx: Ctx, d: int) -> Vals:
        parts: list[list[str]] = []
        local = False
        for part in e.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                parts.append([part.value])
                continue
            if not isinstance(part, ast.FormattedValue) or part.format_spec is not None \
                    or part.conversion not in (-1, 115):  # only plain `{x}` / `{x!s}`
                return ()
            vals = self.values(part.value, ctx, d)
            local = local or LOCAL in vals
            texts = [str(v) for v in vals if isinstance(v, (str, int)) and not isinstance(v, bool)]
            if not texts and not local and partial_ok(s for p in parts for s in p):
                texts = [PARTIAL]  # a URL with a run-time part: its host and repo may still be known
            if not texts:
                return (LOCAL,) if local else ()
            parts.append(texts)
        joined = product(parts)
        return () if joined is None else tuple(joined) + ((LOCAL,) if local else ())

    def _binop(self, e: ast.BinOp, ctx: Ctx, d: int) -> Vals:
        left, right = self.values(e.left, ctx, d), self.values(e.right, ctx, d)
        if isinstance(e.op, ast.Div):
            return (LOCAL,) if LOCAL in left or LOCAL in right else ()
        if LOCAL in left or LOCAL in right:
            return (LOCAL,)
        if isinstance(e.op, ast.Add):
            rights = strs(right) or ([PARTIAL] if not right and partial_ok(strs(left)) else [])
            joined = product([strs(left), rights])
            seqs = [Seq(a.items + b.items) for a in left if isinstance(a, Seq) for b in right if isinstance(b, Seq)]
            return tuple(joined or ()) + tuple(seqs)
        if isinstance(e.op, ast.Mod):
            out: list[str] = []
            for template in strs(left):
                if not PERCENT_SAFE.match(template):
                    return ()
                for arg in right:
                    combos: Iterable[tuple[object, ...]]
                    if isinstance(arg, Seq):
                        if len(arg.items) > 8:
                            return ()
                        combos = itertools.product(*arg.items)
                    elif isinstance(arg, Map) or isinstance(arg, (Marker, ImportRef, ClassRef, InstRef, FuncRef)):
                        continue
                    else:
                        combos = [(arg,)]
                    for combo in combos:
                        try:
                            out.append(template % combo)
                        except (TypeError, ValueError, KeyError):
                            pass
                        if len(out) > MAX_ALTS:
                            return ()
            return tuple(out)
        return ()

    # -- names --------------------------------------------------------------------------------

    def _name(self, name: str, ctx: Ctx, d: int) -> Vals:
        if self.pins and (name, id(ctx[-1].scope)) in self.pins:
            return (self.pins[(name, id(ctx[-1].scope))],)
        i = len(ctx) - 1
        pos, path = (ctx[i].line, ctx[i].col), ctx[i].path
        while i >= 0:
            scope = ctx[i].scope
            if i == len(ctx) - 1 or not isinstance(scope, ast.ClassDef):
                si = self.ix.scope(scope)
                if name in si.globals and i > 0:
                    pos, path, i = INF, (), 0
                    continue
                bindings = si.bindings.get(name)
                if bindings:
                    return self._bindings(bindings, ctx[: i + 1], pos, path, d)
            i -= 1
            if i >= 0:
                if isinstance(scope, COMPREHENSIONS):
                    pos, path = (ctx[i].line, ctx[i].col), ctx[i].path
                else:  # a function body runs later: every binding of the outer scope may be visible
                    pos, path = INF, ()
        if self.external is not None:  # `from .config import *` may bind it
            return union(self.external(f"{m}.{name}") for m in self.ix.star_modules)
        return ()

    def _bindings(self, bindings: list[Binding], prefix: Ctx, pos: tuple[int, int], path: tuple[int, ...],
                  d: int) -> Vals:
        before = [b for b in bindings if b.pos <= pos] or bindings
        start = 0
        for j in range(len(before) - 1, -1, -1):  # the last binding that surely ran before us
            if path[: len(before[j].path)] == before[j].path:
                start = j
                break
        return union(self._binding(b, prefix, d) for b in before[start:])

    def _binding(self, b: Binding, prefix: Ctx, d: int) -> Vals:
        scope = prefix[-1].scope
        bctx = prefix[:-1] + (Frame(scope, b.path, *b.start),)
        k = b.kind
        if k == IMPORT:
            found = self.external(b.qualname or b.name) if self.external is not None else ()
            return found or (ImportRef(b.qualname or b.name),)
        if isinstance(b.value, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return (FuncRef(b.value),)
        if isinstance(b.value, ast.ClassDef):
            return (ClassRef(b.value),)
        if k == PARAM:
            return self._param(b, prefix, d)
        if b.value is None:
            return ()
        if k == AUG:
            aug = b.value
            if not isinstance(aug, ast.AugAssign) or not isinstance(aug.op, ast.Add):
                return ()
            joined = product([strs(self._name(b.name, bctx, d)), strs(self.values(aug.value, bctx, d))])
            return tuple(joined or ())
        if k == FOR:
            return unpack(members(self.values(b.value, bctx, d)), b.unpack)
        if k == WITH:
            return (LOCAL,) if LOCAL in self.values(b.value, bctx, d) else ()
        if isinstance(b.value, ast.Dict) and not b.value.keys and not b.unpack and b.name in self.ix.item_assigns:
            return (self._filled(b.name, scope, d),)
        value: ast.AST = b.value
        path = b.unpack
        while path and isinstance(value, (ast.Tuple, ast.List)) and path[0] < len(value.elts) \
                and not any(isinstance(x, ast.Starred) for x in value.elts):
            value, path = value.elts[path[0]], path[1:]
        found = unpack(self.values(value, bctx, d), path)
        added = self._updates(b.name, scope, d) if not path and "update" in self.ix.calls_by_name else []
        return tuple(Map(v.entries + tuple(added)) if isinstance(v, Map) else v for v in found) if added else found

    def narrowed(self, call: ast.Call, arg: ast.expr, cls: ast.AST | None, vals: Vals, d: int) -> Vals:
        """`vals` of `arg` passed at `call` to a method of class `cls`, less the entries of a table
        that only other classes chosen with the same key get (`narrow.receiver_table`)."""
        func = next((f.scope for f in reversed(self.ix.locate(call)) if isinstance(f.scope, FUNCTIONS)), None)
        found = receiver_table(func, call, arg, cls.name) if func and isinstance(cls, ast.ClassDef) else None
        if found is None:
            return vals
        base, reaches = found
        keep = {s for m in self.at(base, d) if isinstance(m, Map) for keys, entry in m.entries
                if any(isinstance(k, str) and reaches(k) for k in keys) for s in strings_in(entry)}
        return tuple(v for v in vals if not isinstance(v, str) or v in keep) if keep else vals

    def _updates(self, name: str, scope: ast.AST, d: int) -> list[tuple[Vals, Vals]]:
        """The entries `name.update({...})` (or `name.update(k=v)`) calls in the same scope add to a table."""
        out: list[tuple[Vals, Vals]] = []
        for call in self.ix.calls_by_name["update"][:MAX_ELTS]:
            f = call.func
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == name \
                    and self.ix.locate(call)[-1].scope is scope:
                out.extend(x for a in call.args for m in self.at(a, d) if isinstance(m, Map) for x in m.entries)
                out.extend(((k.arg,), self.at(k.value, d)) for k in call.keywords if k.arg)
        return out

    def _filled(self, name: str, scope: ast.AST, d: int) -> Map:
        """`MODEL_URLS = {}` then `MODEL_URLS["all"] = {...}` in the same scope: the entries it gets."""
        assigns = sorted(self.ix.item_assigns[name][:MAX_ELTS], key=lambda tv: (tv[0].lineno, tv[0].col_offset))
        entries: list[tuple[Vals, Vals]] = []
        for t, v in assigns:
            if self.ix.locate(t)[-1].scope is not scope:
                continue
            vals = self.at(v, d)
            # a run-time key (`for name in ...: d[name] = ...`) makes a table only of data, not of classes
            if isinstance(t.slice, ast.Constant) or all(isinstance(x, (str, int, float, Map, Seq)) for x in vals):
                entries.append((self.at(t.slice, d), vals))
        return Map(tuple(entries))

    def _param(self, b: Binding, prefix: Ctx, d: int) -> Vals:
        func = prefix[-1].scope
        out: list[Vals] = []
        if b.value is not None and len(prefix) > 1:
            out.append(self.values(b.value, prefix[:-1], d))
        if isinstance(func, FUNCTIONS):
            outer = prefix[-2].scope if len(prefix) > 1 else None
            out.append(self._cli_option(func, b.name, d))
            out.append(self._call_sites(func, b.name, outer, d))
        return union(out)

    # -- attributes and subscripts ------------------------------------------------------------

    def _attribute(self, e: ast.Attribute, ctx: Ctx, d: int) -> Vals:
        base, attr = e.value, e.attr
        if isinstance(base, ast.Name) and base.id in ("self", "cls"):
            cls = enclosing_class(ctx)
            found = self._class_attr(cls, attr, d) if cls is not None else ()
            return found or self._attr_by_name(attr, d)
        bases = self.values(base, ctx, d)
        out: list[Vals] = []
        for v in bases:
            if isinstance(v, ImportRef):
                found = self.external(f"{v.qualname}.{attr}") if self.external is not None else ()
                out.append(found or (ImportRef(f"{v.qualname}.{attr}"),))
            elif isinstance(v, (ClassRef, InstRef)):
                out.append(self._class_attr(v.node, attr, d))
                if isinstance(v, InstRef):
                    out.append(self.built_with(v.node.name, attr, d, v.call))
            elif isinstance(v, Map):
                out.extend(val for keys, val in v.entries if attr in keys)
            elif isinstance(v, str) and attr == "value":  # an Enum member's value
                out.append((v,))
        found = union(out)
        if found or any(isinstance(v, ImportRef) for v in bases):
            return found
        return self._attr_by_name(attr, d)

    def _class_attr(self, cls: ast.ClassDef, attr: str, d: int, seen: frozenset[int] = frozenset()) -> Vals:
        if id(cls) in seen:
            return ()
        out: list[Vals] = []
        bindings = self.ix.scope(cls).bindings.get(attr)
        if bindings:
            prefix = self.ix.locate(cls) + (Frame(cls, (), *INF),)
            out.append(self._bindings(bindings, prefix, INF, (), d))
        start, end = (cls.lineno, cls.col_offset), (cls.end_lineno or 0, cls.end_col_offset or 0)
        for target, value in self.ix.attr_assigns.get(attr, []):
            if isinstance(target.value, ast.Name) and target.value.id in ("self", "cls") \
                    and start <= (target.lineno, target.col_offset) <= end:
                out.append(self.at(value, d))
        if not any(out):
            for base in cls.bases:
                for v in self.at(base, d):
                    if isinstance(v, ClassRef):
                        out.append(self._class_attr(v.node, attr, d + 1, seen | {id(cls)}))
        return union(out)

    def _subscript(self, e: ast.Subscript, ctx: Ctx, d: int) -> Vals:
        if isinstance(e.slice, ast.Slice):
            return ()
        bases = self.values(e.value, ctx, d)
        if not any(isinstance(v, (Seq, Map)) for v in bases):
            return ()
        # a literal key picks one member; any other key is a choice among all of them
        keys = (e.slice.value,) if isinstance(e.slice, ast.Constant) else ()
        out: list[Vals] = []
        for v in bases:
            if isinstance(v, Map):
                matched = [val for ks, val in v.entries if any(k in ks for k in keys)]
                out.extend(matched or [val for _, val in v.entries])
            elif isinstance(v, Seq):
                ints = [k for k in keys if isinstance(k, int) and not isinstance(k, bool)]
                picked = [v.items[i] for i in ints if -len(v.items) <= i < len(v.items)]
                out.extend(picked or v.items)
        return union(out)
