"""A model's signature bundle as an OCI referrer of its artifact (issue 25).

`publish` pushes the OpenSSF model-signing bundle (`model.sig`, when ptm.lock records a verified
signature) as a small artifact whose `subject` is the model's manifest (OCI 1.1). A registry with
the referrers API indexes it itself (it answers the PUT with `OCI-Subject`); for one without (the
CNCF distribution registry 2.x, many mirrors), `publish` also keeps the OCI tag-schema fallback:
an image index at the tag `sha256-<hex of the subject digest>` listing the referrers.

`find_bundle` is what `sync --source` uses when the model's artifact has no layer for the bundle
(e.g. published by another tool): referrers API first, then the fallback tag. The bundle it
finds is only a candidate: sync places it only when its sha256 is the one ptm.lock recorded, and
then checks it offline against the signer policy, exactly as a bundle from the hub.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from ptmlock.errors import HubError, RegistryAuthError
from ptmlock.lockfile.model import LockedModel
from ptmlock.oci.client import RegistryClient
from ptmlock.oci.layout import MANIFEST_TYPE, TITLE, Layer

BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"  # sigstore's bundle media type
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
SIGNER = "dev.ptmlock.signer"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def fallback_tag(digest: str) -> str:
    """The tag-schema fallback tag of a subject: `sha256-<hex>`."""
    return digest.replace(":", "-", 1)


def signature_manifest(model: LockedModel, bundle: bytes, subject: bytes) -> bytes:
    """The referrer artifact of `bundle` for the model manifest `subject` (bytes as pushed)."""
    assert model.signature is not None
    data: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "artifactType": BUNDLE_TYPE,
        "config": {"mediaType": EMPTY_TYPE, "digest": _digest(EMPTY), "size": len(EMPTY)},
        "layers": [{"mediaType": BUNDLE_TYPE, "digest": _digest(bundle), "size": len(bundle),
                    "annotations": {TITLE: model.signature.path}}],
        "subject": {"mediaType": MANIFEST_TYPE, "digest": _digest(subject), "size": len(subject)},
        "annotations": {SIGNER: model.signature.signer},
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def attach_signature(client: RegistryClient, repo: str, model: LockedModel, bundle: bytes, subject: bytes) -> str:
    """Push `bundle` as a referrer of `subject` in `repo` (and the fallback index when the registry
    does not index it itself). Returns the referrer manifest's digest. Idempotent.

    Raises:
        HubError: the registry refused or failed.
    """
    for blob in (EMPTY, bundle):
        digest = _digest(blob)
        if not client.blob_exists(repo, digest):
            client.upload_blob(repo, digest, len(blob), blob)
    manifest = signature_manifest(model, bundle, subject)
    digest = _digest(manifest)
    indexed = client.put_manifest(repo, digest, manifest)
    if indexed:
        return digest
    tag = fallback_tag(_digest(subject))
    raw = client.get_manifest(repo, tag, accept=INDEX_TYPE)
    index: dict[str, Any] = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": []}
    if raw is not None:
        try:
            found = json.loads(raw)
            if isinstance(found, dict) and isinstance(found.get("manifests"), list):
                index = found
        except ValueError:
            pass
    if not any(isinstance(m, dict) and m.get("digest") == digest for m in index["manifests"]):
        index["manifests"].append({"mediaType": MANIFEST_TYPE, "digest": digest, "size": len(manifest),
                                   "artifactType": BUNDLE_TYPE, "annotations": {SIGNER: model.signature.signer
                                                                                if model.signature else ""}})
        client.put_manifest(repo, tag, json.dumps(index, sort_keys=True, separators=(",", ":")).encode(),
                            media_type=INDEX_TYPE)
    return digest


def find_bundle(client: RegistryClient, repo: str, subject_digest: str, sha256: str) -> Layer | None:
    """The bundle layer among the referrers of `subject_digest` whose sha256 is `sha256` (the one
    ptm.lock recorded), or None. Referrers API first, then the tag-schema fallback.

    Raises:
        RegistryAuthError: the registry refused.
        HubError: the registry is unreachable.
    """
    candidates: list[str] = []
    for raw in _indexes(client, repo, subject_digest):
        try:
            data = json.loads(raw)
        except ValueError:
            continue
        manifests = data.get("manifests") if isinstance(data, dict) else None
        for m in manifests if isinstance(manifests, list) else []:
            if isinstance(m, dict) and m.get("artifactType") == BUNDLE_TYPE and isinstance(m.get("digest"), str):
                candidates.append(m["digest"])
    for digest in dict.fromkeys(candidates):
        body = client.get_manifest(repo, digest)
        if body is None or _digest(body) != digest:
            continue
        try:
            data = json.loads(body)
        except ValueError:
            continue
        subject = data.get("subject") if isinstance(data, dict) else None
        if not isinstance(subject, dict) or subject.get("digest") != subject_digest:
            continue
        for layer in data.get("layers") or []:
            if isinstance(layer, dict) and layer.get("digest") == f"sha256:{sha256}" and \
                    isinstance(layer.get("size"), int):
                return Layer(path="", digest=layer["digest"], size=layer["size"], media_type=BUNDLE_TYPE)
    return None


def _indexes(client: RegistryClient, repo: str, subject_digest: str) -> list[bytes]:
    found: list[bytes] = []
    try:
        api = client.get_manifest(repo, subject_digest, accept=INDEX_TYPE, referrers=True)
    except RegistryAuthError:
        raise
    except HubError:  # a registry without the API may answer 400/405 instead of 404
        api = None
    if api is not None:
        found.append(api)
    fallback = client.get_manifest(repo, fallback_tag(subject_digest), accept=INDEX_TYPE)
    if fallback is not None:
        found.append(fallback)
    return found
