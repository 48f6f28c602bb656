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
    assert "Traceback" not in r.stderr
    for rev in (None, c1):  # the manifest's commit, asked for or implied, never gets c2's bytes
        out = run_app(project, GUARDED.format(rev=rev), env={"PTMLOCK_MODE": "strict"})
        result = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {}
        assert "error" in result and "ptm.lock is stale" in result["error"], out.stdout + out.stderr
        assert c1 in result["error"] and c2 in result["error"], result
    r = cli(project, "sync")
    assert r.returncode == 1 and f"revision pins commit {c1}" in r.stderr, r.stderr
