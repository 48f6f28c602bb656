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

    def role_warnings(self) -> list[str]:
        """One message per role with several members and no `default`: `ptmlock.select()` cannot
        choose for it unless `PTMLOCK_ROLE_<ROLE>` is set. `lock`, `list` and `tree` warn with
        these, and `lock --check` fails on them in a strict project (issue 17, item 11)."""
        from ptmlock._select import role_env_var

        return [f"role {role!r} has {len(members)} models ({', '.join(m.id for m in members)}) and no default, so "
                f"`ptmlock.select({role!r})` fails at run time unless {role_env_var(role)} is set; add "
                f"`default = \"{members[0].id}\"` under [roles.{role}] in {self.path.name}."
                for role, members in self.role_members().items()
                if len(members) > 1 and self.role_default(role) is None]

    def role_default(self, role: str) -> str | None:
        """The `default` of `[roles.<role>]`, else the role's only member, else None."""
        for spec in self.roles:
            if spec.name == role and spec.default is not None:
                return spec.default
        members = self.role_members().get(role, [])
        return members[0].id if len(members) == 1 else None
