"""Each module imports on its own in a fresh interpreter with warnings as errors (no cycles),
and the package passes mypy (pip-tools' test_circular_imports; pre-commit's mypy setup)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import ptmlock

ROOT = Path(__file__).parent.parent
# Listed from the files, not with pkgutil.walk_packages: that imports packages, and importing
# ptmlock.enforce would turn the runtime guard on inside the test process.
_PKG = Path(ptmlock.__file__).parent
MODULES = sorted(
    "ptmlock." + ".".join(p.relative_to(_PKG).with_suffix("").parts).removesuffix(".__init__")
    for p in _PKG.rglob("*.py") if p.name != "__main__.py"
)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone_without_warnings(module):
    r = subprocess.run([sys.executable, "-W", "error", "-c", f"import {module}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_import_ptmlock_loads_no_heavy_library():
    code = ("import sys, ptmlock, ptmlock.cli; "
            "print(sorted(m for m in ('huggingface_hub', 'torch', 'transformers', 'tomlkit') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]", r.stderr


def test_package_passes_mypy():
    r = subprocess.run([sys.executable, "-m", "mypy", "ptmlock"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
