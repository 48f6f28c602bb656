"""The wrapper pass's pre-filter (`WrapperImports`) may only skip files in which the analysis
finds no call of a wrapper: checked on every spelling of an import and a call that binds a
wrapper's module or name, and on the real surface (the installed libraries' own wrappers,
called from their own modules), each file analysed without the pre-filter."""
from __future__ import annotations

import ast
import importlib.util
import itertools
import warnings
from pathlib import Path

import pytest

from ptmlock.scan.analyze import analyze_module
from ptmlock.scan.prefilter import quick_bytes_scan
from ptmlock.scan.scanner import decode_source, iter_python_files
from ptmlock.scan.wrappers import Wrapper, WrapperImports, calls_to_wrappers

WRAPPER = "from transformers import AutoModel\n\ndef fetch(name):\n    return AutoModel.from_pretrained(name)\n"

# (import statement, the expression that names the wrapper after it)
_BINDINGS = (
    ("import pkg.sub.mod", "pkg.sub.mod.fetch"),
    ("import pkg.sub.mod as x", "x.fetch"),
    ("from pkg.sub import mod", "mod.fetch"),
    ("from pkg.sub import (other,\n    mod)", "mod.fetch"),
    ("from pkg.sub import other, \\\n    mod as y", "y.fetch"),
    ("from pkg.sub import mod as y", "y.fetch"),
    ("from pkg.sub.mod import fetch", "fetch"),
    ("from pkg.sub.mod import fetch as f", "f"),
    ("from pkg.sub.mod import (\n    fetch as f,\n)", "f"),
    ("from pkg.sub.mod import *", "fetch"),
    ("from pkg.sub import fetch", "fetch"),  # the package re-exports it
    ("from .mod import fetch", "fetch"),
    ("from . import mod", "mod.fetch"),
    # bindings of other things: no call of the wrapper
    ("from pkg.sub.mod import Other", "Other.fetch"),
    ("from pkg.sub.mod.inner import fetch", "fetch"),
    ("from other.mod import fetch", "fetch"),
    ("import other.mod as mod", "mod.fetch"),
)
_PLACES = ("module", "function", "doctest")


def _caller(binding: str, name: str, place: str) -> str:
    if place == "module":
        return f"{binding}\nmodel = {name}('org/model')\n"
    if place == "function":
        return f"def load():\n    {binding.replace(chr(10), chr(10) + '    ')}\n    return {name}('org/model')\n"
    return f'"""\n>>> {binding.splitlines()[0]}\n>>> {name}("org/model")\n"""\n'  # no import, no call


def _wrappers(path: str) -> list[Wrapper]:
    return analyze_module(ast.parse(WRAPPER), WRAPPER, path)[1]


@pytest.mark.parametrize(("binding", "name", "place"),
                         [(b, n, p) for (b, n), p in itertools.product(_BINDINGS, _PLACES)])
def test_the_wrapper_prefilter_keeps_every_file_that_calls_a_wrapper(binding: str, name: str, place: str,
                                                                     tmp_path: Path) -> None:
    wrappers = _wrappers(str(tmp_path / "pkg" / "sub" / "mod.py"))
    assert [w.function for w in wrappers] == ["fetch"]
    text = _caller(binding, name, place)
    caller = str(tmp_path / "pkg" / "sub" / "caller.py")
    found = calls_to_wrappers(caller, text, wrappers)
    data = text.encode()
    lines = quick_bytes_scan(data)[1]
    check = WrapperImports(wrappers)
    if found:
        assert check.may_import(lines) and check(data), (text, found)
    if place == "doctest" or binding.startswith(("from pkg.sub.mod import Other", "from other", "import other")):
        assert not found, text
    if place == "doctest" or binding.startswith("from pkg.sub.mod import Other"):
        assert not check(data), text  # read again, these would be parsed for nothing


def test_a_name_imported_from_a_wrappers_module_is_not_its_module() -> None:
    """`from pkg.base import Other` binds `Other`, not the module `base`: a file that then calls
    `.fetch(` on something else is not read again (most of a library's files import from a
    module called `base` or `model`)."""
    check = WrapperImports(_wrappers("/p/pkg/base.py"))
    data = b"from pkg.base import Other\nfrom x import y\n\nOther.fetch('org/model')\ny.fetch('z')\n"
    assert not check.may_import(quick_bytes_scan(data)[1])
    assert not check(data)
    data = b"from pkg import base\nbase.fetch('org/model')\n"
    assert check.may_import(quick_bytes_scan(data)[1]) and check(data)


_LIBRARIES = ("open_clip", "sentence_transformers", "peft", "timm", "huggingface_hub")


def test_every_library_file_the_wrapper_prefilter_drops_calls_no_wrapper() -> None:
    """The real surface: the wrappers the first pass finds in installed libraries, and every
    Python file of those libraries, analysed for their calls without the pre-filter."""
    found = [importlib.util.find_spec(n) for n in _LIBRARIES]
    roots = [list(s.submodule_search_locations)[0] for s in found if s and s.submodule_search_locations]
    files = iter_python_files(roots)
    if len(files) < 300:
        pytest.skip(f"too few installed library files ({len(files)})")
    sources: dict[str, bytes] = {path: Path(path).read_bytes() for path in files}
    wrappers: list[Wrapper] = []
    trees: dict[str, ast.Module] = {}
    for path, data in sources.items():
        text = decode_source(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trees[path] = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        wrappers += analyze_module(trees[path], text, path)[1]
    assert len(wrappers) >= 5, [w.function for w in wrappers]  # the libraries' own download helpers
    check = WrapperImports(wrappers)
    dropped = kept = 0
    for path, data in sources.items():
        if path not in trees:
            continue
        if check.may_import(quick_bytes_scan(data)[1]) and check(data):
            kept += 1
            continue
        dropped += 1
        assert not calls_to_wrappers(path, decode_source(data), wrappers), path
    assert dropped > 10 * kept, (dropped, kept)
