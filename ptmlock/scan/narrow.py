"""Branches that pick among a dict's models: keep only the entries a branch can reach.

    path = CAPTION_MODELS[name]
    if name.startswith("git-"):
        AutoModelForCausalLM.from_pretrained(path)          # only the "git-*" entries
    elif name.startswith("blip2-"):
        Blip2ForConditionalGeneration.from_pretrained(path)  # only the "blip2-*" entries
    else:
        BlipForConditionalGeneration.from_pretrained(path)  # the others

A load's id that is a name bound once, in its function, to `MAPPING[key]` is narrowed by the
`if`/`elif`/`else` tests around the call that test that same `key` (written the same way) with
`.startswith(...)`, `==`, `!=`, `in`, `not in` against literals, or `not` of one of those. Tests
it does not understand narrow nothing; a narrowing that would leave nothing is dropped.
"""
from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from ptmlock.scan.values import Map, Vals

_Test = tuple[ast.expr, bool]  # (test, whether the call is in the branch where it holds)


def allowed_ids(expr: ast.expr, func: ast.AST, call: ast.Call, bases: Vals) -> frozenset[str] | None:
    """The ids `expr` (the load's id argument, inside `func`) can be at `call`, or None when no
    branch narrows it. `bases` are the resolved values of the mapping subscripted."""
    sub = _subscript_binding(expr, func)
    if sub is None:
        return None
    key = ast.unparse(sub.slice)
    tests = [(t, held) for t, held in _branch_tests(func, call) if key in ast.unparse(t)]
    if not tests:
        return None
    keep: set[str] = set()
    narrowed = False
    for v in bases:
        if not isinstance(v, Map):
            return None
        for keys, vals in v.entries:
            names = [k for k in keys if isinstance(k, str)]
            if not names:
                return None
            # a test it cannot decide for a key narrows nothing
            if all(_holds(t, key, k) in (None, held) for t, held in tests for k in names):
                keep.update(x for x in vals if isinstance(x, str))
            else:
                narrowed = True
    return frozenset(keep) if narrowed and keep else None


def subscript_base(expr: ast.expr, func: ast.AST) -> ast.expr | None:
    """The mapping `expr` was read from (`MAPPING` in `path = MAPPING[key]`), if that is how it is bound."""
    sub = _subscript_binding(expr, func)
    return sub.value if sub is not None else None


def _subscript_binding(expr: ast.expr, func: ast.AST) -> ast.Subscript | None:
    if not isinstance(expr, ast.Name):
        return None
    found = [n.value for n in ast.walk(func) if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign))
             and any(isinstance(t, ast.Name) and t.id == expr.id for t in _targets(n))]
    if len(found) == 1 and isinstance(found[0], ast.Subscript) and not isinstance(found[0].slice, ast.Slice):
        return found[0]
    return None


def receiver_table(func: ast.AST, call: ast.Call, arg: ast.expr, cls: str
                   ) -> tuple[ast.expr, Callable[[str], bool]] | None:
    """`recv.method(x)` where `recv` is a class chosen by `if`/`elif` tests on a key that also picks
    `x` from a table (pysentimiento):

        if task == "ner":
            analyzer_class = AnalyzerForTokenClassification
        else:
            analyzer_class = AnalyzerForSequenceClassification
        model_name = models[lang][task]["model_name"]
        analyzer_class.from_model_name(model_name=model_name)

    For the method of class `cls`: the table read with that key (`models[lang]`) and which keys
    reach `cls` (here: not "ner"); None when the call is not written that way."""
    recv = call.func.value if isinstance(call.func, ast.Attribute) else None
    if not isinstance(recv, ast.Name):
        return None
    assigns = _assigns(func, recv.id)
    mine = [list(_branch_tests(func, a)) for a in assigns if isinstance(a.value, ast.Name) and a.value.id == cls]
    keys = {ast.unparse(t.left) for tests in mine for t, _ in tests if isinstance(t, ast.Compare)}
    if not mine or len(mine) == len(assigns) or len(keys) != 1:
        return None
    key = keys.pop()
    node: ast.expr = arg
    for _ in range(8):  # through `name = table[...]` bindings and subscripts, to the read with the key
        if isinstance(node, ast.Subscript):
            if ast.unparse(node.slice) == key:
                return node.value, lambda k: any(all(_holds(t, key, k) in (None, held) for t, held in tests)
                                                 for tests in mine)
            node = node.value
        elif isinstance(node, ast.Name) and len(bound := _assigns(func, node.id)) == 1:
            node = bound[0].value
        else:
            return None
    return None


def _assigns(func: ast.AST, name: str) -> list[ast.Assign]:
    return [n for n in ast.walk(func) if isinstance(n, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)]


def _targets(n: ast.Assign | ast.AnnAssign | ast.AugAssign) -> list[ast.expr]:
    return list(n.targets) if isinstance(n, ast.Assign) else [n.target]


def _branch_tests(node: ast.AST, call: ast.AST) -> Iterator[_Test]:
    """The `if` tests on the way from `node` down to `call`: an `elif`/`else` also contributes
    the earlier tests as not holding."""
    for field in ("body", "orelse", "handlers", "finalbody"):
        for child in getattr(node, field, None) or ():
            if not _contains(child, call):
                continue
            if isinstance(child, ast.If):
                if any(_contains(s, call) for s in child.body):
                    yield child.test, True
                else:
                    yield child.test, False
            yield from _branch_tests(child, call)
            return


def _contains(node: ast.AST, call: ast.AST) -> bool:
    start = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
    end = (getattr(node, "end_lineno", 0) or 0, getattr(node, "end_col_offset", 0) or 0)
    return start <= (getattr(call, "lineno", 0), getattr(call, "col_offset", 0)) \
        and (getattr(call, "end_lineno", 0) or 0, getattr(call, "end_col_offset", 0) or 0) <= end


def _holds(test: ast.expr, key: str, value: str) -> bool | None:
    """Whether `test` holds when the expression written `key` is `value`; None when unknown."""
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _holds(test.operand, key, value)
        return None if inner is None else not inner
    if isinstance(test, ast.Call) and isinstance(test.func, ast.Attribute) and test.func.attr == "startswith" \
            and ast.unparse(test.func.value) == key and len(test.args) == 1 and not test.keywords:
        prefixes = _literals(test.args[0])
        return None if prefixes is None else value.startswith(tuple(prefixes))
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and ast.unparse(test.left) == key:
        op, right = test.ops[0], _literals(test.comparators[0])
        if right is None:
            return None
        if isinstance(op, (ast.Eq, ast.In)):
            return value in right
        if isinstance(op, (ast.NotEq, ast.NotIn)):
            return value not in right
    return None


def _literals(e: ast.expr) -> list[str] | None:
    if isinstance(e, ast.Constant) and isinstance(e.value, str):
        return [e.value]
    if isinstance(e, (ast.Tuple, ast.List, ast.Set)) and all(
            isinstance(x, ast.Constant) and isinstance(x.value, str) for x in e.elts):
        return [x.value for x in e.elts if isinstance(x, ast.Constant) and isinstance(x.value, str)]
    return None
