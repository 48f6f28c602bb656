"""Lock-only forgeries (issue 22, item 2): a pull request that edits only ptm.lock.

(a) ptm.toml pins a full commit and the lock's entry names another one; (b) a signed model's
entry pointed at an unsigned commit with the old signature record kept. `lock --check` proves
what it can offline, `--signatures` re-verifies recorded signatures from the cache, `--online`
asks the hub again; the strict guard refuses what `lock --check` refuses.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from lockhelpers import tiny_repo_files, write_manifest
from tinymodels import run_app

GUARDED = """
import json, ptmlock.enforce
from huggingface_hub import hf_hub_download
try:
    path = hf_hub_download("org/m", "config.json", revision={rev!r})
    print(json.dumps({{"tag": json.load(open(path))["tag"]}}))
except ptmlock.enforce.GuardError as e:
    print(json.dumps({{"error": str(e)}}))
"""


def cli(project, *args):
    return subprocess.run([sys.executable, "-m", "ptmlock", *args], cwd=project, capture_output=True, text=True,
                          env=dict(os.environ), timeout=300)


def forge_commit(project, tmp_path, manifest_fields, other_commit):
    """ptm.lock of `project`, rewritten so its org/m entry (files included) is the lock of `other_commit`,
    with the requested revision and manifest hash left as they were: a lock-only pull request."""
    other = tmp_path / "other"
    other.mkdir()
    write_manifest(other, {"org/m": {**manifest_fields, "revision": other_commit}})
    assert (r := cli(other, "lock")).returncode == 0, r.stderr
    mine = (project / "ptm.lock").read_text()
    forged = (other / "ptm.lock").read_text()
    for key in ("manifest-hash", "requested"):
        value = re.search(rf'^{key} = "(.*)"$', mine, re.MULTILINE).group(1)
        forged = re.sub(rf'^{key} = ".*"$', f'{key} = "{value}"', forged, flags=re.MULTILINE)
    (project / "ptm.lock").write_text(forged)


def test_an_entry_that_contradicts_a_full_commit_pin_fails_lock_check_and_the_strict_guard(hub, project, tmp_path):
    c1 = hub.commit("org/m", tiny_repo_files("v1"))
    c2 = hub.commit("org/m", tiny_repo_files("v2"))
    write_manifest(project, {"org/m": {"revision": c1}})
    assert (r := cli(project, "lock")).returncode == 0, r.stderr
    forge_commit(project, tmp_path, {}, c2)
    r = cli(project, "lock", "--check")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"org/m: revision pins commit {c1} in ptm.toml, but ptm.lock pins {c2}" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    for rev in (None, c1):  # the manifest's commit, asked for or implied, never gets c2's bytes
        out = run_app(project, GUARDED.format(rev=rev), env={"PTMLOCK_MODE": "strict"})
        result = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {}
        assert "error" in result and "ptm.lock is stale" in result["error"], out.stdout + out.stderr
        assert c1 in result["error"] and c2 in result["error"], result
    r = cli(project, "sync")
    assert r.returncode == 1 and f"revision pins commit {c1}" in r.stderr, r.stderr


SIGNED_FILES = {
    "config.json": b'{"hidden_size": 4, "model_type": "bert", "tag": "v1"}',
    "model.safetensors": b"\x00weights-v1" * 4096,  # LFS (the hub's default .gitattributes)
}
SIGNED_MANIFEST = '[project]\nname = "app"\n\n[signing]\npublic-key = "keys/acme.pem"\n\n[models."org/m"]\n'
LOAD_WEIGHTS = """
import json, ptmlock.enforce
from huggingface_hub import hf_hub_download
try:
    path = hf_hub_download("org/m", "model.safetensors")
    print(json.dumps({"weights": open(path, "rb").read(11).decode("latin-1")}))
except ptmlock.enforce.GuardError as e:
    print(json.dumps({"error": str(e)}))
"""


def _signed_and_forged(hub, project, tmp_path):
    """org/m signed at c1 and locked and synced; upstream then pushed unsigned weights (c2, the old
    model.sig left in place); the forged ptm.lock points the entry at c2 and keeps the signature record."""
    from dataclasses import replace

    from ptmlock.lockfile.read import load_lock
    from ptmlock.lockfile.write import dumps
    from signhelpers import sign_with_key, write_key

    private, public = write_key(tmp_path, "acme")
    (project / "keys").mkdir()
    (project / "keys" / "acme.pem").write_bytes(public.read_bytes())
    c1 = hub.commit("org/m", {**SIGNED_FILES, "model.sig": sign_with_key(tmp_path / "sign", SIGNED_FILES, private)})
    (project / "ptm.toml").write_text(SIGNED_MANIFEST)
    assert (r := cli(project, "lock")).returncode == 0, r.stderr
    assert (r := cli(project, "sync")).returncode == 0, r.stderr
    genuine = (project / "ptm.lock").read_text()
    c2 = hub.commit("org/m", {"model.safetensors": b"\x00weights-v2" * 4096})
    other = tmp_path / "other"
    other.mkdir()
    (other / "ptm.toml").write_text('[project]\nname = "o"\n\n[models."org/m"]\n')
    assert (r := cli(other, "lock")).returncode == 0, r.stderr
    mine, theirs = load_lock(project / "ptm.lock"), load_lock(other / "ptm.lock")
    entry = replace(mine.models[0], commit=c2, files=theirs.models[0].files)
    assert entry.signature is not None and theirs.models[0].commit == c2
    (project / "ptm.lock").write_text(dumps(replace(mine, models=(entry,))))
    return c1, c2, genuine


def test_a_signed_entry_pointed_at_an_unsigned_commit_is_caught_offline_online_and_by_the_strict_guard(
        hub, project, tmp_path):
    c1, c2, genuine = _signed_and_forged(hub, project, tmp_path)
    assert cli(project, "lock", "--check").returncode == 0  # nothing offline-provable without the bundle
    for flag in ("--signatures", "--online"):
        r = cli(project, "lock", "--check", flag)
        assert r.returncode == 1, (flag, r.stdout + r.stderr)
        assert f"org/m@{c2[:12]}: model.safetensors has sha256" in r.stderr and "the signature says" in r.stderr, \
            r.stderr
        assert "Traceback" not in r.stderr, r.stderr
    for offline in ("0", "1"):  # offline, the bundle and the files come from the cache synced before
        out = run_app(project, LOAD_WEIGHTS, env={"PTMLOCK_MODE": "strict", "HF_HUB_OFFLINE": offline})
        result = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {}
        assert "error" in result and "model.safetensors has sha256" in result["error"], out.stdout + out.stderr
    # the genuine lock passes all three, and the strict guard loads the signed weights
    (project / "ptm.lock").write_text(genuine)
    for flags in ((), ("--signatures",), ("--online",)):
        r = cli(project, "lock", "--check", *flags)
        assert r.returncode == 0, (flags, r.stderr)
    for offline in ("1", "0"):
        out = run_app(project, LOAD_WEIGHTS, env={"PTMLOCK_MODE": "strict", "HF_HUB_OFFLINE": offline})
        assert json.loads(out.stdout.strip().splitlines()[-1]) == {"weights": "\x00weights-v1"}, out.stderr


def test_signatures_not_in_the_cache_are_reported_not_passed(hub, project, tmp_path):
    _signed_and_forged(hub, project, tmp_path)
    import shutil

    shutil.rmtree(tmp_path / "hf-home" / "hub")
    r = cli(project, "lock", "--check", "--signatures")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "is not in the cache" in r.stderr and "--online" in r.stderr, r.stderr
    r = cli(project, "lock", "--signatures")
    assert r.returncode == 2 and "go with --check" in r.stderr, r.stderr


def test_online_check_compares_every_locked_commit_with_the_hub(hub, project):
    # an unsigned entry whose weights hash was edited: nothing offline can tell, the hub can
    hub.commit("org/m", tiny_repo_files("v1"))
    write_manifest(project, {"org/m": {}})
    assert (r := cli(project, "lock")).returncode == 0, r.stderr
    text = (project / "ptm.lock").read_text()
    real = re.search(r'path = "model.safetensors", size = \d+, blob = "[0-9a-f]{40}", sha256 = "([0-9a-f]{64})"',
                     text)
    assert real, text
    (project / "ptm.lock").write_text(text.replace(real.group(1), "ab" * 32))
    assert (r := cli(project, "lock", "--check")).returncode == 0, r.stderr
    r = cli(project, "lock", "--check", "--online")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"model.safetensors: {'ab' * 32} in ptm.lock, {real.group(1)} on the hub" in r.stderr, r.stderr
    (project / "ptm.lock").write_text(text)
    r = cli(project, "lock", "--check", "--online")
    assert r.returncode == 0 and "the hub confirms every locked commit" in r.stderr, r.stdout + r.stderr
