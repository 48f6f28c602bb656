"""The package's shape holds: no import cycle between modules (imports inside functions and
type-only imports under TYPE_CHECKING count),
no top-level `_<family>_*.py` modules, and no module over 400 lines (issue 10)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import ptmlock

PKG = Path(ptmlock.__file__).parent
MAX_LINES = 400
_FAMILY = re.compile(r"_[a-z0-9]+_[a-z0-9_]+\.py")  # _scan_types.py, _sync_torch.py: not __init__.py


def _module_name(path: Path) -> str:
    parts = ("ptmlock", *path.relative_to(PKG).with_suffix("").parts)
    return ".".join(parts).removesuffix(".__init__")


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def _imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The ptmlock modules `name` imports anywhere in its body: at module level, inside
    functions, and under `if TYPE_CHECKING:` (issue 24: a type-only import still ties two
    layers together; a cycle through one is a cycle in the design)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from pkg import mod` imports the module pkg.mod when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a name inside a module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the ptmlock modules it imports (a package's `__init__` counts as a module)."""
    modules = _modules()
    known = set(modules)
    return {name: _imported(name, path, known) for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_sees_a_cycle_through_a_function_level_import():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_counts_imports_inside_functions():
    graph = import_graph()
    # install/sync.py imports the torch layout only inside sync_project
    assert "ptmlock.install.torch_cache" in graph["ptmlock.install.sync"]


def test_the_graph_counts_type_only_imports(tmp_path):
    (tmp_path / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ptmlock import b\n")
    assert _imported("ptmlock.a", tmp_path / "a.py", {"ptmlock.a", "ptmlock.b"}) == {"ptmlock.b"}
    # lockfile/model.py names Manifest only for type annotations
    assert "ptmlock.manifest.model" in import_graph()["ptmlock.lockfile.model"]


def test_no_subpackage_docstring_is_a_placeholder():
    """Each subpackage's `__init__` says what it owns and what it may import (issue 24)."""
    bad = {}
    for init in sorted(PKG.rglob("*/__init__.py")):
        doc = " ".join((ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or "").split())
        if len(doc.split()) < 15 or "may import" not in doc.lower() or re.match(r"issue \d+", doc):
            bad[str(init.relative_to(PKG))] = doc[:60]
    assert bad == {}, "say what the subsystem owns and what it may import"


def test_ptmlock_has_no_import_cycle():
    cycles = _cycles(import_graph())
    assert cycles == [], "import cycles (imports inside functions included): " + "; ".join(
        " <-> ".join(c) for c in cycles)


def test_no_top_level_family_modules():
    family = [p.name for p in PKG.glob("_*.py") if _FAMILY.fullmatch(p.name)]
    assert family == [], f"put these inside the subpackage they serve: {family}"


def test_no_module_over_400_lines():
    long = {str(p.relative_to(PKG)): n for p in PKG.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}, f"split these modules (over {MAX_LINES} lines)"


def test_family_pattern_names_family_modules_only():
    assert _FAMILY.fullmatch("_scan_types.py") and _FAMILY.fullmatch("_sync_torch.py")
    assert not _FAMILY.fullmatch("__init__.py") and not _FAMILY.fullmatch("_fs.py")
