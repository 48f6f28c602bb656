"""Bytes at load (issue 22, item 1): a hub or mirror that serves other bytes at the locked commit.

The guard pins the commit; the hostile server (a `LocalHub` fault: a same-size body in place of
the real file, headers untouched) serves other bytes for it. A real transformers program loads
the model through the guard: strict and warn mode both fail the load with `UnlockedBytesError`
(a `GuardError`, exit code 5), and in both the unlocked bytes are never cached, so a later load
from an honest hub gets the locked ones.
"""
from __future__ import annotations

import json
import os
import re

import pytest

from ptmlock.testing import Fault
from tinymodels import last_json, run_app, tiny, write_project  # noqa: F401

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.ml]

LFS = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"

APP = """
import json, sys, ptmlock.enforce
from ptmlock.errors import PtmlockError
from transformers import AutoModel
try:
    value = AutoModel.from_pretrained("org/bert").embeddings.LayerNorm.bias[0].item()
    print(json.dumps({"value": value}))
except PtmlockError as e:
    print(json.dumps({"error": type(e).__name__, "guard": isinstance(e, ptmlock.enforce.GuardError),
                      "exit_code": e.exit_code, "message": str(e)}))
"""


def _cached_bytes(root):
    out = set()
    for base, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(base, name)
            if not os.path.islink(path):
                with open(path, "rb") as f:
                    out.add(f.read())
    return out


@pytest.fixture
def served(hub, project, tiny):
    """org/bert (weights 1.0) locked; returns (commit, locked files, other same-size bytes per file)."""
    good, bad = tiny.files("bert", 1.0), tiny.files("bert", 2.0)
    assert len(good["model.safetensors"]) == len(bad["model.safetensors"])
    sha = hub.commit("org/bert", {**good, ".gitattributes": LFS})
    write_project(project, {"org/bert": {}})
    config = good["config.json"]
    other_config = re.sub(rb'"layer_norm_eps": [0-9.e-]+', lambda m: m.group(0)[:-1] + b"3", config)
    assert other_config != config and len(other_config) == len(config)
    return sha, {"model.safetensors": bad["model.safetensors"], "config.json": other_config}


@pytest.mark.parametrize("mode", ["strict", "warn"])
@pytest.mark.parametrize("path", ["model.safetensors", "config.json"])  # LFS sha256, git blob id
def test_other_bytes_at_the_locked_commit_are_never_loaded(hub, project, served, tmp_path, mode, path):
    sha, other = served
    fault = hub.add_fault(Fault(match=rf"^GET /org/bert/resolve/{sha}/{re.escape(path)}$", body=other[path],
                                times=None))
    report = tmp_path / "report.jsonl"
    r = run_app(project, APP, env={"PTMLOCK_MODE": mode, "PTMLOCK_REPORT": str(report)})
    out = last_json(r)
    assert fault.hits >= 1, r.stderr
    assert "value" not in out, f"unlocked bytes were loaded: {out}\n{r.stderr}"
    # warn mode too: it warns about names, but never serves bytes it knows are not the locked ones
    assert (out["error"], out["guard"], out["exit_code"]) == ("UnlockedBytesError", True, 5), out
    assert f"org/bert@{sha[:12]} {path}" in out["message"] and "ptm.lock locks" in out["message"], out
    assert f"({mode} mode) at " in out["message"], out
    records = [json.loads(line) for line in report.read_text().splitlines()]
    assert {"event": "bytes", "file": path, "verdict": "mismatch"}.items() <= next(
        rec for rec in records if rec.get("event") == "bytes" and rec["verdict"] == "mismatch").items()
    cache = tmp_path / "hf-home" / "hub"
    assert other[path] not in _cached_bytes(cache), "the unlocked bytes were left in the cache"
    # the bad blob is not picked up later: an honest hub now serves the locked bytes
    hub.clear_faults()
    r = run_app(project, APP, env={"PTMLOCK_MODE": mode})
    assert last_json(r) == {"value": 1.0}, r.stderr


def test_locked_bytes_are_verified_once_and_cached_loads_are_not_hashed(hub, project, served, tmp_path):
    sha, _ = served
    report = tmp_path / "report.jsonl"
    r = run_app(project, APP, env={"PTMLOCK_MODE": "strict", "PTMLOCK_REPORT": str(report)})
    assert last_json(r) == {"value": 1.0}, r.stderr
    verified = [json.loads(line) for line in report.read_text().splitlines() if '"event": "bytes"' in line]
    assert {rec["file"] for rec in verified} >= {"model.safetensors", "config.json"}
    assert all(rec["verdict"] == "verified" and rec["commit"] == sha for rec in verified), verified
    report.unlink()
    r = run_app(project, APP, env={"PTMLOCK_MODE": "strict", "PTMLOCK_REPORT": str(report)})
    assert last_json(r) == {"value": 1.0}, r.stderr
    assert '"event": "bytes"' not in report.read_text()  # served from the cache: verify's job


SNAPSHOT = """
import json, ptmlock.enforce
from huggingface_hub import snapshot_download
try:
    print(json.dumps({"path": snapshot_download("org/bert")}))
except ptmlock.enforce.GuardError as e:
    print(json.dumps({"error": type(e).__name__, "message": str(e)}))
"""


def test_snapshot_download_workers_check_every_file(hub, project, served, tmp_path):
    # snapshot_download fetches each file on a worker thread: each download is checked all the same
    sha, other = served
    hub.add_fault(Fault(match=rf"^GET /org/bert/resolve/{sha}/model\.safetensors$", body=other["model.safetensors"],
                        times=None))
    r = run_app(project, SNAPSHOT, env={"PTMLOCK_MODE": "warn"})
    out = last_json(r)
    assert out.get("error") == "UnlockedBytesError", f"{out}\n{r.stderr}"
    assert f"org/bert@{sha[:12]} model.safetensors" in out["message"], out
    assert other["model.safetensors"] not in _cached_bytes(tmp_path / "hf-home" / "hub")
