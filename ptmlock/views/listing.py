"""The data behind `ptmlock list`: models grouped by role, with their pins (pure but for reading files)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ptmlock.lockfile.model import LockedModel

from ptmlock.lockfile.fresh import lock_state
from ptmlock.manifest.parse import load_manifest


def build_listing(manifest_path: Path) -> dict[str, Any]:
    """Roles in manifest order, each with its members and their pins; `stale` when the lock lags.

    Raises:
        ManifestError, LockfileError: either file is unreadable.
    """
    manifest = load_manifest(manifest_path)
    state = lock_state(manifest)
    lock = state.readable()  # stale or missing: listed with a warning; invalid: exit 3
    roles = []
    for role, members in manifest.role_members().items():
        selected = manifest.role_default(role)
        models = []
        for spec in members:
            pin = lock.get(spec.id) if lock is not None else None
            models.append({
                "id": spec.id,
                "canonical_id": pin.canonical if pin else spec.id,
                "hub": spec.hub,
                "repo_type": spec.repo_type,
                "requested": spec.revision,
                "commit": pin.commit if pin else None,
                "files": len(pin.files) if pin else 0,
                "size": pin.size if pin else 0,
                "license": pin.license if pin else None,
                "selected": selected is not None and selected.casefold() == spec.id.casefold(),
                "dependencies": _direct_dependencies(lock.models if lock is not None else (), spec.id),
            })
        roles.append({"name": role, "implicit": all(s.role is None for s in members),
                      "interchangeable": len(members) > 1, "default": selected, "models": models})
    return {"roles": roles, "stale": not state.fresh, "lock_state": state.state, "lock_message": state.message(),
            "lock": str(manifest.lock_path.name), "warnings": manifest.role_warnings()}


def _direct_dependencies(models: Sequence[LockedModel], model_id: str) -> list[dict[str, Any]]:
    """The lock entries `model_id` needs directly (its `required-by`), sorted by id (issue 26)."""
    folded = model_id.casefold()
    return [{"id": m.id, "hub": m.hub, "commit": m.commit, "files": len(m.files), "size": m.size, "reason": m.reason}
            for m in sorted(models, key=lambda m: m.id.casefold()) if any(p.casefold() == folded for p in m.required_by)]


def role_heading(name: str, members: int, has_default: bool) -> str:
    """The heading of a role in `list`, `tree` and `role`: `text (interchangeable, 2 models; * =
    default)` explains the `*` on the lines below, or says there is no default."""
    if members < 2:
        return f"{name} (single)"
    return f"{name} (interchangeable, {members} models; {'* = default' if has_default else 'no default'})"
