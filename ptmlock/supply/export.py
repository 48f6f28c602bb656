"""`ptmlock export --format cyclonedx`: ptm.lock as a CycloneDX 1.6 JSON ML bill of materials.

One `machine-learning-model` component per locked model (`data` for a dataset repo), versioned
by its commit, with a `pkg:huggingface/<namespace>/<name>@<commit>` purl (purl-spec: namespace and
name keep their case, the commit is lowercase; `repository_url` names a hub other than
huggingface.co), its declared license(s), its role and requested ref as `ptmlock:*` properties,
and each file as a nested `file` component with its SHA-256 (LFS files) or git blob id. The
project is `metadata.component`; `dependencies` says it needs every model (and a model its
required models); a `compositions` entry states each model's file list is complete.

The output is deterministic: no timestamp unless asked, and a `serialNumber` that is a uuid5
of the lock's sha256, so the same lock gives the same bytes.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ptmlock import __version__
from ptmlock.constants import HUB_HUGGINGFACE, HUB_TORCHHUB, HUB_URL
from ptmlock.lockfile.fresh import lock_state
from ptmlock.lockfile.model import Lock, LockedFile, LockedModel
from ptmlock.manifest.model import Manifest, ModelSpec
from ptmlock.manifest.parse import load_manifest
from ptmlock.supply.licenses import spdx_id

FORMATS = ("cyclonedx",)
DEFAULT_ENDPOINT = "https://huggingface.co"
_SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://ptmlock/ptm.lock")
_PROJECT_REF = "ptmlock-project"


def export_project(manifest_path: Path, *, fmt: str = "cyclonedx", timestamp: bool = False,
                   endpoint: str | None = None) -> str:
    """The bill of materials of the project at `manifest_path`, as JSON text (ending in a newline).

    `endpoint` is the hub models were locked from (default: `HF_ENDPOINT`, else huggingface.co).

    Raises:
        ManifestError: bad manifest; LockfileError: no lock or a stale one.
        ValueError: an unknown `fmt` (the CLI rejects those first).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    manifest = load_manifest(manifest_path)
    lock = lock_state(manifest).require("export")
    lock_bytes = manifest.lock_path.read_bytes()
    if endpoint is None:
        from ptmlock.hubs.huggingface import hub_endpoint

        endpoint = hub_endpoint()
    bom = cyclonedx_bom(manifest, lock, lock_sha256=hashlib.sha256(lock_bytes).hexdigest(), endpoint=endpoint,
                        timestamp=_now() if timestamp else None)
    return json.dumps(bom, indent=2, ensure_ascii=False) + "\n"


def cyclonedx_bom(manifest: Manifest, lock: Lock, *, lock_sha256: str, endpoint: str = DEFAULT_ENDPOINT,
                  timestamp: str | None = None) -> dict[str, Any]:
    """The CycloneDX 1.6 document for `lock` as JSON data; pure."""
    endpoint = endpoint.rstrip("/")
    models = sorted(lock.models, key=lambda m: (m.id.casefold(), m.id))
    refs = {m.id: model_ref(m, endpoint) for m in models}
    members = manifest.role_members()
    metadata: dict[str, Any] = {}
    if timestamp is not None:
        metadata["timestamp"] = timestamp
    metadata["tools"] = {"components": [{"type": "application", "name": "ptmlock", "version": __version__}]}
    metadata["component"] = {
        "type": "application",
        "bom-ref": _PROJECT_REF,
        "name": manifest.name or manifest.project_dir.name,
        "properties": [{"name": "ptmlock:lock-sha256", "value": lock_sha256}],
    }
    components = [_component(m, refs[m.id], endpoint, manifest, members) for m in models]
    dependencies = [{"ref": _PROJECT_REF, "dependsOn": sorted(refs[m.id] for m in models if not m.required_by)}]
    for m in models:
        needs = sorted(refs[d.id] for d in models
                       if any(r.casefold() in (m.id.casefold(), m.canonical.casefold()) for r in d.required_by))
        dependencies.append({"ref": refs[m.id], "dependsOn": needs})
    bom: dict[str, Any] = {
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{uuid.uuid5(_SERIAL_NAMESPACE, lock_sha256)}",
        "version": 1,
        "metadata": metadata,
        "components": components,
        "dependencies": dependencies,
    }
    if models:
        bom["compositions"] = [{"aggregate": "complete", "assemblies": [refs[m.id] for m in models]}]
    return bom


def model_ref(m: LockedModel, endpoint: str = DEFAULT_ENDPOINT) -> str:
    """The model's bom-ref: its purl when it has one, else `ptmlock:<hub>:<id>@<commit>`."""
    return purl(m, endpoint) or f"ptmlock:{m.hub}:{m.id}@{m.commit}"


def purl(m: LockedModel, endpoint: str = DEFAULT_ENDPOINT) -> str | None:
    """The package URL of a locked model, or None (dataset repos and url models have no purl type).

    `pkg:huggingface/<namespace>/<name>@<commit>` for Hugging Face models; `pkg:github/...` for
    torchhub repos (they are GitHub repos).
    """
    if m.hub == HUB_HUGGINGFACE and m.repo_type == "model":
        qualifiers = ""
        if endpoint.rstrip("/") != DEFAULT_ENDPOINT:
            qualifiers = "?repository_url=" + quote(endpoint.rstrip("/"), safe=":/")
        path = "/".join(quote(part, safe="") for part in m.canonical.split("/"))
        return f"pkg:huggingface/{path}@{m.commit.lower()}{qualifiers}"
    if m.hub == HUB_TORCHHUB:
        repo = m.canonical.split(":", 1)[0]
        return f"pkg:github/{'/'.join(quote(p, safe='') for p in repo.split('/'))}@{m.commit.lower()}"
    return None


def _component(m: LockedModel, ref: str, endpoint: str, manifest: Manifest,
               members: dict[str, list[ModelSpec]]) -> dict[str, Any]:
    namespace, _, name = m.canonical.rpartition("/") if m.hub != HUB_URL else ("", "", m.id)
    c: dict[str, Any] = {
        "type": "data" if m.repo_type == "dataset" else "machine-learning-model",
        "bom-ref": ref,
    }
    if namespace:
        c["group"] = namespace
    c["name"] = name
    c["version"] = m.commit
    p = purl(m, endpoint)
    if p is not None:
        c["purl"] = p
    if m.hub == HUB_URL:
        c["hashes"] = [{"alg": "SHA-256", "content": f.sha256} for f in m.files if f.sha256]
    licenses = [x.strip() for x in (m.license or "").split(",") if x.strip()]
    if licenses:
        c["licenses"] = [{"license": _license(x)} for x in licenses]
    refs = _external_refs(m, endpoint)
    if refs:
        c["externalReferences"] = refs
    c["properties"] = _properties(m, manifest, members)
    if m.pipeline_tag and c["type"] == "machine-learning-model":
        c["modelCard"] = {"modelParameters": {"task": m.pipeline_tag}}
    if m.hub != HUB_URL and m.files:
        c["components"] = [_file(ref, f) for f in sorted(m.files, key=lambda f: f.path)]
    return c


def _license(hf_id: str) -> dict[str, str]:
    spdx = spdx_id(hf_id)
    return {"id": spdx, "acknowledgement": "declared"} if spdx else {"name": hf_id, "acknowledgement": "declared"}


def _external_refs(m: LockedModel, endpoint: str) -> list[dict[str, str]]:
    if m.hub == HUB_HUGGINGFACE:
        prefix = "datasets/" if m.repo_type == "dataset" else ""
        base = f"{endpoint}/{prefix}{m.canonical}"
        return [{"type": "distribution", "url": f"{base}/tree/{m.commit}"}, {"type": "website", "url": base}]
    if m.hub == HUB_TORCHHUB:
        repo = m.canonical.split(":", 1)[0]
        return [{"type": "vcs", "url": f"https://github.com/{repo}/tree/{m.commit}"}]
    if m.hub == HUB_URL:
        return [{"type": "distribution", "url": m.id}]
    return []


def _properties(m: LockedModel, manifest: Manifest, members: dict[str, list[ModelSpec]]) -> list[dict[str, str]]:
    props = [("ptmlock:hub", m.hub), ("ptmlock:repo-type", m.repo_type), ("ptmlock:declared-id", m.id),
             ("ptmlock:requested", m.requested or "(default branch)"), ("ptmlock:role", m.effective_role)]
    group = members.get(m.effective_role, [])
    if len(group) > 1:
        default = manifest.role_default(m.effective_role)
        props.append(("ptmlock:role-interchangeable", "true"))
        props.append(("ptmlock:role-default", "true" if default and default.casefold() == m.id.casefold() else "false"))
    for r in m.required_by:
        props.append(("ptmlock:required-by", r))
    if m.reason:
        props.append(("ptmlock:reason", m.reason))
    props += [("ptmlock:gated", str(m.gated).lower()), ("ptmlock:private", str(m.private).lower()),
              ("ptmlock:pickle-only", str(m.pickle_only).lower()), ("ptmlock:custom-code", str(m.custom_code).lower())]
    if m.library:
        props.append(("ptmlock:library", m.library))
    if m.pipeline_tag:
        props.append(("ptmlock:pipeline-tag", m.pipeline_tag))
    for pattern in m.include:
        props.append(("ptmlock:include", pattern))
    return [{"name": k, "value": v} for k, v in props]


def _file(parent: str, f: LockedFile) -> dict[str, Any]:
    c: dict[str, Any] = {"type": "file", "bom-ref": f"{parent}#{f.path}", "name": f.path}
    if f.sha256:
        c["hashes"] = [{"alg": "SHA-256", "content": f.sha256}]
    props = [{"name": "ptmlock:size", "value": str(f.size)}]
    if f.blob_id:
        props.append({"name": "ptmlock:git-blob", "value": f.blob_id})
    c["properties"] = props
    return c


def _now() -> str:
    # SOURCE_DATE_EPOCH (reproducible-builds.org) pins the timestamp for reproducible output
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        when = datetime.datetime.fromtimestamp(int(epoch), tz=datetime.timezone.utc)
    else:
        when = datetime.datetime.now(tz=datetime.timezone.utc).replace(microsecond=0)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
