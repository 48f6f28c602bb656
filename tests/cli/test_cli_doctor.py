"""`ptmlock doctor`: the environment as the guard sees it, as a real subprocess (issue 13)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata

import pytest

import ptmlock
from tinymodels import write_project

SECRET = "hf_doctorSECRETtoken0123456789"


@pytest.fixture
def project(hub, tmp_path):
    p = tmp_path / "proj"
    p.mkdir()
    hub.commit("org/m", {"config.json": b"{}"})
    write_project(p, {"org/m": {}})
    return p


def doctor(project, *args, env=None):
    return subprocess.run([sys.executable, "-m", "ptmlock", "doctor", *args], cwd=project, capture_output=True,
                          text=True, env={**os.environ, "HF_TOKEN": SECRET, **(env or {})}, timeout=900)


@pytest.mark.ml  # every library the guard hooks, installed
def test_doctor_json_reports_settings_project_mode_and_every_library_hooked(project, hub):
    r = doctor(project, "--json", env={"PTMLOCK_MODE": "strict"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert SECRET not in r.stdout + r.stderr, r.stderr
    d = json.loads(r.stdout)
    assert d["ptmlock_version"] == ptmlock.__version__
    assert d["settings"]["HF_ENDPOINT"] == hub.endpoint
    assert d["settings"]["HF_HUB_OFFLINE"] is False and d["settings"]["token_configured"] is True
    assert d["settings"]["HF_HOME"] == os.environ["HF_HOME"]
    assert d["manifest"] == str(project / "ptm.toml") and d["lock"] == str(project / "ptm.lock")
    assert d["lock_fresh"] is True and d["lock_problems"] == [] and d["problems"] == []
    assert (d["mode"], d["mode_source"]) == ("strict", "PTMLOCK_MODE")
    libs = {lib["distribution"]: lib for lib in d["libraries"]}
    assert set(libs) == {"huggingface_hub", "transformers", "sentence-transformers", "diffusers", "timm", "peft",
                         "open_clip_torch", "torch"}
    for dist, lib in libs.items():
        assert lib["installed"] == metadata.version(dist), dist
        assert lib["in_tested_range"] is True and lib["hooked"] is True and lib["problems"] == [], lib
        assert lib["tested_status"] == "tested", lib


def test_doctor_says_the_lock_is_stale_and_the_mode_from_the_manifest(project):
    manifest = project / "ptm.toml"
    manifest.write_text(manifest.read_text().replace('name = "app"', 'name = "app"\npolicy = "strict"')
                        + '\n[models."org/new"]\n')
    r = doctor(project, "--no-probe", env={"HF_HUB_OFFLINE": "1"})
    assert r.returncode == 1, r.stderr
    assert f"lock: {project / 'ptm.lock'} (STALE)" in r.stdout, r.stderr
    assert f"guard mode: strict (from policy in {manifest})" in r.stdout, r.stderr
    assert "HF_HUB_OFFLINE: True" in r.stdout and "token_configured: True" in r.stdout, r.stderr
    assert "  transformers: transformers " in r.stdout and "hooks not probed" in r.stdout, r.stderr
    assert "warning: ptm.lock: org/new: declared in ptm.toml but not locked" in r.stderr, r.stderr
    assert SECRET not in r.stdout + r.stderr and "Traceback" not in r.stderr, r.stderr
    d = json.loads(doctor(project, "--no-probe", "--json").stdout)
    assert d["lock_fresh"] is False and all(lib["hooked"] is None for lib in d["libraries"])


def test_doctor_without_a_project_says_there_is_nothing_to_check_even_in_strict_mode(tmp_path):
    r = doctor(tmp_path, "--no-probe", "--json", env={"PTMLOCK_MODE": "strict"})
    assert r.returncode == 1, r.stderr
    d = json.loads(r.stdout)
    assert d["manifest"] is None and d["lock"] is None and (d["mode"], d["mode_source"]) == ("strict", "PTMLOCK_MODE")
    assert all(lib["in_tested_range"] is True for lib in d["libraries"] if lib["installed"])
    assert d["problems"] == ["ptm.lock: not found"]


@pytest.mark.parametrize("args", [("--no-probe",), ("--json",)])
def test_doctor_never_runs_modules_of_the_project_folder(project, tmp_path, args):
    # issue 22 item 6: a pull request can ship a json.py or huggingface_hub.py; doctor's probe
    # imports json and the ML libraries, and must take neither from the project folder.
    marker = tmp_path / "ran.txt"
    for name in ("json", "huggingface_hub", "importlib_metadata", "packaging"):
        (project / f"{name}.py").write_text(f"open({str(marker)!r}, 'a').write({name!r} + '\\n')\n")
    script = os.path.join(os.path.dirname(sys.executable), "ptmlock")
    r = subprocess.run([script, "doctor", *args], cwd=project, capture_output=True, text=True,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=900)
    assert not marker.exists(), f"project code ran: {marker.read_text()}\n{r.stderr}"
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
