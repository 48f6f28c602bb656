"""`ptm.oci.json`: the manifest digest `publish` pushed for each model, per registry (issue 25).

A fleet (KServe Modelcar, the ModelPack CSI driver, Docker Model Runner) is handed pinned
digests, not tags; and `sync --source` pulls by digest when one is recorded here for the model's
locked commit, so a tag moved on the registry changes nothing. The file sits next to ptm.toml,
is written by `publish` only (atomically), and is meant to be committed with the lock:

    {"version": 1,
     "registries": {"registry.internal/models": {
         "org/bert": {"commit": "86b5e09...", "repository": "models/org/bert",
                      "reference": "registry.internal/models/org/bert:bert-86b5e0934494",
                      "digest": "sha256:...", "signature": "sha256:..."}}}}

Why a sidecar and not ptm.lock: the lock pins what the models are (identities and hashes) and
is the same wherever they are stored; the digest depends on the registry. The lock need not pin
the sidecar: every byte sync takes from an artifact is still checked against the lock, so an
edited sidecar can at worst point sync at an artifact that lacks the files (it falls through)
or serves other bytes (exit 5). An entry whose commit is not the locked one is ignored.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ptmlock.errors import ManifestError

FILE_NAME = "ptm.oci.json"
VERSION = 1


def registry_key(host: str, namespace: str) -> str:
    """`host[:port]/namespace`: one registry place, whatever the scheme."""
    return f"{host}/{namespace}"


def read_published(project_dir: Path) -> dict[str, dict[str, dict[str, str]]]:
    """{registry key: {model id: entry}} from `project_dir/ptm.oci.json` ({} when absent).

    Raises:
        ManifestError: the file exists but is not what `publish` writes (exit 3).
    """
    path = project_dir / FILE_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ManifestError(f"{path}: cannot be read ({e.strerror or e}).") from None
    try:
        data: Any = json.loads(text)
    except ValueError as e:
        raise ManifestError(f"{path}: not valid JSON ({e}). It is written by `ptmlock publish`; delete it and "
                            "publish again.") from None
    registries = data.get("registries") if isinstance(data, dict) and data.get("version") == VERSION else None
    if not isinstance(registries, dict) or not all(
            isinstance(models, dict) and all(isinstance(e, dict) and all(isinstance(v, str) for v in e.values())
                                             for e in models.values()) for models in registries.values()):
        raise ManifestError(f"{path}: not a version {VERSION} {FILE_NAME} as `ptmlock publish` writes it; delete it "
                            "and publish again.")
    return registries


def pinned_for(project_dir: Path | None, key: str) -> dict[str, tuple[str, str, str]]:
    """{model id: (commit, repository, digest)} recorded for the registry `key`."""
    if project_dir is None:
        return {}
    models = read_published(project_dir).get(key, {})
    return {model_id: (e.get("commit", ""), e.get("repository", ""), e.get("digest", ""))
            for model_id, e in models.items() if e.get("repository") and e.get("digest", "").startswith("sha256:")}


def record_published(project_dir: Path, key: str, entries: Iterable[tuple[str, Mapping[str, str]]]) -> None:
    """Merge `entries` (model id, entry) for registry `key` into `project_dir/ptm.oci.json`."""
    from ptmlock._fs import atomic_write

    registries = read_published(project_dir)
    models = registries.setdefault(key, {})
    changed = False
    for model_id, entry in entries:
        if models.get(model_id) != dict(entry):
            models[model_id] = dict(entry)
            changed = True
    if changed:
        data = {"version": VERSION, "registries": {k: dict(sorted(v.items())) for k, v in sorted(registries.items())}}
        atomic_write(project_dir / FILE_NAME, json.dumps(data, indent=2, sort_keys=True) + "\n")
