"""The suite's own ground rule (issue 24): every assertion on a child process shows the child's
stderr when it fails. A bare `assert r.returncode == 0` fails with `1 != 0` and hides why (the
flaky Ctrl-C test could not be diagnosed from its report); the assertion's message must name the
child's stderr (`assert r.returncode == 0, r.stderr`)."""
from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent
_RUNNERS = ("run", "check_output", "Popen")


def _call_name(node: ast.AST) -> str:
    if not isinstance(node, ast.Call):
        return ""
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")


def _is_subprocess(node: ast.AST, helpers: set[str]) -> bool:
    name = _call_name(node)
    return (name in _RUNNERS and "subprocess." in ast.unparse(node.func)) or name in helpers  # type: ignore[attr-defined]


def _returns_child(fn: ast.FunctionDef, runners: set[str]) -> bool:
    return any(isinstance(n, ast.Return) and n.value is not None and _is_subprocess(n.value, runners)
               for n in ast.walk(fn))


def helpers(trees: list[ast.Module]) -> set[str]:
    """Names of functions that return a child process (`return subprocess.run(...)`)."""
    found: set[str] = {"run_python"}
    changed = True
    while changed:
        changed = False
        for tree in trees:
            for fn in tree.body:
                if isinstance(fn, ast.FunctionDef) and fn.name not in found and _returns_child(fn, found):
                    found.add(fn.name)
                    changed = True
    return found


def silent(tree: ast.Module, shared: set[str]) -> list[tuple[ast.Assert, str]]:
    """(assertion, child variable) for each assertion on a child process whose message has no
    stderr. `shared`: the runners of the helper modules; the module's own functions shadow them."""
    local = {fn.name: fn for fn in tree.body if isinstance(fn, ast.FunctionDef)}
    runners = (shared - set(local)) | helpers([ast.Module(body=list(local.values()), type_ignores=[])])
    runners -= {name for name, fn in local.items() if not _returns_child(fn, runners)}
    out: list[tuple[ast.Assert, str]] = []
    seen: set[int] = set()
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        children: list[tuple[int, str, bool]] = []  # (line, variable, is a child process)
        for n in ast.walk(fn):
            if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name):
                children.append((n.lineno, n.targets[0].id, _is_subprocess(n.value, runners)))
            elif isinstance(n, ast.With):
                for item in n.items:
                    if isinstance(item.optional_vars, ast.Name):
                        children.append((n.lineno, item.optional_vars.id, _is_subprocess(item.context_expr, runners)))
        for n in ast.walk(fn):
            if not isinstance(n, ast.Assert) or id(n) in seen:
                continue
            seen.add(id(n))
            names = {x.id for x in ast.walk(n.test) if isinstance(x, ast.Name)}
            for name in sorted(names):
                before = [child for line, var, child in sorted(children) if var == name and line <= n.lineno]
                if before and before[-1] and not (n.msg is not None and "err" in ast.unparse(n.msg)):
                    out.append((n, name))
                    break
    return out


def shared_runners(files: list[Path]) -> set[str]:
    """The runners defined by the suite's helper modules (conftest, lockhelpers, ocihelpers, ...)."""
    return helpers([ast.parse(p.read_text(encoding="utf-8")) for p in files if not p.name.startswith("test_")])


def test_every_assertion_on_a_child_process_shows_its_stderr():
    files = sorted(TESTS.rglob("*.py"))
    shared = shared_runners(files)
    assert {"run_python", "run_app"} <= shared  # the suite's runners are recognised
    found = [f"{p.relative_to(TESTS)}:{a.lineno}: {ast.unparse(a)[:100]}"
             for p in files for a, _ in silent(ast.parse(p.read_text(encoding="utf-8")), shared)]
    assert found == [], "add the child's stderr as the assertion message:\n" + "\n".join(found)


def test_the_rule_sees_a_silent_assertion():
    tree = ast.parse("import subprocess\n\ndef runner():\n    return subprocess.run(['true'])\n\n"
                     "def test_a():\n    r = runner()\n    assert r.returncode == 0\n    assert r.returncode == 0, r.stderr\n"
                     "    r = {'returncode': 0}\n    assert r['returncode'] == 0\n"
                     "    p = subprocess.Popen(['true'])\n    assert p.wait() == 0\n")
    assert [(a.lineno, name) for a, name in silent(tree, set())] == [(8, "r"), (13, "p")]
    shadowing = ast.parse("def run_python():\n    return 1\n\ndef test_b():\n    r = run_python()\n    assert r\n")
    assert silent(shadowing, {"run_python"}) == []
