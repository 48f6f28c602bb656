"""Reading a call's arguments as the scanner sees them: by position or keyword, as written."""
from __future__ import annotations

import ast

from ptmlock.scan.values import ImportRef, Vals

MISSING = ast.Constant(value=None)  # stands for "argument not given"


def arg(call: ast.Call, pos: int | None, kws: tuple[str, ...]) -> ast.expr:
    for k in call.keywords:
        if k.arg in kws:
            return k.value
    if pos is not None and pos < len(call.args):
        if any(isinstance(a, ast.Starred) for a in call.args[: pos + 1]):
            return MISSING
        return call.args[pos]
    return MISSING


def has_star(call: ast.Call) -> bool:
    return any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords)


def dir_like(expr: ast.expr) -> bool:
    """`output_dir`, `args.save_dir`, `tmpdirname`: names that hold a local directory."""
    name = expr.id if isinstance(expr, ast.Name) else expr.attr if isinstance(expr, ast.Attribute) else ""
    name = name.lower()
    return name.endswith(("dir", "dirname", "folder")) or name in ("tmp", "tmp_path")


def weights_text(expr: ast.expr, vals: Vals, qualname: str | None) -> str | None:
    """`ResNet50_Weights.IMAGENET1K_V2`, `"DEFAULT"`: the torchvision weights as written."""
    strs = [v for v in vals if isinstance(v, str)]
    if len(strs) == 1:
        return strs[0]
    refs = [v.qualname for v in vals if isinstance(v, ImportRef)]
    dotted = qualname or (refs[0] if len(refs) == 1 else None)
    if dotted is None and isinstance(expr, ast.Attribute):
        dotted = ast.unparse(expr)
    if dotted is None:
        return None
    parts = dotted.split(".")
    return ".".join(parts[-2:]) if len(parts) >= 2 and parts[-2].endswith("_Weights") else parts[-1]


def single(vals: Vals) -> str | None:
    strs = list(dict.fromkeys(v for v in vals if isinstance(v, str)))
    return strs[0] if len(strs) == 1 else None


def written(expr: ast.expr) -> str:
    """A receiver as written, for loader names: `self.model_class`, `super()`; else `<expr>`."""
    parts: list[str] = []
    while len(parts) < 8:
        if isinstance(expr, ast.Attribute):
            parts.append(expr.attr)
            expr = expr.value
        elif isinstance(expr, ast.Name):
            return ".".join([expr.id, *reversed(parts)])
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and not expr.args:
            return ".".join([f"{expr.func.id}()", *reversed(parts)])
        else:
            break
    return "<expr>"
