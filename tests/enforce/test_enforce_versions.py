"""Each adapter declares the library versions it was tested against (issue 13)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tinymodels import run_app

# Importing ptmlock.enforce turns the guard on: read the adapters' tables in a child, not in pytest.
TABLES = """
import importlib, json
from importlib import metadata
from ptmlock.enforce import _adapters
from ptmlock.enforce._versions import in_range
out = {}
for name in _adapters.ADAPTER_NAMES:
    dist, spec = importlib.import_module("ptmlock.enforce." + name).TESTED
    out[name] = [dist, spec, in_range(metadata.version(dist), spec), in_range("0.0.1", spec)]
print(json.dumps(out))
"""


def test_every_adapter_declares_a_tested_range_that_holds_for_the_installed_library():
    proc = subprocess.run([sys.executable, "-c", TABLES], capture_output=True, text=True, check=True,
                          env={**os.environ, "PTMLOCK_MODE": "off"})
    tables = json.loads(proc.stdout)
    assert set(tables) == {"hf_hub", "transformers", "sentence_transformers", "diffusers", "timm", "peft",
                           "open_clip", "torch_hub", "torch_load"}
    for dist, spec, installed_in_range, ancient_in_range in tables.values():
        assert installed_in_range is True and ancient_in_range is False, (dist, spec)
        assert spec.startswith(">=") and ",<" in spec, (dist, spec)  # a floor and a ceiling


def test_a_library_outside_the_tested_range_is_named_once_and_still_hooked(tmp_path):
    # A timm that says it is 0.9.2, with the module the timm adapter hooks: the real import hook
    # patches it, the guard names the library and version once, and the program runs on.
    lib = tmp_path / "libs" / "timm"
    (lib / "models").mkdir(parents=True)
    (lib / "__init__.py").write_text('__version__ = "0.9.2"\nfrom timm.models._factory import create_model\n')
    (lib / "models" / "__init__.py").write_text("")
    (lib / "models" / "_factory.py").write_text("def create_model(name, pretrained=False):\n    return name\n")
    project = tmp_path / "proj"
    project.mkdir()
    proc = run_app(project, f"""
        import sys
        sys.path.insert(0, {str(tmp_path / "libs")!r})
        import ptmlock.enforce
        import timm
        import timm.models._factory
        print('{{"model": "' + timm.create_model("resnet") + '", "hooked": '
              + str(hasattr(timm.models._factory.create_model, "__ptmlock_original__")).lower() + '}}')
    """, env={"PTMLOCK_MODE": "warn"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '{"model": "resnet", "hooked": true}', proc.stderr
    message = ("ptmlock's hooks for timm were tested with timm>=1.0.31,<1.1, but timm 0.9.2 is installed: some of "
               "its model loads may not be checked. Run `ptmlock doctor` to see which hooks are in place.")
    assert proc.stderr.count(message) == 1, proc.stderr
    assert "app.py:5: PtmlockWarning" in proc.stderr, proc.stderr
