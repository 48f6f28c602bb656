"""Every runtime import of ptmlock is declared (issue 24): a plain dependency, or in an extra and
behind that extra's exit-3 guard. The same check runs in the plain-install venv against the
installed distribution's Requires-Dist (tests/plain_install/run.sh, part of .ci/run)."""
from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tomllib
from pathlib import Path

from plain_install.check_imports import declared, imports, package_dir, undeclared

ROOT = Path(__file__).parent.parent


def _pyproject_requires() -> list[str]:
    """pyproject.toml's dependencies as the Requires-Dist lines setuptools writes from them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extra, reqs in project["optional-dependencies"].items():
        for req in reqs:
            req, _, marker = req.partition(";")
            both = f"({marker.strip()}) and " if marker.strip() else ""
            lines.append(f'{req.strip()}; {both}extra == "{extra}"')
    return lines


def _installed_from_this_tree() -> importlib.metadata.Distribution | None:
    """The installed ptmlock distribution built from this tree (its direct_url.json names it), or
    None. A build leaves `ptmlock.egg-info` in the tree, which importlib finds first from the
    repo root: it has no direct_url.json and is skipped."""
    for dist in importlib.metadata.distributions(name="ptmlock"):
        direct = dist.read_text("direct_url.json")
        if direct and json.loads(direct).get("url", "").rstrip("/") == ROOT.resolve().as_uri():
            return dist
    return None


def test_every_import_of_ptmlock_is_declared():
    pkg = package_dir()
    assert pkg == ROOT / "ptmlock", f"testing {pkg}, not this tree's package"
    found = imports(pkg)
    assert {"requests", "click", "huggingface_hub"} <= {i.top for i in found}  # the walk sees imports
    problems = undeclared(found, _pyproject_requires(), pkg)
    assert problems == [], "undeclared imports:\n" + "\n".join(problems)


def test_the_installed_requires_dist_is_pyprojects():
    dist = _installed_from_this_tree()
    if dist is None:  # a worktree run against another tree's editable install
        import pytest
        pytest.skip("the installed ptmlock distribution is not this tree (its Requires-Dist may be older)")
    installed = sorted(dist.requires or [])
    plain, extras = declared(installed)
    want_plain, want_extras = declared(_pyproject_requires())
    assert (plain, extras) == (want_plain, want_extras), "reinstall: pip install -e '.[test]'"


def test_the_check_finds_undeclared_unguarded_and_module_level_extra_imports(tmp_path):
    pkg = tmp_path / "ptmlock"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("import os\nimport click\n")
    (pkg / "sub" / "__init__.py").write_text("import requests\n")  # undeclared
    (pkg / "a.py").write_text("def f():\n    import model_signing\n")  # in an extra, no guard
    (pkg / "b.py").write_text("import model_signing\nERR = \"pip install 'ptmlock[signing]'\"\n")  # module level
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import yaml\n")
    (pkg / "ok.py").write_text("def f():\n    import model_signing\n    \"pip install 'ptmlock[signing]'\"\n")
    requires = ["click>=8", 'model-signing==1.1.1; extra == "signing"', 'ptmlock[signing]; extra == "all"']
    problems = undeclared(imports(pkg), requires, pkg)
    assert [p.split(":")[0] for p in problems] == ["ptmlock.a", "ptmlock.b", "ptmlock.c", "ptmlock.sub"], problems
    assert "not a dependency" in problems[3] and "module level" in problems[1] and "no guard" in problems[0]
    assert declared(requires)[1]["all"] == {"model-signing"}


def test_the_check_runs_as_a_script():
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "plain_install" / "check_imports.py")],
                       capture_output=True, text=True)
    # against the installed Requires-Dist: exit 0 or 1, never a crash
    assert r.returncode in (0, 1) and "imports outside the standard library checked" in r.stdout, r.stdout + r.stderr


def test_ci_runs_the_plain_install_job():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "tests/plain_install/run.sh" in ci
    job = (ROOT / "tests" / "plain_install" / "run.sh").read_text(encoding="utf-8")
    assert 'pip" install -q ".${extra:+[$extra]}"' in job and "every_verb.py" in job and "check_imports.py" in job
