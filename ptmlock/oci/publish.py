"""`ptmlock publish oci://HOST/NS`: push locked Hugging Face models to an OCI registry.

Each locked model becomes one ModelPack artifact (`ptmlock.oci.layout`), built from the synced
cache: every file is re-checked against ptm.lock before it is pushed, so a registry never
receives bytes the lock does not pin. Blobs the registry already has are not uploaded again
(HEAD first), and an unchanged manifest is not re-put, so re-publishing a pin uploads nothing.
A signed model's bundle is attached as an OCI referrer of its manifest (`oci/referrers.py`), and
the manifest digest of each model is recorded in `ptm.oci.json` (`oci/published.py`).
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ptmlock.constants import HUB_HUGGINGFACE
from ptmlock.errors import CheckFailedError, IntegrityError
from ptmlock.install.hashing import algorithm, expected_digest, new_hasher
from ptmlock.install.hf_cache import FileTask, plan_files, real_root, select_models
from ptmlock.lockfile.model import LockedModel
from ptmlock.oci.client import RegistryClient
from ptmlock.oci.kinds import classify
from ptmlock.oci.layout import (
    Layer,
    RegistryURL,
    config_blob,
    image_manifest,
    media_type,
    repository,
    tag,
)

_READ = 4 * 1024 * 1024


@dataclass(frozen=True)
class PublishedModel:
    """One pushed artifact: where it is, and what this run had to upload."""

    model_id: str
    reference: str  # HOST/REPO:TAG
    digest: str  # of the manifest
    files: int
    uploaded: int  # blobs uploaded (the config blob included)
    uploaded_bytes: int
    manifest_changed: bool
    signature: str | None = None  # digest of the signature referrer (issue 25), when the model is signed
    commit: str = ""
    repository: str = ""


@dataclass(frozen=True)
class PublishReport:
    """What `publish` did, per model, in lock order; `skipped` says which models it left out and why."""

    url: RegistryURL
    models: tuple[PublishedModel, ...]
    skipped: tuple[tuple[str, str], ...] = ()


def publish_project(manifest_path: Path, url: RegistryURL, *, model_ids: Iterable[str] = (),
                    jobs: int = 4, cache_dir: Path | None = None) -> PublishReport:
    """Push every locked model of the project (or `model_ids` and what they need) to `url`.

    Raises:
        CheckFailedError: the lock is stale, or a file is not synced yet (fix: `ptmlock sync`).
        IntegrityError: a cached file differs from ptm.lock.
        HubError: the registry refused or failed (RegistryAuthError: credentials).
    """
    from ptmlock.install.sync import load_fresh_lock

    lock = load_fresh_lock(manifest_path)
    models = select_models(lock, model_ids=model_ids)
    client = RegistryClient(url, pool=jobs)
    published, skipped = [], []
    for model in models:
        if model.hub != HUB_HUGGINGFACE:
            skipped.append((model.id, f"hub {model.hub!r} is not published (only Hugging Face models are)"))
            continue
        plan = plan_files([model], cache_dir=real_root(cache_dir))
        published.append(_publish_model(client, url, model, plan.tasks, jobs))
    from ptmlock.oci.published import record_published, registry_key

    record_published(manifest_path.parent, registry_key(url.host, url.namespace), [
        (m.model_id, {"commit": m.commit, "repository": m.repository, "reference": m.reference, "digest": m.digest,
                      **({"signature": m.signature} if m.signature else {})}) for m in published])
    return PublishReport(url=url, models=tuple(published), skipped=tuple(skipped))


def _publish_model(client: RegistryClient, url: RegistryURL, model: LockedModel, tasks: Sequence[FileTask],
                   jobs: int) -> PublishedModel:
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="ptmlock-publish") as pool:
        layers = list(pool.map(_layer, tasks))  # every file checked before anything is pushed
    repo = repository(url, model)
    config = config_blob(model, layers)
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    blobs: dict[str, tuple[int, Path | bytes]] = {config_digest: (len(config), config)}
    for task, layer in zip(tasks, layers):
        blobs.setdefault(layer.digest, (layer.size, task.store))

    def push(item: tuple[str, tuple[int, Path | bytes]]) -> int:
        digest, (size, source) = item
        if client.blob_exists(repo, digest):
            return -1
        client.upload_blob(repo, digest, size, source)
        return size

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="ptmlock-push") as pool:
        sent = [n for n in pool.map(push, sorted(blobs.items(), key=lambda kv: -kv[1][0])) if n >= 0]
    manifest = image_manifest(model, layers, config, config_digest)
    reference = tag(model)
    changed = client.get_manifest(repo, reference) != manifest
    if changed:
        client.put_manifest(repo, reference, manifest)
    signature = None
    if model.signature is not None:  # issue 25: the bundle travels with the model, as a referrer
        from ptmlock.oci.referrers import attach_signature

        sig = next(t for t in tasks if t.file.path == model.signature.path)  # checked by _layer above
        signature = attach_signature(client, repo, model, sig.store.read_bytes(), manifest)
    return PublishedModel(model_id=model.id, reference=f"{url.host}/{repo}:{reference}",
                          digest="sha256:" + hashlib.sha256(manifest).hexdigest(), files=len(layers),
                          uploaded=len(sent), uploaded_bytes=sum(sent), manifest_changed=changed,
                          signature=signature, commit=model.commit, repository=repo)


def _layer(task: FileTask) -> Layer:
    """The layer of one cached file: its sha256, read once while checking it against the lock."""
    file = task.file
    check, sha = new_hasher(file), hashlib.sha256()
    try:
        with open(task.store, "rb") as f:
            while chunk := f.read(_READ):
                check.update(chunk)
                if file.sha256 is None:  # a git-blob file: its sha256 is not in the lock
                    sha.update(chunk)
    except FileNotFoundError:
        raise CheckFailedError(f"{task.label} is not in the cache ({task.store.parent}), so it cannot be published. "
                               f"Run `ptmlock sync --model {task.model.id}` first.") from None
    if check.hexdigest() != expected_digest(file):
        raise IntegrityError(f"{task.label} in the cache does not match ptm.lock ({algorithm(file)} "
                             f"{check.hexdigest()} instead of {expected_digest(file)}); nothing was published. "
                             f"Run `ptmlock sync --model {task.model.id}` to restore it.")
    digest = file.sha256 if file.sha256 is not None else sha.hexdigest()
    kind = classify(file.path, file.size, repo_type=task.model.repo_type)
    return Layer(path=file.path, digest=f"sha256:{digest}", size=file.size, media_type=media_type(kind.kind),
                 untested=kind.untested)
