"""`ptmlock.select(role)`, and finding the project's ptm.lock / ptm.toml at run time.

The runtime guard (`ptmlock.enforce`) and `ptmlock run` find the project the same way, so the
lookup lives here, outside the `ptmlock.enforce` package (importing anything from that package
turns the guard on). Only `os` is used until a file is actually read: the guard imports this
module on `import ptmlock.enforce`.
"""
from __future__ import annotations

import os

from ptmlock.constants import ENV_LOCKFILE, LOCK_NAME, MANIFEST_NAME, role_env_var

TYPE_CHECKING = False
if TYPE_CHECKING:  # not `typing` at run time: the guard imports this module on `import ptmlock.enforce`
    from ptmlock.lockfile.model import Lock
    from ptmlock.manifest.model import Manifest


class Selection(tuple[str, str]):
    """The model a role selects, pinned: `repo_id, revision = ptmlock.select("text-encoder")`.

    A 2-tuple with names: `.repo_id` (as declared in ptm.toml) and `.revision` (the locked
    40-hex commit).
    """

    __slots__ = ()

    def __new__(cls, repo_id: str, revision: str) -> Selection:
        return tuple.__new__(cls, (repo_id, revision))

    @property
    def repo_id(self) -> str:
        return self[0]

    @property
    def revision(self) -> str:
        return self[1]

    def __repr__(self) -> str:
        return f"Selection(repo_id={self[0]!r}, revision={self[1]!r})"


def find_lock(start: str | None = None) -> str | None:
    """The project's ptm.lock: `PTMLOCK_LOCKFILE` (whether or not it exists), else the nearest
    `ptm.lock` at or above `start` (default: the current directory), else None."""
    env = os.environ.get(ENV_LOCKFILE)
    if env:
        return os.path.abspath(env)
    return _walk_up(LOCK_NAME, start)


def find_manifest_for(lock_path: str | None, start: str | None = None) -> str | None:
    """The ptm.toml beside `lock_path`, or (with no lock) the nearest one at or above `start`."""
    if lock_path is not None:
        candidate = os.path.join(os.path.dirname(lock_path), MANIFEST_NAME)
        return candidate if os.path.isfile(candidate) else None
    return _walk_up(MANIFEST_NAME, start)


def _walk_up(name: str, start: str | None) -> str | None:
    directory = os.path.abspath(start if start is not None else os.getcwd())
    while True:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def load_project(lock_path: str | None, manifest_path: str | None) -> tuple[Manifest | None, Lock | None]:
    """Read the manifest and lock that exist (either may be None).

    Raises:
        ManifestError, LockfileError: a file exists but is invalid.
    """
    from ptmlock.lockfile.read import (
        load_lock,  # the one reader, validating (imported on first use)
    )
    from ptmlock.manifest.parse import load_manifest

    manifest = load_manifest(manifest_path) if manifest_path is not None else None
    lock = load_lock(lock_path) if lock_path is not None else None
    return manifest, lock


def select(role: str) -> Selection:
    """The pinned `(repo_id, revision)` of the model selected for `role`.

    The selected member is the one `PTMLOCK_ROLE_<ROLE>` names, else the role's `default` in
    ptm.toml, else its only member. `revision` is the commit ptm.lock pins, so
    `AutoModel.from_pretrained(repo_id, revision=revision)` loads exactly the locked bytes.

    Raises:
        RoleError: the role does not exist, has several members and no default, or the
            environment selects a model outside it.
        LockfileError: there is no ptm.lock, or it does not pin the selected model (run
            `ptmlock lock`).
    """
    from ptmlock.errors import LockfileError, RoleError

    lock_path = find_lock()
    manifest, lock = load_project(lock_path, find_manifest_for(lock_path))
    if lock is None:
        where = lock_path or f"{os.getcwd()} or any parent directory"
        raise LockfileError(f"No {LOCK_NAME} found ({where}): ptmlock.select({role!r}) needs the pins. "
                            "Run `ptmlock lock` in the project, or set PTMLOCK_LOCKFILE.")
    members, default = _members(role, manifest, lock)
    if not members:
        from ptmlock.names import closest

        roles = sorted(_roles(manifest, lock))
        guess = closest(role, roles)
        if guess is not None:  # a typo: never advise creating the misspelled role
            raise RoleError(f"No role {role!r} in the project (roles: {', '.join(roles)}). Did you mean "
                            f"ptmlock.select({guess!r})?")
        raise RoleError(f"No role {role!r} in the project (roles: {', '.join(roles) or 'none'}). "
                        f"Set `role = {role!r}` on a model in {MANIFEST_NAME} (`ptmlock add MODEL --role {role}`), "
                        "or select one of the existing roles.")
    var = role_env_var(role)
    chosen = os.environ.get(var) or None
    if chosen is not None:
        match = next((m for m in members if m.casefold() == chosen.casefold()), None)
        if match is None:
            canonical = {(e.canonical or e.id).casefold(): e.id for e in lock.models}
            match = canonical.get(chosen.casefold()) if canonical.get(chosen.casefold()) in members else None
        if match is None:
            raise RoleError(f"{var}={chosen} selects a model outside role {role!r} (members: {', '.join(members)}). "
                            f"A swap is only legal inside the role: set {var} to one of its members, or declare "
                            f"the model with `ptmlock add {chosen} --role {role}`.")
        chosen = match
    else:
        chosen = default
    if chosen is None:
        raise RoleError(f"Role {role!r} has {len(members)} members ({', '.join(members)}) and no default. "
                        f"Set `default` in [roles.{role}] of {MANIFEST_NAME}, or choose one with {var}=MODEL.")
    entry = lock.get(chosen)
    if entry is None or entry.required_by:
        raise LockfileError(f"{chosen!r} (role {role!r}) is not pinned in {LOCK_NAME}: the lock is stale. "
                            "Run `ptmlock lock`.")
    spec = manifest.get(chosen) if manifest is not None else None
    if spec is not None and spec.revision != entry.requested:
        raise LockfileError(f"{chosen!r} (role {role!r}) is pinned for revision {entry.requested!r} but ptm.toml "
                            f"asks for {spec.revision!r}: the lock is stale. Run `ptmlock lock`.")
    return Selection(entry.id, entry.commit)


def _members(role: str, manifest: Manifest | None, lock: Lock) -> tuple[list[str], str | None]:
    if manifest is not None:
        members = [m.id for m in manifest.role_members().get(role, [])]
        return members, manifest.role_default(role)
    members = [m.id for m in lock.models if not m.required_by and m.effective_role == role]
    return members, members[0] if len(members) == 1 else None


def _roles(manifest: Manifest | None, lock: Lock) -> set[str]:
    if manifest is not None:
        return set(manifest.role_members())
    return {m.effective_role for m in lock.models if not m.required_by}
