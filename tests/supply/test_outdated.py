"""`ptmlock outdated` / `ptmlock update` on the local hub, and the pure `diff_models`."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from lockhelpers import PY, model_entry, read_lock, tiny_repo_files, write_manifest
from ptmlock.lockfile.model import LockedFile, LockedModel
from ptmlock.hubs.base import pinned_to_commit
from ptmlock.supply.outdated import diff_models, signed_size


def _sub(project, *args):
    return subprocess.run([PY, "-m", "ptmlock", *args], cwd=project, capture_output=True, text=True,
                          env=dict(os.environ), timeout=120)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- diff_models (pure) ---------------------------------------------------------------------------


def _model(commit: str, *files: LockedFile, **facts) -> LockedModel:
    return LockedModel(id="org/m", commit=commit, requested="main", files=files, **facts)


def test_diff_models_lists_added_removed_rehashed_files_and_facts():
    a, b = "a" * 40, "b" * 40
    old = _model(a, LockedFile("config.json", 10, "1" * 40), LockedFile("model.bin", 100, "2" * 40, "e" * 64),
                 LockedFile("vocab.txt", 50, "3" * 40), license="mit")
    new = _model(b, LockedFile("config.json", 10, "1" * 40), LockedFile("model.bin", 120, "4" * 40, "f" * 64),
                 LockedFile("model.safetensors", 90, "5" * 40, "d" * 64), license="apache-2.0", gated="auto")
    change = diff_models(old, new)
    assert (change.old_commit, change.new_commit, change.changed) == (a, b, True)
    assert [(f.path, f.change, f.size_delta) for f in change.files] == [
        ("model.bin", "modified", 20), ("model.safetensors", "added", 90), ("vocab.txt", "removed", -50)]
    assert [(f.name, f.old, f.new) for f in change.facts] == [
        ("license", "mit", "apache-2.0"), ("gated", False, "auto"), ("pickle_only", True, False)]
    assert (change.old_size, change.new_size, change.size_delta) == (160, 220, 60)
    assert change.to_dict()["files"][0] == {
        "path": "model.bin", "change": "modified", "size_delta": 20,
        "old": {"size": 100, "sha256": "e" * 64, "blob": "2" * 40},
        "new": {"size": 120, "sha256": "f" * 64, "blob": "4" * 40}}
    assert not diff_models(old, old).changed


def test_commit_pins_and_signed_sizes():
    sha = "0123456789abcdef" * 2 + "01234567"
    assert pinned_to_commit(sha, sha) and pinned_to_commit(sha[:7].upper(), sha)
    assert not pinned_to_commit("main", sha) and not pinned_to_commit(None, sha) and not pinned_to_commit("beef", sha)
    assert (signed_size(128), signed_size(-1536), signed_size(0)) == ("+128 B", "-1.5 KiB", "+0 B")


# --- outdated ------------------------------------------------------------------------------------


def _three_models(hub, project, ptm):
    """org/main follows main, org/tagged a tag, org/fixed a commit; all locked."""
    first = {}
    for repo in ("org/main", "org/tagged", "org/fixed"):
        first[repo] = hub.commit(repo, tiny_repo_files("v1"), message="v1")
    hub.create_tag("org/tagged", "v1.0", revision=first["org/tagged"])
    write_manifest(project, {"org/main": {"role": "enc"}, "org/tagged": {"revision": "v1.0"},
                             "org/fixed": {"revision": first["org/fixed"]}})
    assert ptm("lock").code == 0
    return first


def test_outdated_flags_a_moved_branch_not_a_tag_and_never_queries_a_commit_pin(hub, project, ptm):
    first = _three_models(hub, project, ptm)
    assert ptm("outdated").code == 0
    new = {repo: hub.commit(repo, tiny_repo_files("v2"), message="new weights") for repo in first}
    hub.reset_requests()
    before = (project / "ptm.lock").read_bytes()
    r = ptm("outdated")
    assert r.code == 1, r.err
    assert r.out == f"org/main  default branch  {first['org/main'][:12]} -> {new['org/main'][:12]}\n"
    assert r.err == ("1 of 2 checked models is outdated (1 pinned to a commit). "
                     "Run `ptmlock update` to re-pin and see what changed.\n")
    assert hub.count(path_contains="org/fixed") == 0
    assert hub.count(path_contains="/api/models/org/main") == 1 and hub.count(path_contains="/api/models/org/tagged") == 1
    assert (project / "ptm.lock").read_bytes() == before


def test_outdated_json_shape(hub, project, ptm):
    first = _three_models(hub, project, ptm)
    new = hub.commit("org/main", tiny_repo_files("v2"))
    r = ptm("outdated", "--json")
    assert r.code == 1
    data = json.loads(r.out)
    assert data["outdated"] == 1
    assert data["models"] == [
        {"id": "org/fixed", "requested": first["org/fixed"], "commit": first["org/fixed"],
         "latest": first["org/fixed"], "status": "pinned", "reason": "pinned to a commit in ptm.toml"},
        {"id": "org/main", "requested": None, "commit": first["org/main"], "latest": new, "status": "outdated",
         "reason": None},
        {"id": "org/tagged", "requested": "v1.0", "commit": first["org/tagged"], "latest": first["org/tagged"],
         "status": "up-to-date", "reason": None},
    ]


def test_a_moved_tag_is_outdated(hub, project, ptm):
    _three_models(hub, project, ptm)
    hub.delete_tag("org/tagged", "v1.0")
    moved = hub.commit("org/tagged", tiny_repo_files("v2"))
    hub.create_tag("org/tagged", "v1.0", revision=moved)
    r = ptm("outdated")
    assert r.code == 1 and r.out.startswith("org/tagged  v1.0  ") and r.out.rstrip().endswith(moved[:12])


# --- update --------------------------------------------------------------------------------------


def test_update_shows_rehashed_weights_and_dry_run_writes_nothing(hub, project, ptm):
    old_files = tiny_repo_files("v1")
    first = hub.commit("org/m", old_files)
    write_manifest(project, {"org/m": {"revision": "main"}})
    assert ptm("lock").code == 0
    new_weights = old_files["model.safetensors"] + b"more" * 32
    second = hub.commit("org/m", {"model.safetensors": new_weights, "tokenizer.json": b"{}"},
                        delete=["config.json"])
    before = (project / "ptm.lock").read_bytes()

    r = ptm("update", "--dry-run")
    assert r.code == 0, r.err
    assert (project / "ptm.lock").read_bytes() == before
    old_sha, new_sha = _sha(old_files["model.safetensors"]), _sha(new_weights)
    assert f"Would update org/m (main): {first[:12]} -> {second[:12]}" in r.out
    assert "  ~ model.safetensors  " in r.out and "(+128 B)" in r.out
    assert f"      sha256: {old_sha} -> {new_sha}" in r.out
    assert "blob:" not in r.out  # an LFS file's blob id is only its pointer's
    assert "  + tokenizer.json  2 B" in r.out and "  - config.json  " in r.out
    assert r.err.endswith("Dry run: 1 of 1 model would move; ptm.lock was not written.\n")

    r = ptm("update")
    assert r.code == 0
    assert f"Updated org/m (main): {first[:12]} -> {second[:12]}" in r.out
    assert model_entry(read_lock(project), "org/m")["commit"] == second
    assert ptm("outdated").code == 0
    r = ptm("update")
    assert (r.code, r.out) == (0, "") and "ptm.lock is up to date: 1 model checked, none moved." in r.err


def test_update_json_license_change_and_named_models(hub, project, ptm):
    a1 = hub.commit("org/a", tiny_repo_files("v1"))
    b1 = hub.commit("org/b", tiny_repo_files("v1"))
    write_manifest(project, {"org/a": {}, "org/b": {}})
    assert ptm("lock").code == 0
    a2 = hub.commit("org/a", {"README.md": b"---\nlicense: apache-2.0\n---\n"})
    hub.commit("org/b", tiny_repo_files("v2"))
    r = ptm("update", "org/a", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["dry_run"] is False and data["written"] is True and data["skipped"] == []
    (change,) = data["models"]
    assert (change["id"], change["old_commit"], change["new_commit"], change["changed"]) == ("org/a", a1, a2, True)
    assert {"name": "license", "old": "mit", "new": "apache-2.0"} in change["facts"]
    assert [f["path"] for f in change["files"]] == ["README.md"]
    lock = read_lock(project)
    assert model_entry(lock, "org/a")["commit"] == a2 and model_entry(lock, "org/b")["commit"] == b1


def test_update_skips_commit_pins_and_rejects_unknown_models(hub, project, ptm):
    sha = hub.commit("org/fixed", tiny_repo_files())
    write_manifest(project, {"org/fixed": {"revision": sha}})
    assert ptm("lock").code == 0
    hub.reset_requests()
    r = ptm("update", "org/fixed")
    assert r.code == 0 and hub.count() == 0
    assert f"org/fixed: not updated: pinned to commit {sha} in ptm.toml" in r.err
    r = ptm("update", "org/nope")
    assert r.code == 3
    assert "ptmlock update org/nope: no such model in ptm.toml. Declared: org/fixed." in r.err


@pytest.mark.parametrize("verb", ["outdated", "update"])
def test_no_lock_and_stale_lock_are_clear_errors(hub, project, verb):
    hub.commit("org/m", tiny_repo_files())
    write_manifest(project, {"org/m": {}})
    r = _sub(project, verb)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"ptm.lock does not exist: no model is pinned yet. Run `ptmlock lock` to create it, then `ptmlock {verb}`." \
        in r.stderr, r.stderr
    assert _sub(project, "lock").returncode == 0
    write_manifest(project, {"org/m": {}, "org/other": {}})
    r = _sub(project, verb)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr == ("error: ptm.lock is stale against ptm.toml: org/other: declared in ptm.toml but not locked. "
                        f"Run `ptmlock lock` to update it, then `ptmlock {verb}`.\n"), r.stderr


def test_hub_errors_exit_4(hub, project):
    hub.commit("org/m", tiny_repo_files())
    write_manifest(project, {"org/m": {"revision": "dev"}})
    hub.create_branch("org/m", "dev")
    assert _sub(project, "lock").returncode == 0
    hub.delete_branch("org/m", "dev")
    r = _sub(project, "outdated")
    assert r.returncode == 4 and "Traceback" not in r.stderr, r.stderr
    assert "Revision 'dev' of model 'org/m' does not exist" in r.stderr, r.stderr
