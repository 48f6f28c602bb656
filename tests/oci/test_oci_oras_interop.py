"""Interoperability with an independent OCI client, oras-py: it pulls what ptmlock published
(bytes match), and ptmlock syncs what it pushed in the same ModelPack layout."""
from __future__ import annotations

import json
import os

import pytest
from lockhelpers import tiny_repo_files
from ocihelpers import locked_project, new_cache

from ptmlock.install.hf_cache import hub_cache_dir
from ptmlock.oci import layout

oras_provider = pytest.importorskip("oras.provider", reason="oras-py is in the test extra: pip install oras")


def _snapshot(sha: str, repo: str = "org/tiny"):
    return hub_cache_dir() / ("models--" + repo.replace("/", "--")) / "snapshots" / sha


def test_oras_pulls_what_ptmlock_published_and_the_bytes_match(hub, registry, project, ptm, tmp_path):
    sha = locked_project(hub, project, ptm, {"org/tiny": tiny_repo_files()})["org/tiny"]
    assert ptm("publish", f"oci+http://{registry.host}/models").code == 0
    snap = _snapshot(sha)
    client = oras_provider.Registry(hostname=registry.host, insecure=True)
    out = tmp_path / "oras-out"
    pulled = client.pull(target=f"{registry.host}/models/org/tiny:tiny-{sha[:12]}", outdir=str(out))
    assert sorted(os.path.relpath(p, out) for p in pulled) == sorted(os.listdir(snap))
    for name in os.listdir(snap):
        assert (out / name).read_bytes() == (snap / name).read_bytes(), name


def test_ptmlock_syncs_what_oras_pushed_in_the_modelpack_layout(hub, registry, project, ptm, tmp_path, monkeypatch):
    url = f"oci+http://{registry.host}/models"
    sha = locked_project(hub, project, ptm, {"org/tiny": tiny_repo_files()}, sources=[("fleet", url)])["org/tiny"]
    snap = _snapshot(sha)
    staged = tmp_path / "to-push"
    staged.mkdir()
    files, notes = [], {}
    for name in sorted(os.listdir(snap)):
        path = staged / name
        path.write_bytes((snap / name).read_bytes())
        files.append(f"{path}:{layout.media_type(name)}")
        notes[str(path)] = {layout.FILEPATH: name}
    notes["$manifest"] = {layout.REPO: "org/tiny", layout.COMMIT: sha}
    (tmp_path / "annotations.json").write_text(json.dumps(notes))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"descriptor": {"name": "org/tiny", "revision": sha},
                                  "modelfs": {"type": "layers", "diffIds": []}}))
    client = oras_provider.Registry(hostname=registry.host, insecure=True)
    client.push(target=f"{registry.host}/models/org/tiny:tiny-{sha[:12]}", files=files,
                annotation_file=str(tmp_path / "annotations.json"), disable_path_validation=True,
                manifest_config=f"{config}:{layout.CONFIG_TYPE}")

    hub.stop()
    new_cache(tmp_path, monkeypatch, "node")
    r = ptm("sync", "--source", "fleet")
    assert r.code == 0, r.err
    assert ptm("verify", "--deep").code == 0
    for name in os.listdir(snap):
        assert (_snapshot(sha) / name).read_bytes() == (staged / name).read_bytes()
