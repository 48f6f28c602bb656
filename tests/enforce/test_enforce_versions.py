"""Each adapter declares the release lines CI tests it with; the guard warns only when that helps
(issues 13 and 21): once per library, when a hook could not go in or the major line was never
tested. Libraries "of another version" are small fake packages on sys.path, each with its own
dist-info, that have the modules and functions the adapters hook: the real import hook patches
them in a real interpreter."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tinymodels import run_app, write_project

pytestmark = pytest.mark.torchfree

# Importing ptmlock.enforce turns the guard on: read the adapters' tables in a child, not in pytest.
TABLES = """
import importlib, json
from ptmlock.enforce import _adapters
from ptmlock.enforce._versions import installed_version, tested_status
out = {}
for name in _adapters.ADAPTER_NAMES:
    dist, lines = importlib.import_module("ptmlock.enforce." + name).TESTED
    version = installed_version("", dist)
    out[name] = [dist, list(lines), version, tested_status(version, lines) if version else None]
print(json.dumps(out))
"""

TORCH_HUB = """
def get_dir(): return "/nonexistent"
def _get_cache_or_reload(github, force_reload, trust_repo, calling_fn, verbose=True, skip_validation=False): ...
def load(repo_or_dir, model, *args, **kwargs): return "loaded " + model
def list(github, force_reload=False, skip_validation=False, trust_repo=None, verbose=True): return []
def help(github, model, force_reload=False, skip_validation=False, trust_repo=None): return ""
def load_state_dict_from_url(url, model_dir=None, map_location=None, progress=True, check_hash=False,
                             file_name=None, weights_only=False): ...
def download_url_to_file(url, dst, hash_prefix=None, progress=True): ...
"""
LOAD_OK = "def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None): ...\n"
LOAD_RENAMED = "def load(source, map_location=None): ...\n"  # a release that renamed the argument the hook reads


def fake_torch(root, version, serialization=LOAD_OK):
    """A package named torch, of `version`, with the two modules the torch adapters hook."""
    lib = root / "libs" / "torch"
    lib.mkdir(parents=True)
    (lib / "__init__.py").write_text(f'__version__ = "{version}"\nfrom torch import hub, serialization\n')
    (lib / "hub.py").write_text(TORCH_HUB)
    (lib / "serialization.py").write_text(serialization)
    meta = root / "libs" / f"torch-{version}.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n")
    return root / "libs"


APP = """
    import sys
    sys.path.insert(0, {libs!r})
    import ptmlock.enforce
    import torch
    print(json.dumps([torch.__version__, hasattr(torch.hub.load, "__ptmlock_original__"),
                      hasattr(torch.serialization.load, "__ptmlock_original__")]))
"""


def run_torch(tmp_path, version, serialization=LOAD_OK):
    libs = fake_torch(tmp_path, version, serialization)
    project = tmp_path / "proj"
    project.mkdir()
    proc = run_app(project, "import json\n" + textwrap.dedent(APP).format(libs=str(libs)),
                   env={"PTMLOCK_MODE": "warn"})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_every_adapter_declares_the_release_lines_ci_runs():
    proc = subprocess.run([sys.executable, "-c", TABLES], capture_output=True, text=True,
                          env={**os.environ, "PTMLOCK_MODE": "off"})
    assert proc.returncode == 0, proc.stderr
    tables = json.loads(proc.stdout)
    assert set(tables) == {"hf_hub", "transformers", "sentence_transformers", "diffusers", "timm", "peft",
                           "open_clip", "torch_hub", "torch_load"}
    by_dist = {}
    for name, (dist, lines, version, status) in tables.items():
        assert lines and all(line.count(".") == 1 and line.replace(".", "").isdigit() for line in lines), (name, lines)
        assert by_dist.setdefault(dist, lines) == lines, f"{dist}: adapters disagree on what was tested"
        # what CI installs is what the adapter declares: each installed library is on a tested line
        assert version is None or status == "tested", (name, dist, version, lines)
    installed = {dist for dist, _, version, _ in tables.values() if version}
    assert {"huggingface_hub", "transformers"} <= installed  # both CI venvs have these two


def test_another_release_of_a_tested_major_line_hooks_silently(tmp_path):
    # torch 2.13 is one release older than the tested 2.14, with the same hooked functions
    (version, hub_hooked, load_hooked), stderr = run_torch(tmp_path, "2.13.1")
    assert (version, hub_hooked, load_hooked) == ("2.13.1", True, True)
    assert "PtmlockWarning" not in stderr, stderr


def test_an_untested_major_line_is_named_once_for_both_torch_adapters(tmp_path):
    (version, hub_hooked, load_hooked), stderr = run_torch(tmp_path, "3.0.0")
    assert (hub_hooked, load_hooked) == (True, True)
    message = ("ptmlock's hooks went into torch 3.0.0, but were never tested with torch 3.x (tested: torch 2.14): "
               "check that model loads are pinned, and run `ptmlock doctor`.")
    assert stderr.count("PtmlockWarning") == 1 and stderr.count(message) == 1, stderr
    assert "app.py:6: PtmlockWarning" in stderr  # the `import torch` line


def test_a_hook_that_cannot_go_in_is_named_once_even_on_a_tested_line(tmp_path):
    (version, hub_hooked, load_hooked), stderr = run_torch(tmp_path, "2.14.9", LOAD_RENAMED)
    assert (hub_hooked, load_hooked) == (True, False)
    assert stderr.count("PtmlockWarning") == 1, stderr
    assert ("ptmlock could not hook torch.serialization of torch 2.14.9 (TypeError: load() takes no 'f' argument): "
            "model loads through it may not be checked. ptmlock was tested with torch 2.14.") in stderr


def test_doctor_lists_each_adapter_and_fails_only_for_a_hook_that_did_not_go_in(tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    write_project(project, {})
    ours = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    def doctor(libs, *args):
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(libs), ours])}
        return subprocess.run([sys.executable, "-m", "ptmlock", "doctor", *args], cwd=project, capture_output=True,
                              text=True, env=env, timeout=900)

    untested = doctor(fake_torch(tmp_path / "a", "3.0.0"), "--no-probe")
    assert untested.returncode == 0, untested.stdout + untested.stderr
    assert "  torch_hub: torch 3.0.0, hooks not probed (untested major line; CI tests 2.14)" in untested.stdout
    assert "  torch_load: torch 3.0.0, hooks not probed (untested major line; CI tests 2.14)" in untested.stdout

    # timm (nothing else imports it): a tested line, but the function its adapter hooks is gone
    lib = tmp_path / "b" / "libs" / "timm"
    (lib / "models").mkdir(parents=True)
    (lib / "__init__.py").write_text('__version__ = "1.0.99"\n')
    (lib / "models" / "__init__.py").write_text("")
    (lib / "models" / "_factory.py").write_text("def make_model(name, pretrained=False):\n    return name\n")
    (lib.parent / "timm-1.0.99.dist-info").mkdir()
    (lib.parent / "timm-1.0.99.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: timm\nVersion: 1.0.99\n")
    broken = doctor(lib.parent, "--json")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    report = json.loads(broken.stdout)
    libs = {lib["adapter"]: lib for lib in report["libraries"]}
    assert libs["timm"]["hooked"] is False and libs["timm"]["tested_status"] == "tested", libs["timm"]
    assert report["problems"] == [
        "timm (timm): timm.models._factory: AttributeError: timm.models._factory has no 'create_model'"], report["problems"]
