"""The typed manifest: `Manifest`, `ModelSpec`, `RoleSpec`, `Policy` (frozen, no I/O).

Three words, three things (issue 10, item 6): the guard *mode* (`[project] policy` in ptm.toml,
or `PTMLOCK_MODE`: off | warn | strict) is `Manifest.guard_mode`; the *policy* is the `[policy]`
table, the supply-chain rules `ptmlock audit` applies (`Manifest.policy`, a `Policy`); the
guard's *verdict* on one load is `ptmlock.decide.Verdict`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ptmlock.constants import DEFAULT_HUB, role_env_var
from ptmlock.signing.policy import SigningPolicy


@dataclass(frozen=True)
class ModelSpec:
    """One `[models."<id>"]` entry as the user declared it."""

    id: str
    hub: str = DEFAULT_HUB
    revision: str | None = None
    role: str | None = None
    repo_type: str = "model"
    files: tuple[str, ...] = ()
    signing: SigningPolicy | None = None  # issue 16: the signer ptm.toml requires (inherited), or None
    # the guard loads this model's pickles with the caller's own weights_only (issue 12); strict
    # mode still asks that each file passed `ptmlock audit --deep`. Not part of resolution_key.
    trust_pickle: bool = False
    # issue 22 item 7: `trust-pickle = ["module.qualname", ...]` also accepts exactly these globals
    # outside the allow-list in `audit --deep` (a list implies trust_pickle)
    trust_globals: tuple[str, ...] = ()
    # issue 26: a torchhub model's hubconf.py entry points whose weight URLs `lock` pins as
    # dependencies (None: every entry point; (): none). Sorted, no duplicates.
    entries: tuple[str, ...] | None = None

    @property
    def effective_role(self) -> str:
        """The role this model fills: its declared role, else its own id (a role of one)."""
        return self.role if self.role is not None else self.id

    def resolution_key(self) -> dict[str, Any]:
        """The fields whose change requires asking the hub again (role is not one of them)."""
        key: dict[str, Any] = {
            "hub": self.hub,
            "id": self.id,
            "include": list(self.files),
            "repo-type": self.repo_type,
            "requested": self.revision,
        }
        if self.signing is not None:  # absent when unset, so locks made before issue 16 stay fresh
            key["signing"] = self.signing.key()
        if self.entries is not None:  # absent when unset, so locks made before issue 26 stay fresh
            key["entries"] = list(self.entries)
        return key


@dataclass(frozen=True)
class RoleSpec:
    """One `[roles.<name>]` table."""

    name: str
    default: str | None = None


# The `[policy]` defaults, documented in docs/supply-chain.md. Gated repos are an access and
# terms question, not code execution, so they pass unless a project opts in to refuse them.
DEFAULT_ALLOW_PICKLE = False
DEFAULT_ALLOW_REMOTE_CODE = False
DEFAULT_ALLOW_GATED = True


@dataclass(frozen=True)
class Allow:
    """One `allow-*` key of `[policy]`: allowed for every model (`everyone`), or for the listed ids only."""

    everyone: bool
    models: frozenset[str] = frozenset()  # casefolded ids
    named: tuple[str, ...] = field(default=(), compare=False)  # the ids as written, for messages

    def permits(self, *ids: str) -> bool:
        """True when any of `ids` (declared or canonical id) is allowed."""
        return self.everyone or any(i.casefold() in self.models for i in ids)


@dataclass(frozen=True)
class Policy:
    """The `[policy]` table: the supply-chain rules `ptmlock audit` applies to the lock.

    ```toml
    [policy]
    allow-pickle = false                 # or true, or ["org/legacy-model"]: those models only
    allow-remote-code = ["org/custom"]   # same forms; default false
    allow-gated = true                   # same forms; default true
    licenses = ["apache-2.0", "mit"]     # allow-list; absent = no license rule
    ```
    """

    allow_pickle: Allow = Allow(DEFAULT_ALLOW_PICKLE)
    allow_remote_code: Allow = Allow(DEFAULT_ALLOW_REMOTE_CODE)
    allow_gated: Allow = Allow(DEFAULT_ALLOW_GATED)
    licenses: tuple[str, ...] | None = None  # None: no license rule

    def license_allowed(self, license_id: str) -> bool:
        """True when `license_id` is in the allow-list (case-insensitive) or there is no list."""
        if self.licenses is None:
            return True
        return license_id.casefold() in {x.casefold() for x in self.licenses}

    def allows(self) -> dict[str, Allow]:
        """`allow-*` key -> its value."""
        return {"allow-pickle": self.allow_pickle, "allow-remote-code": self.allow_remote_code,
                "allow-gated": self.allow_gated}


@dataclass(frozen=True)
class ToolSettings:
    """The `[tool]` table: what `scan`, `check` and `init --from-code` read.

    `exclude`: gitignore-like patterns of paths never scanned (with `.ptmlockignore`'s);
    `scan_sources`: the source kinds scanned (python, notebook, config, shell)."""

    exclude: tuple[str, ...] = ()
    scan_sources: tuple[str, ...] = ("python", "notebook", "config", "shell")


@dataclass(frozen=True)
class SourceSpec:
    """One `[[source]]` table: where `sync` may fetch locked files from (issue 15).

    `url` is an `oci://` registry URL, or `hub` for each model's own hub. Sources are tried in
    ascending `priority`, then in manifest order.
    """

    name: str
    url: str
    priority: int = 0
    insecure: bool = False
    # issue 22: (`username`|`password`|`token`, PTMLOCK_OCI_* variable) pairs: this source's own credentials
    credentials_env: tuple[tuple[str, str], ...] = ()
    # issue 25: model id -> an explicit reference in this registry ("repo:tag" or "repo@sha256:..."),
    # for artifacts published by other tools (modctl, KitOps) under their own names
    models: tuple[tuple[str, str], ...] = ()

    @property
    def is_hub(self) -> bool:
        """True for the model's own hub (`url = "hub"`)."""
        return self.url == "hub"


@dataclass(frozen=True)
class Manifest:
    """A validated `ptm.toml`."""

    path: Path
    name: str | None
    guard_mode: str | None  # `[project] policy`: off | warn | strict; None = not set
    models: tuple[ModelSpec, ...]
    roles: tuple[RoleSpec, ...] = ()
    policy: Policy = Policy()  # the `[policy]` table
    tool: ToolSettings = field(default_factory=ToolSettings)
    sources: tuple[SourceSpec, ...] = ()  # in the order sync tries them

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
        """One line per role with several members and no `default`: `ptmlock.select()` cannot
        choose for it unless `PTMLOCK_ROLE_<ROLE>` is set. `lock`, `list` and `tree` print them
        once each, `add` when a role gains its second member, and `lock --check` fails on them in
        a strict project (issue 17, item 11; issue 24)."""
        return [w for role in self.role_members() if (w := self.role_warning(role)) is not None]

    def role_warning(self, role: str) -> str | None:
        """The warning for `role` when it has several members and no `default`, else None."""
        members = self.role_members().get(role, [])
        if len(members) < 2 or self.role_default(role) is not None:
            return None
        return (f"role {role!r} has {len(members)} models and no default; `ptmlock role {role} --default "
                f"{members[0].id}` sets one (until then ptmlock.select({role!r}) needs {role_env_var(role)}).")

    def role_default(self, role: str) -> str | None:
        """The `default` of `[roles.<role>]`, else the role's only member, else None."""
        for spec in self.roles:
            if spec.name == role and spec.default is not None:
                return spec.default
        members = self.role_members().get(role, [])
        return members[0].id if len(members) == 1 else None
