"""The typed manifest: `Manifest`, `ModelSpec`, `RoleSpec` (frozen, no I/O)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptmlock.constants import DEFAULT_HUB


@dataclass(frozen=True)
class ModelSpec:
    """One `[models."<id>"]` entry as the user declared it."""

    id: str
    hub: str = DEFAULT_HUB
    revision: str | None = None
    role: str | None = None
    repo_type: str = "model"
    files: tuple[str, ...] = ()
    # the guard loads this model's pickles with the caller's own weights_only (issue 12); strict
    # mode still asks that each file passed `ptmlock audit --deep`. Not part of resolution_key.
    trust_pickle: bool = False

    @property
    def effective_role(self) -> str:
        """The role this model fills: its declared role, else its own id (a role of one)."""
        return self.role if self.role is not None else self.id

    def resolution_key(self) -> dict[str, Any]:
        """The fields whose change requires asking the hub again (role is not one of them)."""
        return {
            "hub": self.hub,
            "id": self.id,
            "include": list(self.files),
            "repo-type": self.repo_type,
            "requested": self.revision,
        }


@dataclass(frozen=True)
class RoleSpec:
    """One `[roles.<name>]` table."""

    name: str
    default: str | None = None


@dataclass(frozen=True)
class Manifest:
    """A validated `ptm.toml`."""

    path: Path
    name: str | None
    policy: str | None
    models: tuple[ModelSpec, ...]
    roles: tuple[RoleSpec, ...] = ()
    policy_table: Mapping[str, Any] = field(default_factory=dict)

    @property
    def project_dir(self) -> Path:
        return self.path.parent

    @property
    def lock_path(self) -> Path:
        from ptmlock.constants import LOCK_NAME

        return self.path.parent / LOCK_NAME

    def get(self, model_id: str) -> ModelSpec | None:
        """The entry declared as `model_id` (case-insensitive, as the Hub treats ids), or None."""
        folded = model_id.casefold()
        for model in self.models:
            if model.id.casefold() == folded:
                return model
        return None

    def role_members(self) -> dict[str, list[ModelSpec]]:
        """Role name -> its members, in manifest order."""
        groups: dict[str, list[ModelSpec]] = {}
        for model in self.models:
            groups.setdefault(model.effective_role, []).append(model)
        return groups

    def role_default(self, role: str) -> str | None:
        """The `default` of `[roles.<role>]`, else the role's only member, else None."""
        for spec in self.roles:
            if spec.name == role and spec.default is not None:
                return spec.default
        members = self.role_members().get(role, [])
        return members[0].id if len(members) == 1 else None
