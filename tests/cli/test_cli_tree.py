"""`ptmlock tree`: roles, models and their transitive dependencies, exact text and JSON."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from lockhelpers import PY

MANIFEST = """[project]
name = "app"

[models."org/bert"]
role = "enc"
revision = "main"

[models."org/roberta"]
role = "enc"

[models."org/adapter"]

[models."org/a2"]

[roles.enc]
default = "org/bert"
"""


@pytest.fixture
def pins(hub, project, ptm):
    """A project with two interchangeable encoders and two adapters sharing one base model whose
    config names remote code in a third repo; locked. Returns {repo: short pin}."""
    shas = {
        "org/code": hub.commit("org/code", {"modeling.py": "V = 1\n"}),
        "org/base": hub.commit("org/base", {"config.json": json.dumps({"auto_map": {"AutoModel": "org/code--modeling.M"}}),
                                            "model.safetensors": b"b" * 2000}),
        "org/adapter": hub.commit("org/adapter", {"adapter_config.json": json.dumps({"base_model_name_or_path": "org/base"}),
                                                  "adapter_model.safetensors": b"a" * 100}),
        "org/a2": hub.commit("org/a2", {"adapter_config.json": json.dumps({"base_model_name_or_path": "org/base"})}),
        "org/bert": hub.commit("org/bert", {"model.safetensors": b"x" * 5000}),
        "org/roberta": hub.commit("org/roberta", {"model.safetensors": b"y" * 3000}),
    }
    (project / "ptm.toml").write_text(MANIFEST)
    assert ptm("lock").code == 0
    hub.reset_requests()
    return {k: v[:12] for k, v in shas.items()}


def test_tree_shows_roles_models_and_nested_dependencies_without_network(hub, ptm, pins):
    r = ptm("tree")
    assert r.code == 0 and r.err == ""
    p = pins
    assert r.out == f"""\
enc (interchangeable, 2 models; * = default)
├── * org/bert  main @ {p['org/bert']}  2 files  6.4 KiB
└──   org/roberta  default branch @ {p['org/roberta']}  2 files  4.5 KiB
org/adapter  default branch @ {p['org/adapter']}  3 files  1.7 KiB
└── org/base  default branch @ {p['org/base']}  3 files  3.5 KiB  (peft base model)
    └── org/code  default branch @ {p['org/code']}  2 files  1.5 KiB  (auto_map code)
org/a2  default branch @ {p['org/a2']}  2 files  1.6 KiB
└── org/base  default branch @ {p['org/base']}  3 files  3.5 KiB  (peft base model) (*)
"""
    assert hub.requests == []


def test_tree_files_lists_each_models_files_once(hub, ptm, pins):
    r = ptm("tree", "--files")
    assert r.code == 0
    p = pins
    assert r.out == f"""\
enc (interchangeable, 2 models; * = default)
├── * org/bert  main @ {p['org/bert']}  2 files  6.4 KiB
│   ├── .gitattributes  1.5 KiB
│   └── model.safetensors  4.9 KiB
└──   org/roberta  default branch @ {p['org/roberta']}  2 files  4.5 KiB
    ├── .gitattributes  1.5 KiB
    └── model.safetensors  2.9 KiB
org/adapter  default branch @ {p['org/adapter']}  3 files  1.7 KiB
├── .gitattributes  1.5 KiB
├── adapter_config.json  39 B
├── adapter_model.safetensors  100 B
└── org/base  default branch @ {p['org/base']}  3 files  3.5 KiB  (peft base model)
    ├── .gitattributes  1.5 KiB
    ├── config.json  51 B
    ├── model.safetensors  2.0 KiB
    └── org/code  default branch @ {p['org/code']}  2 files  1.5 KiB  (auto_map code)
        ├── .gitattributes  1.5 KiB
        └── modeling.py  6 B
org/a2  default branch @ {p['org/a2']}  2 files  1.6 KiB
├── .gitattributes  1.5 KiB
├── adapter_config.json  39 B
└── org/base  default branch @ {p['org/base']}  3 files  3.5 KiB  (peft base model) (*)
"""
    assert hub.requests == []


def test_tree_outdated_marks_moved_pins_with_one_request_per_model(hub, ptm, pins):
    latest = hub.commit("org/base", {"extra.txt": "x"})
    r = ptm("tree", "--outdated")
    assert r.code == 0, r.err
    lines = [line for line in r.out.splitlines() if "outdated" in line]
    assert lines == [
        f"└── org/base  default branch @ {pins['org/base']}  3 files  3.5 KiB  (peft base model)  "
        f"[outdated: latest {latest[:12]}]",
        f"└── org/base  default branch @ {pins['org/base']}  3 files  3.5 KiB  (peft base model)  "
        f"[outdated: latest {latest[:12]}] (*)",
    ]
    assert hub.count(path_contains="/api/models/") == 6


def test_tree_json_is_one_nested_document(ptm, pins):
    r = ptm("tree", "--json", "--files")
    assert r.code == 0
    doc = json.loads(r.out)
    assert doc["lock"] == "ptm.lock" and doc["stale"] is False
    assert [(role["name"], role["implicit"], role["interchangeable"], role["default"]) for role in doc["roles"]] == [
        ("enc", False, True, "org/bert"), ("org/adapter", True, False, "org/adapter"), ("org/a2", True, False, "org/a2")]
    adapter = doc["roles"][1]["models"][0]
    base = adapter["dependencies"][0]
    assert (base["id"], base["reason"], base["repeated"], base["requested"], base["commit"][:12], base["file_count"],
            base["size"]) == ("org/base", "peft base model", False, None, pins["org/base"], 3, 1562 + 51 + 2000)
    assert [f["path"] for f in base["files"]] == [".gitattributes", "config.json", "model.safetensors"]
    assert base["dependencies"][0]["id"] == "org/code" and base["dependencies"][0]["dependencies"] == []
    again = doc["roles"][2]["models"][0]["dependencies"][0]
    assert again["id"] == "org/base" and again["repeated"] is True and again["dependencies"] == []
    assert set(adapter) == {"id", "canonical_id", "hub", "repo_type", "requested", "commit", "file_count", "size",
                            "reason", "repeated", "dependencies", "files", "selected"}


def test_tree_of_a_stale_lock_warns_and_shows_unlocked_models(project, ptm, pins):
    (project / "ptm.toml").write_text(MANIFEST + '\n[models."org/new"]\nrole = "enc"\n')
    r = ptm("tree")
    assert r.code == 0
    assert r.err == ("warning: ptm.lock is stale against ptm.toml: org/new: declared in ptm.toml but not locked. "
                     "Run `ptmlock lock` to update it.\n")
    assert "├── * org/bert  main @" in r.out and "└──   org/new  default branch  (not locked)\n" in r.out


def test_tree_errors_are_clean(project):
    (project / "ptm.toml").write_text('[models."org/a"\n')
    r = subprocess.run([PY, "-m", "ptmlock", "tree"], cwd=project, capture_output=True, text=True,
                       env=dict(os.environ), timeout=60)
    assert r.returncode == 3 and "Traceback" not in r.stderr and r.stderr.startswith("error: "), r.stderr
