"""Keyword arguments that reach code through a function's `**kwargs`.

    def _inception_v3(*args, **kwargs):
        return torchvision.models.inception_v3(*args, **kwargs)

    inception = _inception_v3(weights="DEFAULT")   # the builder loads the DEFAULT weights

    def download_models(cls, *args, **kwargs):
        name = kwargs.get("sam_model", "sam_vit_b_01ec64")   # the default, and what callers pass

For a call that passes on the `**kwargs` parameter of the module-level function it sits in,
the keywords the function's call sites in the same module pass (bounded like other call sites);
for a `kwargs.get("k", ...)` read, the function whose `**kwargs` parameter it reads; for a loop
variable over a parameter made a list, that parameter (`through_param`).
"""
from __future__ import annotations

import ast
from collections.abc import Collection

from ptmlock.scan.index import ModuleIndex
from ptmlock.scan.scopes import ASSIGN, FOR, FUNCTIONS, PARAM, Ctx, ScopeIndex
from ptmlock.scan.values import MAX_SITES

Function = ast.FunctionDef | ast.AsyncFunctionDef


def forwarded(call: ast.Call, ctx: Ctx, ix: ModuleIndex, names: Collection[str]) -> list[tuple[str, ast.expr, Ctx]]:
    """(keyword, value, where the value is written) for each keyword in `names` that callers of
    the enclosing function pass into the `**kwargs` that `call` forwards."""
    star = next((k.value for k in call.keywords if k.arg is None), None)
    if not isinstance(star, ast.Name) or len(ctx) != 2 or not isinstance(ctx[-1].scope, FUNCTIONS):
        return []
    func = ctx[-1].scope
    if func.args.kwarg is None or func.args.kwarg.arg != star.id:
        return []
    out: list[tuple[str, ast.expr, Ctx]] = []
    for site in ix.calls_by_name.get(func.name, [])[:MAX_SITES]:
        if isinstance(site.func, ast.Name):
            out.extend((k.arg, k.value, ix.locate(site)) for k in site.keywords if k.arg and k.arg in names)
    return out


def kwargs_owner(name: str, ctx: Ctx, ix: ModuleIndex) -> tuple[Function, ast.AST | None] | None:
    """(the function, the scope around it) when `name`, read at `ctx`, is that function's `**name`
    parameter and nothing else in the function rebinds it; else None."""
    for i in range(len(ctx) - 1, -1, -1):
        scope = ctx[i].scope
        bindings = ix.scope(scope).bindings.get(name)
        if not bindings or isinstance(scope, ast.ClassDef) and i < len(ctx) - 1:
            continue
        if not isinstance(scope, FUNCTIONS) or scope.args.kwarg is None or scope.args.kwarg.arg != name \
                or any(b.kind != PARAM for b in bindings):
            return None
        return scope, ctx[i - 1].scope if i else None
    return None


def through_param(expr: ast.expr, ctx: Ctx, ix: ModuleIndex) -> ast.expr:
    """The parameter a loop variable walks, when the list it walks is the parameter made a list:

        def download_weights(file_name, source_url):           # a URL, or a list of mirrors
            urls = [source_url] if isinstance(source_url, str) else list(source_url)
            for i, url in enumerate(urls):
                gdown.download(url, ...)                        # -> `source_url`

    Also a plain alias (`url = source_url`) or a request for it (`req = Request(url)`). Else `expr`."""
    if not isinstance(expr, ast.Name) or not ctx or not isinstance(ctx[-1].scope, FUNCTIONS):
        return expr
    scope = ix.scope(ctx[-1].scope)
    name = _walked(expr.id, scope, 0)
    return ast.Name(id=name, ctx=ast.Load()) if name is not None else expr


def _walked(name: str, scope: ScopeIndex, depth: int, element: bool = False) -> str | None:
    """The parameter whose value (or, `element`, whose items) `name` holds, through one binding."""
    bindings = scope.bindings.get(name, [])
    if depth > 4 or len(bindings) != 1:
        return None
    b = bindings[0]
    if b.kind == PARAM:
        return name if depth else None  # a parameter itself is no alias of one
    if b.kind == FOR and isinstance(b.value, ast.expr):
        source = b.value
        if b.unpack == (1,) and isinstance(source, ast.Call) and isinstance(source.func, ast.Name) \
                and source.func.id == "enumerate" and len(source.args) == 1:
            source = source.args[0]
        elif b.unpack:
            return None
        return _listed(source, scope, depth + 1)
    if b.kind == ASSIGN and not b.unpack and isinstance(b.value, ast.expr):
        value = b.value
        if isinstance(value, ast.Call) and value.args and _called(value) == "Request":  # `Request(url, headers=...)`
            value = value.args[0]
        return _listed(value, scope, depth + 1) if element else _alias(value, scope, depth + 1)
    return None


def _called(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _alias(value: ast.expr, scope: ScopeIndex, depth: int) -> str | None:
    return _walked(value.id, scope, depth) if isinstance(value, ast.Name) else None


def _listed(value: ast.expr, scope: ScopeIndex, depth: int) -> str | None:
    """The parameter a list expression holds the items of: `[p]`, `list(p)`, `p`, an if of those."""
    if isinstance(value, ast.IfExp):
        a, b = _listed(value.body, scope, depth), _listed(value.orelse, scope, depth)
        return a if a is not None and a == b else None
    if isinstance(value, (ast.List, ast.Tuple)) and len(value.elts) == 1:
        return _alias(value.elts[0], scope, depth)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in ("list", "tuple") \
            and len(value.args) == 1 and not value.keywords:
        return _alias(value.args[0], scope, depth)
    if isinstance(value, ast.Name):
        return _alias(value, scope, depth) or _walked(value.id, scope, depth, element=True)
    return None
