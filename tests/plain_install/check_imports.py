"""Every import of the ptmlock package is a declared dependency (issue 24).

    python tests/plain_install/check_imports.py      # exit 1 and one line per undeclared import

Reads every module of the installed `ptmlock` with `ast` (module-level, function-level and
`TYPE_CHECKING` imports alike) and the distribution's `Requires-Dist`. An import outside the
standard library is declared when its distribution is a plain dependency, or when it is in an
extra AND sits behind that extra's guard: imported inside a function (never at module level) of a
module whose error names `pip install 'ptmlock[<extra>]'` (exit 3). Standard library and packaging
only, so it runs in the plain-install venv (tests/plain_install/run.sh) as well as in the suite.
"""
from __future__ import annotations

import ast
import functools
import importlib.metadata
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# Import names whose distribution is named otherwise, for when the distribution is not installed
# (the plain venv has no open_clip): checked against packages_distributions() when it is.
KNOWN_DISTRIBUTIONS = {"OpenSSL": "pyopenssl", "open_clip": "open-clip-torch", "yaml": "pyyaml"}
_STDLIB = set(sys.stdlib_module_names)


@dataclass(frozen=True)
class Import:
    module: str  # the ptmlock module, e.g. ptmlock.oci.client
    line: int
    name: str  # what it imports, e.g. requests.adapters
    function_level: bool  # inside a def (runs only when called)
    optional: bool = False  # in a `try:` whose `except ImportError` falls back: the module works without it

    @property
    def top(self) -> str:
        return self.name.split(".")[0]


def package_dir() -> Path:
    spec = importlib.util.find_spec("ptmlock")
    assert spec is not None and spec.origin is not None, "ptmlock is not importable"
    return Path(spec.origin).parent


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(k, ast.Name) and k.id in ("ImportError", "ModuleNotFoundError") for k in kinds)


def imports(pkg: Path) -> list[Import]:
    """Every absolute import outside the standard library and ptmlock, in every module of `pkg`."""
    found: list[Import] = []
    for path in sorted(pkg.rglob("*.py")):
        module = ".".join(("ptmlock", *path.relative_to(pkg).with_suffix("").parts)).removesuffix(".__init__")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        in_function: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                in_function.update(id(n) for n in ast.walk(node) if n is not node)
        optional: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
                optional.update(id(n) for stmt in node.body for n in ast.walk(stmt))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in _STDLIB or top in ("ptmlock", "__future__"):
                    continue
                found.append(Import(module, node.lineno, name, id(node) in in_function, id(node) in optional))
    return found


@functools.cache
def _installed() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distribution_of(top: str) -> str:
    """The (canonical) distribution that provides the import name `top`."""
    installed = _installed().get(top)
    if installed:
        return canonicalize_name(installed[0])
    return canonicalize_name(KNOWN_DISTRIBUTIONS.get(top, top))


def declared(requires: list[str]) -> tuple[set[str], dict[str, set[str]]]:
    """(plain dependencies, extra -> its distributions) from Requires-Dist lines. An extra that
    names ptmlock's own extras (`test = ptmlock[test-core,test-ml]`) is expanded."""
    plain: set[str] = set()
    extras: dict[str, set[str]] = {}
    nested: dict[str, set[str]] = {}
    for line in requires:
        req = Requirement(line)
        extra = None
        if req.marker is not None:
            match = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", str(req.marker))
            extra = match.group(1) if match else None
        name = canonicalize_name(req.name)
        if extra is None:
            plain.add(name)
        elif name == "ptmlock":
            nested.setdefault(extra, set()).update(req.extras)
        else:
            extras.setdefault(extra, set()).add(name)
    for extra, included in nested.items():
        for other in included:
            extras.setdefault(extra, set()).update(extras.get(other, set()))
    return plain, extras


def undeclared(found: list[Import], requires: list[str], pkg: Path) -> list[str]:
    """One line per import that is neither a dependency nor behind its extra's guard."""
    plain, extras = declared(requires)
    problems: list[str] = []
    sources: dict[str, str] = {}
    for imp in found:
        dist = distribution_of(imp.top)
        if dist in plain or imp.optional:
            continue
        where = f"{imp.module}:{imp.line}: import {imp.name} ({dist})"
        owners = sorted(e for e, names in extras.items() if dist in names)
        if not owners:
            problems.append(f"{where}: not a dependency of ptmlock nor in any extra")
            continue
        if not imp.function_level:
            problems.append(f"{where}: in extra {owners[0]!r} but imported at module level (a plain "
                            "install fails to import the module)")
            continue
        rel = Path(*imp.module.split(".")[1:])
        path = pkg / rel / "__init__.py" if (pkg / rel).is_dir() else (pkg / rel).with_suffix(".py")
        text = sources.setdefault(imp.module, path.read_text(encoding="utf-8"))
        if not any(f"pip install 'ptmlock[{e}]'" in text for e in owners):
            problems.append(f"{where}: in extra {'/'.join(owners)} but the module has no guard naming "
                            f"`pip install 'ptmlock[{owners[0]}]'`")
    return problems


def main() -> int:
    pkg = package_dir()
    requires = importlib.metadata.requires("ptmlock") or []
    problems = undeclared(imports(pkg), requires, pkg)
    for line in problems:
        print(line)
    print(f"{len(imports(pkg))} imports outside the standard library checked against "
          f"{len(requires)} Requires-Dist lines: {len(problems)} undeclared")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
