"""Keyword arguments that reach a call through its function's `**kwargs`.

    def _inception_v3(*args, **kwargs):
        return torchvision.models.inception_v3(*args, **kwargs)

    inception = _inception_v3(weights="DEFAULT")   # the builder loads the DEFAULT weights

For a call that passes on the `**kwargs` parameter of the module-level function it sits in,
the keywords the function's call sites in the same module pass (bounded like other call sites).
"""
from __future__ import annotations

import ast
from collections.abc import Collection

from ptmlock.scan.index import ModuleIndex
from ptmlock.scan.scopes import FUNCTIONS, Ctx
from ptmlock.scan.values import MAX_SITES


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
