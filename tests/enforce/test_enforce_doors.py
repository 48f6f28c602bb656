"""The guard's remaining doors (issue 13): `HfFileSystem` / `hf://`, `importlib.reload` of a
patched module, and the hub's metadata calls (pinned online, answered from ptm.lock offline).
Real programs in fresh interpreters against the local hub (stopped for the offline ones)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tinymodels import last_json, run_app, write_project

pytestmark = pytest.mark.torchfree  # needs no torch: .ci/run also runs it with transformers 4.x

V1 = {"config.json": b'{"tag": "v1"}', "weights.bin": b"v1" * 50, "sub/extra.txt": b"extra v1"}
V2 = {"config.json": b'{"tag": "v2"}', "weights.bin": b"v2" * 50, "sub/extra.txt": b"extra v2", "new.txt": b"new"}


@pytest.fixture
def moved(hub, project):
    """org/m locked at v1, then main moved to v2 (which adds new.txt); returns (v1 sha, v2 sha)."""
    v1 = hub.commit("org/m", V1)
    write_project(project, {"org/m": {}})
    v2 = hub.commit("org/m", V2)
    hub.commit("org/other", {"config.json": b'{"tag": "other"}'})
    hub.reset_requests()
    return v1, v2


# ---------------------------------------------------------------------------
# HfFileSystem / hf://


FS_APP = """
import json, warnings
import ptmlock.enforce
import fsspec
from huggingface_hub import HfFileSystem

fs = HfFileSystem()
out = {}
out["plain"] = json.loads(fs.read_text("org/m/config.json"))["tag"]
out["at-main"] = json.loads(fs.read_text("hf://org/m@main/config.json"))["tag"]
with fsspec.open("hf://org/m/config.json", "r") as f:
    out["fsspec"] = json.load(f)["tag"]
out["ls"] = sorted(fs.ls("org/m", detail=False))
out["resolved"] = fs.resolve_path("org/m/config.json").revision
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        out["other"] = json.loads(fs.read_text("hf://org/other/config.json"))["tag"]
    except ptmlock.enforce.GuardError as e:
        out["other"] = "refused: " + str(e)
out["warnings"] = [str(w.message) for w in caught if w.category is ptmlock.enforce.PtmlockWarning]
print(json.dumps(out))
"""


def test_hf_file_system_reads_the_locked_commit_and_warns_about_unlisted_repos(moved, project):
    v1, _ = moved
    out = last_json(run_app(project, FS_APP))
    assert out["plain"] == out["at-main"] == out["fsspec"] == "v1"
    # the listing is of the locked commit (v2's new.txt is not there), and says so in its paths
    assert out["ls"] == [f"org/m@{v1}/{name}" for name in (".gitattributes", "config.json", "sub", "weights.bin")]
    assert out["resolved"] == v1
    assert out["other"] == "other"
    assert len(out["warnings"]) == 1 and "'org/other' is not declared in ptm.toml" in out["warnings"][0]
    assert "app.py:18]" in out["warnings"][0]


def test_hf_file_system_strict_refuses_unlisted_repos_before_any_request(moved, hub, project):
    out = last_json(run_app(project, FS_APP, env={"PTMLOCK_MODE": "strict"}))
    assert out["plain"] == "v1"
    assert out["other"].startswith("refused: ptmlock refused to load 'org/other' (strict mode) at ")
    assert hub.count(path_contains="org/other") == 0


def test_hf_file_system_contradicting_revision_is_caught(moved, hub, project):
    _, v2 = moved
    proc = run_app(project, f"""
        import ptmlock.enforce, json
        from huggingface_hub import HfFileSystem
        try:
            HfFileSystem().read_text("hf://org/m@{v2}/config.json")
            print(json.dumps({{"error": None}}))
        except ptmlock.enforce.GuardError as e:
            print(json.dumps({{"error": str(e)}}))
    """, env={"PTMLOCK_MODE": "strict"})
    assert f"'org/m' is locked at {moved[0][:12]}" in last_json(proc)["error"], proc.stderr
    assert hub.count(path_contains=v2) == 0


# ---------------------------------------------------------------------------
# importlib.reload


def test_reload_of_a_patched_module_reapplies_the_patch(moved, hub, project):
    v1, _ = moved
    proc = run_app(project, """
        import importlib, json
        import ptmlock.enforce
        import huggingface_hub.file_download, huggingface_hub._snapshot_download, huggingface_hub.hf_api
        for module in (huggingface_hub.file_download, huggingface_hub._snapshot_download, huggingface_hub.hf_api):
            importlib.reload(module)
        from huggingface_hub import HfApi, hf_hub_download, snapshot_download
        out = {"tag": json.load(open(hf_hub_download("org/m", "config.json")))["tag"],
               "snapshot": snapshot_download("org/m"), "files": HfApi().list_repo_files("org/m")}
        try:
            hf_hub_download("org/other", "config.json")
            out["other"] = "loaded"
        except ptmlock.enforce.GuardError:
            out["other"] = "refused"
        print(json.dumps(out))
    """, env={"PTMLOCK_MODE": "strict"})
    out = last_json(proc)
    assert out["tag"] == "v1" and out["snapshot"].endswith(v1) and out["other"] == "refused"
    assert "new.txt" not in out["files"]
    assert hub.count(path_contains="org/other") == 0


# ---------------------------------------------------------------------------
# metadata calls


META_APP = """
import json, sys, warnings
import ptmlock.enforce
import huggingface_hub
from huggingface_hub import HfApi, list_repo_files, model_info

api = HfApi()
info = model_info("org/m")
out = {
    "files": list_repo_files("org/m"),
    "info_sha": info.sha,
    "info_files": sorted(s.rfilename for s in info.siblings),
    "repo_info_sha": api.repo_info("org/m").sha,
    "tree": sorted(x.path for x in api.list_repo_tree("org/m")),
    "tree_recursive": sorted(x.path for x in api.list_repo_tree("org/m", recursive=True)),
    "tree_sub": sorted(x.path for x in api.list_repo_tree("org/m", path_in_repo="sub")),
    "paths_info": sorted(type(x).__name__ + ":" + x.path for x in api.get_paths_info("org/m", ["weights.bin", "sub", "new.txt"])),
    "new_exists": api.file_exists("org/m", "new.txt"),
    "config_exists": api.file_exists("org/m", "config.json"),
    "main_exists": api.revision_exists("org/m", "main"),
    "weights_size": next(s.size for s in api.model_info("org/m", files_metadata=True).siblings if s.rfilename == "weights.bin"),
}
print(json.dumps(out))
"""


def _expect_v1(out, v1):
    assert out["files"] == out["info_files"] == [".gitattributes", "config.json", "sub/extra.txt", "weights.bin"]
    assert out["info_sha"] == out["repo_info_sha"] == v1
    assert out["tree"] == [".gitattributes", "config.json", "sub", "weights.bin"]
    assert out["tree_recursive"] == [".gitattributes", "config.json", "sub", "sub/extra.txt", "weights.bin"]
    assert out["tree_sub"] == ["sub/extra.txt"]
    assert out["paths_info"] == ["RepoFile:weights.bin", "RepoFolder:sub"]
    assert out["new_exists"] is False and out["config_exists"] is True and out["main_exists"] is True
    assert out["weights_size"] == 100


def test_metadata_calls_describe_the_locked_commit(moved, project):
    v1, v2 = moved
    proc = run_app(project, META_APP + f"""
from huggingface_hub import model_info
print(json.dumps({{"asked_v2": model_info("org/m", revision="{v2}").sha, "other": model_info("org/other").id}}))
""")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    _expect_v1(lines[0], v1)
    assert lines[1] == {"asked_v2": v2, "other": "org/other"}  # metadata loads nothing: asked as asked, no warning
    assert "PtmlockWarning" not in proc.stderr, proc.stderr


def test_offline_metadata_is_answered_from_the_lock_with_the_hub_stopped(moved, hub, project, tmp_path):
    v1, _ = moved
    synced = subprocess.run([sys.executable, "-m", "ptmlock", "sync"], cwd=project, capture_output=True, text=True)
    assert synced.returncode == 0, synced.stderr
    hub.stop()
    env = {"HF_HUB_OFFLINE": "1"}
    proc = run_app(project, META_APP + """
from huggingface_hub import hf_hub_download
print(json.dumps({"tag": json.load(open(hf_hub_download("org/m", "config.json")))["tag"]}))
try:
    model_info("org/other")
except Exception as e:  # not locked: huggingface_hub's own offline error
    print(json.dumps({"other": type(e).__name__}))
""", env=env)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    _expect_v1(lines[0], v1)
    assert lines[1] == {"tag": "v1"}
    assert lines[2] == {"other": "OfflineModeIsEnabled"}
    unguarded = run_app(project, META_APP, env={**env, "PTMLOCK_MODE": "off"})
    assert unguarded.returncode != 0 and "OfflineModeIsEnabled" in unguarded.stderr, unguarded.stderr
    assert os.environ.get("HF_HUB_OFFLINE") is None
