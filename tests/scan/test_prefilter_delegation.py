"""The pre-filter skips a file whose every `.from_pretrained` is an override forwarding its
caller's id (`super().from_pretrained(...)` in `def from_pretrained`), which the analyzer does
not call a load. Read from text, it must never skip a file the analyzer finds a load in: checked
on generated nestings of the scopes and line shapes Python allows (defs, classes, blocks, header
defaults, one-line bodies, decorators, lambdas, continuation lines, tabs)."""
from __future__ import annotations

import ast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ptmlock.scan.analyze import analyze_module
from ptmlock.scan.delegation import DELEGATORS
from ptmlock.scan.prefilter import code_bytes_test, may_contain_load, quick_bytes_test

HEAD = "from transformers import AutoModel\n\n"
CALL = 'AutoModel.from_pretrained("org/x")'
_NAMES = (*DELEGATORS, "load", "helper", "from_pretrained_keras")


def _kept(src: str) -> bool:
    """The pre-filter's verdict, on bytes (the scan) and on text (`scan_source`): both must agree."""
    data = src.encode()
    rule = quick_bytes_test(data)
    on_bytes = rule >= 0 and code_bytes_test(data, rule)
    assert on_bytes == may_contain_load(src), src
    return on_bytes


def _loads(src: str) -> bool:
    findings, wrappers = analyze_module(ast.parse(src), src, "m.py")
    return bool(findings or wrappers)


def _opener(kind: str, name: str, pad: str) -> list[str]:
    """The lines that open one scope or block at indentation `pad`."""
    if kind == "def":
        return [f"{pad}def {name}(cls, *args, **kwargs):"]
    if kind == "async":
        return [f"{pad}async def {name}(cls, *args, **kwargs):"]
    if kind == "multiline-def":
        return [f"{pad}def {name}(", f"{pad}    cls,", f"{pad}    *args: dict[str, int],", f"{pad}) -> 'X':"]
    if kind == "decorated":
        return [f"{pad}@classmethod", f"{pad}@wraps(f)", f"{pad}def {name}(cls, *args):"]
    if kind == "class":
        return [f"{pad}class C{len(pad)}(Base):"]
    if kind == "if":
        return [f"{pad}if (a and", f"{pad}        b):"]
    return [f"{pad}for i in range(3):"]


_KINDS = ("def", "async", "multiline-def", "decorated", "class", "if", "for")
_CALL_SHAPES = ("plain", "super", "continued", "backslash", "dedented-continuation", "lambda", "one-line-if")


def _build(scopes: list[tuple[str, str]], shape: str, before: bool, tabs: bool) -> str:
    lines: list[str] = []
    for depth, (kind, name) in enumerate(scopes):
        pad = "    " * depth
        if before and depth:  # a statement, and a finished nested function, before the next scope
            lines += [f"{pad}x = [1,", f"{pad}     2]", f"{pad}def done():", f"{pad}    return 1"]
        lines += _opener(kind, name, pad)
    pad = "    " * len(scopes)
    call = CALL if shape != "super" else 'super().from_pretrained("org/x")'
    lines += {
        "plain": [f"{pad}m = {call}"], "super": [f"{pad}m = {call}"],
        "continued": [f"{pad}m = dict(a=1,", f"{pad}         b={call})"],
        "backslash": [f"{pad}m = 1 + \\", f"{pad}    len({call})"],
        "dedented-continuation": [f"{pad}y = foo(", "  1)", f"{pad}m = {call}"],
        "lambda": [f"{pad}f = lambda: {call}"],
        "one-line-if": [f"{pad}if a: m = {call}"],
    }[shape]
    lines.append("model = other()")
    text = "\n".join(lines) + "\n"
    return HEAD + (text.replace("    ", "\t") if tabs else text)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_KINDS), st.sampled_from(_NAMES)), min_size=0, max_size=4),
       st.sampled_from(_CALL_SHAPES), st.booleans(), st.booleans())
def test_a_file_with_a_load_is_never_skipped(scopes, shape, before, tabs) -> None:
    src = _build(scopes, shape, before, tabs)
    try:
        loads = _loads(src)
    except SyntaxError:  # every text generated here is valid Python: a failure is the generator's bug
        pytest.fail(src)
    if loads:
        assert _kept(src), src


@pytest.mark.parametrize("src", [
    HEAD + "class M(AutoModel):\n    @classmethod\n    def from_pretrained(cls, name, **kw):\n"
           "        model = super().from_pretrained(name, **kw)\n        return model\n",
    HEAD + "class M(AutoModel):\n    def from_pretrained(\n        cls,\n        name: str,\n    ) -> 'M':\n"
           "        kw = dict(a=1,\n                  b=2)\n        return super(M, cls).from_pretrained(name, **kw)\n",
    HEAD + "class P(AutoModel):\n    def from_single_file(cls, path): return super().from_single_file(path)\n",
    HEAD + "class M(AutoModel):\n    def _from_pretrained(cls, name):\n        if name:\n"
           "            for _ in range(2):\n                config_class.from_pretrained(name)\n",
])
def test_a_file_whose_only_from_pretrained_forwards_the_callers_id_is_skipped(src: str) -> None:
    assert not _loads(src)
    assert not _kept(src), src


@pytest.mark.parametrize("src", [
    # a nested function is a scope of its own: its load is a load
    HEAD + "def from_pretrained(cls):\n    def helper():\n        return AutoModel.from_pretrained('org/x')\n",
    # a header default runs in the enclosing scope
    HEAD + "def from_pretrained(cls,\n        m=AutoModel.from_pretrained('org/x')):\n    pass\n",
    # a continuation line that is dedented does not close the function the call is in
    HEAD + "def from_pretrained(cls):\n    def helper():\n        y = foo(\n  1)\n"
           "        return AutoModel.from_pretrained('org/x')\n",
])
def test_a_load_near_an_override_is_kept(src: str) -> None:
    assert _loads(src)
    assert _kept(src)
