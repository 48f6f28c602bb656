"""Keyword arguments that reach code through a function's `**kwargs`.

    def _inception_v3(*args, **kwargs):
        return torchvision.models.inception_v3(*args, **kwargs)

    inception = _inception_v3(weights="DEFAULT")   # the builder loads the DEFAULT weights

    def download_models(cls, *args, **kwargs):
        name = kwargs.get("sam_model", "sam_vit_b_01ec64")   # the default, and what callers pass

For a call that passes on the `**kwargs` parameter of the module-level function it sits in,
the keywords the function's call sites in the same module pass (bounded like other call sites);
for a `kwargs.get("k", ...)` read, the function whose `**kwargs` parameter it reads.
"""
from __future__ import annotations

import ast
from collections.abc import Collection

from ptmlock.scan.index import ModuleIndex
from ptmlock.scan.scopes import FUNCTIONS, PARAM, Ctx
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
