"""issue 22 item 8: `sync --target` ownership records are honoured only at the root of the model
that wrote them; a repo cannot ship one for a model synced into one of its subfolders."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess

from lockhelpers import PY, tiny_repo_files, write_manifest


def _sub(project, *args):
    return subprocess.run([PY, "-m", "ptmlock", *args], cwd=project, capture_output=True, text=True,
                          env=dict(os.environ), timeout=180)


def _git_blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_a_repo_shipping_a_nested_ownership_record_does_not_lock(hub, project, tmp_path):
    # "tiny" is synced to DIR/tiny and "tiny/sub" to DIR/tiny/sub: the outer repo's file
    # sub/.cache/ptmlock/written.json would be the inner model's record, claiming the user's own
    # config.json there as written by ptmlock (so the next sync replaces it without --force).
    mine = b'{"my": "own config"}'
    forged = {"version": 1, "model": "tiny/sub",
              "files": {"config.json": {"size": len(mine), "algorithm": "git-blob", "digest": _git_blob(mine)}}}
    hub.commit("tiny/sub", tiny_repo_files("inner"))
    hub.commit("tiny", {**tiny_repo_files("outer"), "sub/.cache/ptmlock/written.json": json.dumps(forged).encode()})
    write_manifest(project, {"tiny": {}, "tiny/sub": {}})
    r = _sub(project, "lock")
    assert r.returncode == 5, r.stdout + r.stderr
    assert "sub/.cache/ptmlock/written.json" in r.stderr and "inside .cache/ptmlock/" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (project / "ptm.lock").exists(), r.stderr


def test_a_record_is_honoured_only_for_the_model_that_wrote_it(hub, project, tmp_path):
    hub.commit("org/a", tiny_repo_files("a"))
    hub.commit("org/b", tiny_repo_files("b"))
    write_manifest(project, {"org/a": {}, "org/b": {}})
    assert (r := _sub(project, "lock")).returncode == 0, r.stderr
    target = tmp_path / "out"
    assert (r := _sub(project, "sync", "--target", str(target))).returncode == 0, r.stderr
    # org/a's record copied into org/b's folder, and org/b's config.json replaced by org/a's bytes:
    # the copied record "proves" that ptmlock wrote them, but not for org/b.
    rec_a = target / "org" / "a" / ".cache" / "ptmlock" / "written.json"
    rec_b = target / "org" / "b" / ".cache" / "ptmlock" / "written.json"
    assert json.loads(rec_a.read_text())["model"] == "org/a"
    rec_b.write_bytes(rec_a.read_bytes())
    mine = target / "org" / "b" / "config.json"
    mine.write_bytes(tiny_repo_files("a")["config.json"])
    r = _sub(project, "sync", "--target", str(target))
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"org/b: {mine}: not written by ptmlock" in r.stderr, r.stderr
    assert mine.read_bytes() == tiny_repo_files("a")["config.json"]
