"""Signatures and digests travel with the artifact (issue 25): `publish` attaches the model's
signature bundle as an OCI referrer (subject; the tag-schema fallback on the distribution
registry, which has no referrers API) and records each manifest digest in ptm.oci.json; `sync
--source` takes the bundle from a referrer when the artifact has no layer for it, checks it against
ptm.lock and the signer policy offline, and pulls by the recorded digest."""
from __future__ import annotations

import hashlib
import json

import pytest
import requests
from ocihelpers import CNCF, new_cache, push_artifact
from signhelpers import sign_with_key, write_key

from ptmlock.lockfile.read import load_lock
from ptmlock.oci.client import RegistryClient
from ptmlock.oci.layout import parse_registry_url
from ptmlock.oci.referrers import BUNDLE_TYPE, attach_signature

FILES = {"config.json": b'{"hidden_size": 4, "model_type": "bert"}', "model.safetensors": b"\x00w" * 4096}
INDEX = {"Accept": "application/vnd.oci.image.index.v1+json"}
MANIFEST = {"Accept": "application/vnd.oci.image.manifest.v1+json"}


@pytest.fixture
def signed(hub, project, ptm, registry, tmp_path):
    """acme/ft signed by keys/acme.pem, locked (signature verified) and synced from the hub."""
    private, public = write_key(tmp_path, "acme")
    (project / "keys").mkdir()
    (project / "keys" / "acme.pem").write_bytes(public.read_bytes())
    bundle = sign_with_key(tmp_path / "sign", FILES, private)
    sha = hub.commit("acme/ft", {**FILES, "model.sig": bundle})
    url = f"oci+http://{registry.host}/models"
    (project / "ptm.toml").write_text(
        '[project]\nname = "app"\n\n[signing]\npublic-key = "keys/acme.pem"\n\n[models."acme/ft"]\n'
        'files = ["*.json", "*.safetensors"]\n\n'
        f'[[source]]\nname = "fleet"\nurl = "{url}"\n\n'
        f'[[source]]\nname = "mlops"\nurl = "oci+http://{registry.host}/mlops"\nmodels = {{ "acme/ft" = "mlops/ft:v1" }}\n')
    assert ptm("lock").code == 0
    r = ptm("sync", "--source", "hub")
    assert r.code == 0, r.err
    return {"sha": sha, "bundle": bundle, "url": url}


def test_publish_attaches_the_bundle_as_a_referrer_and_records_the_digest(signed, registry, project, ptm):
    r = ptm("publish", signed["url"], "--json")
    assert r.code == 0, r.err
    [model] = json.loads(r.out)["models"]
    assert model["signature"].startswith("sha256:")
    base = f"http://{registry.host}/v2/models/acme/ft"
    # distribution 2.8 has no referrers API: the OCI tag-schema fallback lists the referrer
    index = requests.get(f"{base}/manifests/{model['digest'].replace(':', '-')}", headers=INDEX, timeout=10).json()
    assert [(m["digest"], m["artifactType"]) for m in index["manifests"]] == [(model["signature"], BUNDLE_TYPE)]
    referrer = requests.get(f"{base}/manifests/{model['signature']}", headers=MANIFEST, timeout=10)
    assert hashlib.sha256(referrer.content).hexdigest() == model["signature"].split(":")[1]
    body = referrer.json()
    assert body["subject"]["digest"] == model["digest"] and body["artifactType"] == BUNDLE_TYPE
    [layer] = body["layers"]
    assert layer["digest"] == "sha256:" + hashlib.sha256(signed["bundle"]).hexdigest()
    assert requests.get(f"{base}/blobs/{layer['digest']}", timeout=10).content == signed["bundle"]
    # the manifest digest is recorded per registry, for the locked commit
    recorded = json.loads((project / "ptm.oci.json").read_text())
    entry = recorded["registries"][f"{registry.host}/models"]["acme/ft"]
    assert (entry["commit"], entry["digest"], entry["signature"]) == (signed["sha"], model["digest"],
                                                                      model["signature"])
    # publishing again changes nothing: the same referrer, listed once
    assert ptm("publish", signed["url"]).code == 0
    index = requests.get(f"{base}/manifests/{model['digest'].replace(':', '-')}", headers=INDEX, timeout=10).json()
    assert len(index["manifests"]) == 1


def _other_tool_artifact(registry, project) -> str:
    """acme/ft pushed by another tool (no model.sig layer) under mlops/ft:v1; returns its digest."""
    layers = [(f"{CNCF}.weight.config.v1.raw", FILES["config.json"], {"org.cncf.model.filepath": "config.json"}),
              (f"{CNCF}.weight.v1.raw", FILES["model.safetensors"], {"org.cncf.model.filepath": "model.safetensors"})]
    return push_artifact(registry, "mlops/ft", "v1", layers)


def _attach(registry, project, digest: str, bundle: bytes) -> None:
    """Attach `bundle` to the artifact `digest` as the signing tool would (a referrer)."""
    client = RegistryClient(parse_registry_url(f"oci+http://{registry.host}/mlops"))
    subject = requests.get(f"http://{registry.host}/v2/mlops/ft/manifests/{digest}", headers=MANIFEST,
                           timeout=10).content
    model = load_lock(project / "ptm.lock").models[0]
    attach_signature(client, "mlops/ft", model, bundle, subject)


def test_sync_takes_the_bundle_from_a_referrer_and_verifies_it_offline(signed, hub, registry, project, ptm, tmp_path,
                                                                       monkeypatch):
    digest = _other_tool_artifact(registry, project)
    _attach(registry, project, digest, signed["bundle"])
    cache = new_cache(tmp_path, monkeypatch, "node")
    hub.reset_requests()
    r = ptm("sync", "--source", "mlops")
    assert r.code == 0, r.err
    assert hub.count() == 0
    snap = cache / "models--acme--ft" / "snapshots" / signed["sha"]
    assert (snap / "model.sig").read_bytes() == signed["bundle"]
    r = ptm("verify", "--signatures")
    assert r.code == 0 and "Every signed model still matches its signature." in r.err, r.err


def test_a_referrer_with_another_bundle_is_not_used(signed, hub, registry, project, ptm, tmp_path, monkeypatch):
    other_private, _ = write_key(tmp_path, "mallory")
    forged = sign_with_key(tmp_path / "forge", FILES, other_private)
    digest = _other_tool_artifact(registry, project)
    _attach(registry, project, digest, forged)
    cache = new_cache(tmp_path, monkeypatch, "node")
    r = ptm("sync", "--source", "mlops")
    assert r.code == 4, r.err  # the bundle ptm.lock verified is not there: nothing else stands in for it
    assert "no layer for model.sig" in r.err
    assert not (cache / "models--acme--ft" / "snapshots" / signed["sha"] / "model.sig").exists()


def test_sync_pulls_by_the_recorded_digest_when_the_tag_moves(signed, hub, registry, project, ptm, tmp_path,
                                                              monkeypatch):
    r = ptm("publish", signed["url"], "--json")
    assert r.code == 0, r.err
    [model] = json.loads(r.out)["models"]
    tag = model["reference"].rsplit(":", 1)[1]
    # someone moves the tag to an artifact holding other bytes
    layers = [(f"{CNCF}.weight.v1.raw", b"\x00x" * 4096, {"org.cncf.model.filepath": "model.safetensors"})]
    push_artifact(registry, "models/acme/ft", tag, layers)
    cache = new_cache(tmp_path, monkeypatch, "node")
    log = len(registry.log.read_text())
    r = ptm("sync", "--source", "fleet")
    assert r.code == 0, r.err
    assert f"GET /v2/models/acme/ft/manifests/{model['digest']}" in registry.log.read_text()[log:]
    assert (cache / "models--acme--ft" / "snapshots" / signed["sha"] / "model.safetensors").read_bytes() == \
        FILES["model.safetensors"]
    # without the record, the moved tag is what sync finds: exit 5, nothing placed
    (project / "ptm.oci.json").unlink()
    cache = new_cache(tmp_path, monkeypatch, "node2")
    r = ptm("sync", "--source", "fleet")
    assert r.code == 5, r.err
    assert not (cache / "models--acme--ft" / "snapshots" / signed["sha"] / "model.safetensors").exists()
