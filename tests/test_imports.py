"""Each module imports on its own in a fresh interpreter with warnings as errors (no cycles),
and the package passes mypy (pip-tools' test_circular_imports; pre-commit's mypy setup)."""
from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import ptmlock

ROOT = Path(__file__).parent.parent
MODULES = sorted(m.name for m in pkgutil.walk_packages(ptmlock.__path__, "ptmlock.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone_without_warnings(module):
    r = subprocess.run([sys.executable, "-W", "error", "-c", f"import {module}"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_import_ptmlock_loads_no_heavy_library():
    code = ("import sys, ptmlock, ptmlock.cli; "
            "print(sorted(m for m in ('huggingface_hub', 'torch', 'transformers', 'tomlkit') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


def test_package_passes_mypy():
    r = subprocess.run([sys.executable, "-m", "mypy", "ptmlock"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
