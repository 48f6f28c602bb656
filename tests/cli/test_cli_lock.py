"""`ptmlock init/add/remove/lock/list` through the real CLI against the local git-backed hub."""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from lockhelpers import PY, model_entry, read_lock, tiny_repo_files, write_manifest
from ptmlock.cli import main
from ptmlock.testing import Fault


def _sub(project, *args, env=None, timeout=120):
    return subprocess.run([PY, "-m", "ptmlock", *args], cwd=project, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


# --- resolution ---------------------------------------------------------------------------------


def test_lock_resolves_branch_tag_short_and_full_sha(hub, project, ptm):
    first = hub.commit("org/tiny", tiny_repo_files("v1"), message="v1")
    hub.create_tag("org/tiny", "v1.0", revision=first)
    second = hub.commit("org/tiny", tiny_repo_files("v2"), message="v2")
    hub.create_branch("org/tiny", "dev", revision=first)
    cases = {"main": second, "dev": first, "v1.0": first, first[:7]: first, first: first}
    for rev, want in cases.items():
        write_manifest(project, {"org/tiny": {"revision": rev}})
        r = ptm("lock")
        assert r.code == 0, r.err
        entry = model_entry(read_lock(project), "org/tiny")
        assert entry["commit"] == want, rev
        assert entry["requested"] == rev


def test_lock_records_files_with_sizes_blob_ids_and_lfs_sha256(hub, project, ptm):
    import hashlib

    files = tiny_repo_files()
    sha = hub.commit("org/tiny", files)
    write_manifest(project, {"org/tiny": {"role": "text"}})
    assert ptm("lock").code == 0
    entry = model_entry(read_lock(project), "org/tiny")
    assert entry["commit"] == sha
    assert entry["license"] == "mit" and entry["library"] == "transformers" and entry["pipeline-tag"] == "fill-mask"
    by_path = {f["path"]: f for f in entry["files"]}
    weights = by_path["model.safetensors"]
    assert weights["size"] == len(files["model.safetensors"])
    assert weights["sha256"] == hashlib.sha256(files["model.safetensors"]).hexdigest()
    config = by_path["config.json"]
    git_blob = hashlib.sha1(b"blob %d\0" % len(files["config.json"]) + files["config.json"]).hexdigest()
    assert config == {"path": "config.json", "size": len(files["config.json"]), "blob": git_blob}
    assert [f["path"] for f in entry["files"]] == sorted(by_path)
    assert entry["pickle-only"] is False and entry["custom-code"] is False


def test_renamed_repo_keeps_declared_id_and_records_canonical(hub, project, ptm):
    hub.commit("google-bert/bert-base-uncased", tiny_repo_files())
    hub.rename("bert-base-uncased", "google-bert/bert-base-uncased")
    write_manifest(project, {"bert-base-uncased": {}})
    r = ptm("lock")
    assert r.code == 0, r.err
    entry = model_entry(read_lock(project), "bert-base-uncased")
    assert entry["canonical-id"] == "google-bert/bert-base-uncased"


def test_same_repo_declared_under_old_and_new_name_is_refused(hub, project, ptm):
    hub.commit("google-bert/bert-base-uncased", tiny_repo_files())
    hub.rename("bert-base-uncased", "google-bert/bert-base-uncased")
    write_manifest(project, {"bert-base-uncased": {}, "google-bert/bert-base-uncased": {}})
    r = ptm("lock")
    assert r.code == 3
    assert "same model on the hub (google-bert/bert-base-uncased)" in r.err
    assert not (project / "ptm.lock").exists()


def test_dataset_repo_is_locked_as_dataset(hub, project, ptm):
    sha = hub.commit("org/data", {"train.csv": b"a,b\n1,2\n", "README.md": b"---\nlicense: cc-by-4.0\n---\n"},
                     repo_type="dataset")
    write_manifest(project, {"org/data": {"type": "dataset"}})
    r = ptm("lock")
    assert r.code == 0, r.err
    entry = model_entry(read_lock(project), "org/data")
    assert entry["repo-type"] == "dataset" and entry["commit"] == sha and entry["license"] == "cc-by-4.0"
    assert hub.count(path_contains="/api/datasets/org/data") >= 1


def test_partial_mirror_without_file_metadata_is_completed_from_the_tree(hub, project, ptm):
    import hashlib

    files = tiny_repo_files()
    hub.commit("org/tiny", files)
    hub.mirror_mode = "partial"
    write_manifest(project, {"org/tiny": {}})
    assert ptm("lock").code == 0
    weights = next(f for f in model_entry(read_lock(project), "org/tiny")["files"] if f["path"] == "model.safetensors")
    assert weights["sha256"] == hashlib.sha256(files["model.safetensors"]).hexdigest()
    assert weights["size"] == len(files["model.safetensors"])
    assert hub.count(path_contains="/tree/") >= 1


def test_lock_of_50_models_concurrently(hub, project, ptm):
    hub.latency = 0.02
    models = {}
    for i in range(50):
        hub.commit(f"org/m{i:02d}", {"config.json": json.dumps({"i": i}).encode()})
        models[f"org/m{i:02d}"] = {"role": "pool"}
    write_manifest(project, models)
    r = ptm("lock", "--jobs", "16")
    assert r.code == 0, r.err
    lock = read_lock(project)
    assert [m["id"] for m in lock["model"]] == sorted(models)
    assert hub.count(path_contains="/api/models/") == 50
    assert hub.count(path_contains="/resolve/") == 0  # config.json's summary came with the repo info
    assert "50 models (50 resolved, 0 unchanged)" in r.err


def test_lock_is_byte_identical_across_runs(hub, tmp_path, monkeypatch, capsys):
    hub.commit("org/a", tiny_repo_files("a"))
    hub.commit("org/b", tiny_repo_files("b"))
    texts = []
    for n in range(2):
        p = tmp_path / f"p{n}"
        p.mkdir()
        write_manifest(p, {"org/b": {"role": "x"}, "org/a": {"role": "x", "files": ["*.json"]}})
        monkeypatch.chdir(p)
        assert main(["lock"]) == 0
        texts.append((p / "ptm.lock").read_bytes())
    assert texts[0] == texts[1]
    text = texts[0].decode()
    assert "tmp" not in text and not re.search(r"\d{4}-\d{2}-\d{2}", text)
    assert text.index('id = "org/a"') < text.index('id = "org/b"')


# --- re-use, check and upgrade -------------------------------------------------------------------


def test_lock_reuses_unchanged_pins_without_requests(hub, project, ptm):
    first = hub.commit("org/a", tiny_repo_files("1"))
    hub.commit("org/b", tiny_repo_files("1"))
    write_manifest(project, {"org/a": {}, "org/b": {}})
    assert ptm("lock").code == 0
    before = (project / "ptm.lock").read_bytes()
    hub.commit("org/a", tiny_repo_files("2"))  # upstream moves: the pin must not
    hub.reset_requests()
    r = ptm("lock")
    assert r.code == 0
    assert hub.requests == []
    assert (project / "ptm.lock").read_bytes() == before
    assert model_entry(read_lock(project), "org/a")["commit"] == first
    assert "ptm.lock is up to date: 2 models (2 unchanged)." in r.err


def test_lock_after_manifest_change_asks_only_for_the_changed_entry(hub, project, ptm):
    hub.commit("org/a", tiny_repo_files("1"))
    sha_b = hub.commit("org/b", tiny_repo_files("1"))
    hub.create_tag("org/b", "v1", revision=sha_b)
    write_manifest(project, {"org/a": {}, "org/b": {}})
    assert ptm("lock").code == 0
    write_manifest(project, {"org/a": {"role": "enc"}, "org/b": {"revision": "v1"}})
    hub.reset_requests()
    r = ptm("lock")
    assert r.code == 0
    assert hub.count(path_contains="/api/models/org/a") == 0
    assert hub.count(path_contains="/api/models/org/b") == 1
    lock = read_lock(project)
    assert model_entry(lock, "org/a")["role"] == "enc"
    assert model_entry(lock, "org/b")["requested"] == "v1"


def test_lock_check_passes_on_fresh_lock_and_fails_with_differences(hub, project, ptm):
    hub.commit("org/a", tiny_repo_files())
    hub.commit("org/b", tiny_repo_files())
    write_manifest(project, {"org/a": {}})
    assert ptm("lock").code == 0
    hub.reset_requests()
    r = ptm("lock", "--check")
    assert r.code == 0 and "up to date" in r.err
    write_manifest(project, {"org/a": {"revision": "dev"}, "org/b": {}})
    before = (project / "ptm.lock").read_bytes()
    r = ptm("lock", "--check")
    assert r.code == 1
    assert "org/a: requested is 'dev' in ptm.toml but unset in ptm.lock" in r.err
    assert "org/b: declared in ptm.toml but not locked" in r.err
    assert hub.requests == []
    assert (project / "ptm.lock").read_bytes() == before


def test_lock_check_without_lock_fails(project, ptm):
    write_manifest(project, {"org/a": {}})
    r = ptm("lock", "--check")
    assert r.code == 1 and "ptm.lock does not exist" in r.err


def test_lock_check_reports_removed_model(hub, project, ptm):
    hub.commit("org/a", tiny_repo_files())
    write_manifest(project, {"org/a": {}})
    assert ptm("lock").code == 0
    write_manifest(project, {})
    r = ptm("lock", "--check")
    assert r.code == 1 and "org/a: locked but no longer declared in ptm.toml" in r.err


def test_upgrade_moves_pins_and_upgrade_model_only_that_one(hub, project, ptm):
    hub.commit("org/a", tiny_repo_files("1"))
    hub.commit("org/b", tiny_repo_files("1"))
    write_manifest(project, {"org/a": {}, "org/b": {}})
    assert ptm("lock").code == 0
    new_a = hub.commit("org/a", tiny_repo_files("2"))
    new_b = hub.commit("org/b", tiny_repo_files("2"))
    r = ptm("lock", "--upgrade", "org/a")
    assert r.code == 0, r.err
    lock = read_lock(project)
    assert model_entry(lock, "org/a")["commit"] == new_a
    assert model_entry(lock, "org/b")["commit"] != new_b
    assert ptm("lock", "--upgrade").code == 0
    assert model_entry(read_lock(project), "org/b")["commit"] == new_b


def test_upgrade_of_undeclared_model_is_an_error(hub, project, ptm):
    write_manifest(project, {})
    r = ptm("lock", "--upgrade", "org/zzz")
    assert r.code == 3 and "--upgrade org/zzz: no such model in ptm.toml" in r.err


# --- hub errors through the CLI ------------------------------------------------------------------


def _assert_clean_failure(r, project, code, *fragments, manifest_before=None):
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr
    for fragment in fragments:
        assert fragment in r.stderr
    assert not (project / "ptm.lock").exists()
    if manifest_before is not None:
        assert (project / "ptm.toml").read_bytes() == manifest_before


def test_repo_not_found_exits_4(hub, project):
    write_manifest(project, {"org/nope": {}})
    r = _sub(project, "lock")
    _assert_clean_failure(r, project, 4, "Model 'org/nope' was not found on http://127.0.0.1:")


def test_revision_not_found_exits_4(hub, project):
    hub.commit("org/a", tiny_repo_files())
    write_manifest(project, {"org/a": {"revision": "v9"}})
    r = _sub(project, "lock")
    _assert_clean_failure(r, project, 4, "Revision 'v9' of model 'org/a' does not exist", "ptmlock add org/a@REV")


def test_gated_repo_without_token_exits_4_and_with_token_locks(hub, project):
    hub.commit("org/gated", tiny_repo_files())
    hub.set_gated("org/gated", True)
    hub.tokens.add("hf_supersecrettoken123")
    write_manifest(project, {"org/gated": {}})
    before = (project / "ptm.toml").read_bytes()
    # gating is enforced on downloads; a lock only reads repo info, so the pin is allowed
    r = _sub(project, "lock")
    assert r.returncode == 0, r.stderr
    assert read_lock(project)["model"][0]["gated"] in (True, "auto", "manual")
    assert (project / "ptm.toml").read_bytes() == before


def test_private_repo_needs_token_and_token_is_never_written(hub, project):
    hub.create_repo("org/private", private=True)
    hub.commit("org/private", tiny_repo_files())
    token = "hf_supersecrettoken123"
    hub.tokens.add(token)
    write_manifest(project, {"org/private": {}})
    r = _sub(project, "lock")
    _assert_clean_failure(r, project, 4, "'org/private' was not found", "HF_TOKEN")
    r = _sub(project, "lock", env={"HF_TOKEN": token})
    assert r.returncode == 0, r.stderr
    assert token not in (project / "ptm.lock").read_text()
    assert token not in r.stderr + r.stdout, r.stderr


def test_gated_repo_info_refused_exits_4(hub, project):
    hub.commit("org/a", tiny_repo_files())
    hub.add_fault(Fault(match=r"GET /api/models/org/a", status=403, error_code="GatedRepo", times=None))
    write_manifest(project, {"org/a": {}})
    r = _sub(project, "lock")
    _assert_clean_failure(r, project, 4, "'org/a' is gated", "HF_TOKEN")


def test_500_then_recovery_is_retried(hub, project):
    sha = hub.commit("org/a", tiny_repo_files())
    hub.add_fault(Fault(match=r"GET /api/models/org/a", status=500, times=2))
    write_manifest(project, {"org/a": {}})
    r = _sub(project, "lock")
    assert r.returncode == 0, r.stderr
    assert model_entry(read_lock(project), "org/a")["commit"] == sha
    assert hub.count(path_contains="/api/models/org/a") == 3


def test_persistent_503_fails_after_deadline(hub, project):
    hub.commit("org/a", tiny_repo_files())
    hub.add_fault(Fault(match=r"GET /api/models/org/a", status=503, times=None))
    write_manifest(project, {"org/a": {}})
    r = _sub(project, "lock", env={"PTMLOCK_HUB_DEADLINE": "2"})
    _assert_clean_failure(r, project, 4, "did not answer model 'org/a' after", "(last: HTTP 503)")
    assert hub.count(path_contains="/api/models/org/a") >= 3


def test_timeout_fails_clearly(hub, project):
    hub.commit("org/a", tiny_repo_files())
    hub.add_fault(Fault(match=r"GET /api/models/org/a", delay=2.0, times=None))
    write_manifest(project, {"org/a": {}})
    r = _sub(project, "lock", env={"PTMLOCK_HUB_TIMEOUT": "0.3", "PTMLOCK_HUB_DEADLINE": "1.5"})
    _assert_clean_failure(r, project, 4, "did not answer model 'org/a'", "Timeout")


def test_unreachable_hub_fails_clearly(project):
    write_manifest(project, {"org/a": {}})
    r = _sub(project, "lock", env={"HF_ENDPOINT": "http://127.0.0.1:9"})
    _assert_clean_failure(r, project, 4, "did not answer model 'org/a'", "Connect")  # httpx ConnectError, requests ConnectionError


@pytest.mark.parametrize("mutation, fragment", [
    (lambda d: {**d, "sha": "not-a-sha"}, "sha = 'not-a-sha': a commit must be 40 lowercase hex characters"),
    (lambda d: {**d, "siblings": [*d["siblings"], {"rfilename": "../../etc/passwd", "size": 1,
                                                   "blobId": "0" * 40}]}, "'../../etc/passwd'"),
    (lambda d: {**d, "siblings": [*d["siblings"], {"rfilename": "/abs", "size": 1, "blobId": "0" * 40}]}, "'/abs'"),
    (lambda d: {**d, "siblings": [{**s, "size": -5} for s in d["siblings"]]}, ".size = -5: a size must be between 0"),
])
def test_unsafe_hub_answer_is_refused_with_exit_5(hub, project, mutation, fragment):
    hub.commit("org/a", tiny_repo_files())
    hub.add_fault(Fault(match=r"GET /api/models/org/a", transform_json=mutation, times=None))
    write_manifest(project, {"org/a": {}})
    r = _sub(project, "lock")
    _assert_clean_failure(r, project, 5, fragment, "refuses")


def test_two_concurrent_lock_processes_leave_one_valid_lock(hub, project):
    hub.latency = 0.05
    models = {}
    for i in range(10):
        hub.commit(f"org/m{i}", {"config.json": b"{}"})
        models[f"org/m{i}"] = {}
    write_manifest(project, models)
    procs = [subprocess.Popen([PY, "-m", "ptmlock", "lock"], cwd=project, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    lock = read_lock(project)
    assert len(lock["model"]) == 10
    # the second run waited, re-read the lock, and reused every pin
    assert any("10 unchanged" in err for _, err in results)
    assert not list(project.glob(".ptm.lock.*.tmp"))


# --- init / add / remove / list ------------------------------------------------------------------


def test_init_writes_a_valid_manifest_and_refuses_to_overwrite(project, ptm):
    r = ptm("init", "--name", "demo")
    assert r.code == 0
    text = (project / "ptm.toml").read_text()
    assert 'name = "demo"' in text
    r = ptm("init")
    assert r.code == 3 and "already exists" in r.err
    assert (project / "ptm.toml").read_text() == text


def test_add_declares_and_locks(hub, project, ptm):
    sha = hub.commit("org/a", tiny_repo_files())
    hub.create_tag("org/a", "v1", revision=sha)
    assert ptm("init").code == 0
    r = ptm("add", "org/a@v1", "--role", "text")
    assert r.code == 0, r.err
    text = (project / "ptm.toml").read_text()
    assert '[models."org/a"]\nrevision = "v1"\nrole = "text"\n' in text
    assert model_entry(read_lock(project), "org/a")["commit"] == sha
    assert ptm("lock", "--check").code == 0


def test_add_that_fails_to_resolve_changes_nothing(hub, project, ptm):
    assert ptm("init").code == 0
    before = (project / "ptm.toml").read_bytes()
    r = ptm("add", "org/missing")
    assert r.code == 4 and "not found" in r.err
    assert (project / "ptm.toml").read_bytes() == before
    assert not (project / "ptm.lock").exists()


def test_add_no_lock_only_edits_manifest(hub, project, ptm):
    assert ptm("init").code == 0
    r = ptm("add", "org/whatever", "--no-lock", "--type", "dataset")
    assert r.code == 0
    assert '[models."org/whatever"]\ntype = "dataset"\n' in (project / "ptm.toml").read_text()
    assert not (project / "ptm.lock").exists()
    assert hub.requests == []


def test_add_bad_model_argument_is_a_clear_error(project, ptm):
    assert ptm("init").code == 0
    r = ptm("add", "a@b@c")
    assert r.code == 3 and "MODEL@REVISION" in r.err
    r = ptm("add", "bad id")
    assert r.code == 3 and "'bad id' is not a model" in r.err
    r = ptm("add", "org/bad..id")
    assert r.code == 3 and "invalid model id 'org/bad..id'" in r.err
    assert "bad" not in (project / "ptm.toml").read_text()


def test_remove_drops_model_from_manifest_and_lock_without_network(hub, project, ptm):
    hub.commit("org/a", tiny_repo_files())
    hub.commit("org/b", tiny_repo_files())
    write_manifest(project, {"org/a": {"role": "t"}, "org/b": {"role": "t"}}, extra='\n[roles.t]\ndefault = "org/a"\n')
    assert ptm("lock").code == 0
    hub.reset_requests()
    r = ptm("remove", "org/a")
    assert r.code == 0, r.err
    assert "removed the default of [roles.t]" in r.err
    assert hub.requests == []
    assert [m["id"] for m in read_lock(project)["model"]] == ["org/b"]
    assert ptm("lock", "--check").code == 0
    r = ptm("remove", "org/a")
    assert r.code == 3 and "not in the manifest" in r.err


def test_list_groups_by_role_and_json(hub, project, ptm):
    hub.commit("org/a", tiny_repo_files())
    hub.commit("org/b", tiny_repo_files())
    hub.commit("org/s", tiny_repo_files())
    write_manifest(project, {"org/a": {"role": "text"}, "org/b": {"role": "text"}, "org/s": {"role": "speech"}},
                   extra='\n[roles.text]\ndefault = "org/b"\n')
    assert ptm("lock").code == 0
    r = ptm("list")
    assert r.code == 0
    lines = r.out.splitlines()
    assert lines[0] == "text (interchangeable, 2 models; * = default)"  # the `*` explained (issue 24)
    assert lines[1].startswith("    org/a  default branch @ ")
    assert lines[2].startswith("  * org/b  default branch @ ")
    assert lines[3] == "speech (single)"
    data = json.loads(ptm("list", "--json").out)
    assert data["stale"] is False
    assert [r["name"] for r in data["roles"]] == ["text", "speech"]
    assert data["roles"][0]["default"] == "org/b"
    assert len(data["roles"][0]["models"][0]["commit"]) == 40


def test_no_manifest_is_a_clear_error(project, ptm):
    r = ptm("lock")
    assert r.code == 3 and "No ptm.toml found" in r.err and "ptmlock init" in r.err


def test_corrupt_lock_is_a_clear_error(hub, project, ptm):
    write_manifest(project, {})
    (project / "ptm.lock").write_text("version = [\n")
    r = ptm("lock")
    assert r.code == 3 and "not valid TOML" in r.err and "ptmlock lock" in r.err
    (project / "ptm.lock").write_text("version = 99\nmanifest-hash = 'x'\nmodel = []\n")
    r = ptm("lock", "--check")
    assert r.code == 3 and "format version 99" in r.err


def test_version_and_help(project):
    r = _sub(project, "--version")
    assert r.returncode == 0 and re.match(r"ptmlock, version \d+\.\d+", r.stdout), r.stderr
    r = _sub(project, "--help")
    assert r.returncode == 0, r.stderr
    for verb in ("init", "add", "remove", "lock", "list"):
        assert verb in r.stdout, r.stderr
    r = _sub(project, "lock", "--bogus")
    assert r.returncode == 2 and "No such option" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_exit_codes_in_readme_match_errors_module():
    from pathlib import Path

    from ptmlock import errors

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for name in ("EXIT_OK", "EXIT_CHECK_FAILED", "EXIT_USAGE", "EXIT_MANIFEST", "EXIT_HUB", "EXIT_INTEGRITY",
                 "EXIT_INTERNAL", "EXIT_INTERRUPTED"):
        code = getattr(errors, name)
        assert re.search(rf"^\| {code} \|", readme, re.M), name


def test_check_and_upgrade_together_is_a_usage_error(project, ptm):
    write_manifest(project, {})
    r = ptm("lock", "--check", "--upgrade")
    assert r.code == 2 and "--check and --upgrade cannot be used together" in r.err


@pytest.mark.parametrize("debug", [False, True])
def test_a_bug_is_one_line_naming_the_log_and_exit_70(project, ptm, monkeypatch, debug):
    import ptmlock.project

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(ptmlock.project, "check_lock", broken)  # a bug in ptmlock's own code
    if debug:
        monkeypatch.setenv("PTMLOCK_DEBUG", "1")
    write_manifest(project, {})
    r = ptm("lock", "--check")
    assert r.code == 70
    first = r.err.splitlines()[0]
    assert first.startswith("error: internal error (a bug in ptmlock): RuntimeError: boom. The details are in ")
    log = first.split("The details are in ")[1].split("; please report it.")[0]
    assert "RuntimeError: boom" in open(log).read()
    assert ("Traceback" in r.err) is debug


def test_interrupt_exits_130(project, ptm, monkeypatch):
    import ptmlock.project

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ptmlock.project, "check_lock", interrupted)
    write_manifest(project, {})
    r = ptm("lock", "--check")
    assert r.code == 130 and r.err.strip() == "Interrupted." and "Traceback" not in r.err
