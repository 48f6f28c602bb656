"""`ptmlock verify` through the real CLI, on caches written by a real `ptmlock sync` from the
local hub, then tampered with."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from lockhelpers import PY, tiny_repo_files, write_manifest
from ptmlock.install.hf_cache import hub_cache_dir


@pytest.fixture(autouse=True)
def _own_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def synced(hub, project, ptm):
    """org/tiny locked and synced; returns (commit, files, repo folder in the cache)."""
    files = tiny_repo_files("v1")
    sha = hub.commit("org/tiny", files)
    hub.commit("org/other", {"config.json": b'{"other": 1}'})
    write_manifest(project, {"org/tiny": {"role": "text"}, "org/other": {"role": "speech"}})
    assert ptm("lock").code == 0
    r = ptm("sync")
    assert r.code == 0, r.err
    return sha, files, hub_cache_dir() / "models--org--tiny"


def _blob(files, name):
    data = files[name]
    if name.endswith(".safetensors"):
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_verify_passes_after_sync_and_a_second_run_reads_nothing(synced, ptm):
    r = ptm("verify")
    assert r.code == 0, r.err
    assert r.out == ""
    assert "All 6 files of 2 models intact" in r.err
    assert "0 B read, 6 unchanged since last verified" in r.err  # sync recorded what it checked
    r = ptm("verify", "--deep")
    assert r.code == 0 and "0 unchanged since last verified" in r.err and "0 B read" not in r.err


def _flip_byte_keep_mtime(path):
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("tamper", ["flip", "truncate", "replace", "delete", "relink", "config"])
def test_every_kind_of_tampering_is_caught(synced, ptm, tamper):
    sha, files, repo = synced
    assert ptm("verify").code == 0  # the verified cache now holds every file
    weights = repo / "blobs" / _blob(files, "model.safetensors")
    link = repo / "snapshots" / sha / "model.safetensors"
    if tamper == "flip":
        _flip_byte_keep_mtime(weights)
        want = "org/tiny: model.safetensors: altered: sha256 is "
    elif tamper == "truncate":
        weights.write_bytes(files["model.safetensors"][:-1])
        want = (f"org/tiny: model.safetensors: altered: size is {len(files['model.safetensors']) - 1} bytes, "
                f"expected {len(files['model.safetensors'])}")
    elif tamper == "replace":
        weights.unlink()
        weights.write_bytes(b"\0" * len(files["model.safetensors"]))
        want = "org/tiny: model.safetensors: altered: sha256 is "
    elif tamper == "delete":
        weights.unlink()
        want = f"org/tiny: model.safetensors: missing ({link})"
    elif tamper == "relink":
        link.unlink()
        os.symlink(f"../../blobs/{_blob(files, 'config.json')}", link)
        want = (f"org/tiny: model.safetensors: snapshot link points at blobs/{_blob(files, 'config.json')}, "
                f"expected blobs/{_blob(files, 'model.safetensors')}")
    else:
        _flip_byte_keep_mtime(repo / "blobs" / _blob(files, "config.json"))
        want = "org/tiny: config.json: altered: git-blob is "
    r = ptm("verify")
    assert r.code == 1
    lines = r.out.splitlines()
    assert len(lines) == 1 and lines[0].startswith(want), r.out
    assert "1 of 6 files missing or altered" in r.err and "Run `ptmlock sync` to restore them." in r.err
    assert ptm("sync").code == 0 and ptm("verify", "--deep").code == 0  # sync repairs it


def test_json_report_shape(synced, ptm):
    sha, files, repo = synced
    r = ptm("verify", "--json")
    assert r.code == 0
    data = json.loads(r.out)
    assert data["ok"] is True and data["problems"] == []
    assert data["layout"] == "cache" and data["root"] == str(hub_cache_dir()) and data["files"] == 6
    assert sorted(data) == ["bytes", "cached_files", "files", "hashed_bytes", "layout", "models", "ok", "problems",
                            "root", "skipped", "torch_dir"]
    assert data["torch_dir"] is None  # no url file was checked in torch.hub's folder
    (repo / "snapshots" / sha / "config.json").unlink()
    r = ptm("verify", "--json", "--model", "org/tiny")
    assert r.code == 1 and r.err == ""
    data = json.loads(r.out)
    assert data["ok"] is False and [m["id"] for m in data["models"]] == ["org/tiny"]
    assert data["problems"] == [{
        "model": "org/tiny", "path": "config.json", "kind": "missing",
        "location": str(repo / "snapshots" / sha / "config.json"), "expected": None, "actual": None,
        "algorithm": None, "message": f"org/tiny: config.json: missing ({repo / 'snapshots' / sha / 'config.json'})",
    }]


def test_model_and_role_limit_what_is_verified(synced, ptm):
    sha, _, repo = synced
    (repo / "snapshots" / sha / "config.json").unlink()
    assert ptm("verify", "--model", "org/other").code == 0
    assert ptm("verify", "--role", "speech").code == 0
    assert ptm("verify", "--role", "text").code == 1
    r = ptm("verify", "--model", "org/nope")
    assert r.code == 3 and "'org/nope' is not in ptm.lock" in r.err


def test_target_folder_is_verified(synced, ptm, tmp_path):
    out = tmp_path / "out"
    assert ptm("sync", "--target", str(out)).code == 0
    assert ptm("verify", "--target", str(out)).code == 0
    _flip_byte_keep_mtime(out / "org" / "tiny" / "model.safetensors")
    (out / "org" / "other" / "config.json").unlink()
    r = ptm("verify", "--target", str(out))
    assert r.code == 1
    assert r.out.splitlines()[0] == f"org/other: config.json: missing ({out / 'org' / 'other' / 'config.json'})"
    assert r.out.splitlines()[1].startswith("org/tiny: model.safetensors: altered: sha256 is ")


def test_nothing_synced_yet_lists_every_file_missing(hub, project, ptm):
    hub.commit("org/tiny", tiny_repo_files())
    write_manifest(project, {"org/tiny": {}})
    assert ptm("lock").code == 0
    r = ptm("verify")
    assert r.code == 1 and len(r.out.splitlines()) == 4


def test_stale_or_missing_lock_fails_with_the_fix(synced, project, ptm):
    write_manifest(project, {"org/tiny": {"role": "text"}})
    r = ptm("verify")
    assert r.code == 1 and r.err == ("error: ptm.lock is stale against ptm.toml: org/other: locked but no longer "
                                     "declared in ptm.toml. Run `ptmlock lock` to update it, then `ptmlock verify`.\n")
    (project / "ptm.lock").unlink()
    r = subprocess.run([PY, "-m", "ptmlock", "verify"], cwd=project, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "ptm.lock does not exist" in r.stderr and "Run `ptmlock lock`" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr


def test_verify_as_subprocess_exit_codes_and_no_traceback(synced, project):
    sha, _, repo = synced
    ok = subprocess.run([PY, "-m", "ptmlock", "verify"], cwd=project, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    os.chmod(repo / "blobs", 0o000) if os.geteuid() != 0 else (repo / "snapshots" / sha / "README.md").unlink()
    try:
        bad = subprocess.run([PY, "-m", "ptmlock", "verify"], cwd=project, capture_output=True, text=True, timeout=60)
    finally:
        os.chmod(repo / "blobs", 0o755)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr, bad.stderr


def test_benchmark_runs_small(tmp_path):
    """benchmarks/bench_verify.py end to end at toy sizes (the real figures need the full sizes)."""
    bench = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "benchmarks", "bench_verify.py")
    r = subprocess.run([PY, bench, "--large-mib", "2", "--small-count", "4", "--cached-count", "8", "--sync-mib", "2",
                        "--repeat", "1", "--no-warmup", "--baselines", "openssl"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for case in ("large", "small", "cached", "sync"):
        assert f"\n{case} " in r.stdout, r.stderr
    assert "openssl dgst -sha256" in r.stdout and "snapshot_download" in r.stdout, r.stderr
    assert r.stdout.count("verify() in-process") == 2, r.stderr  # the library's own time, large and small
