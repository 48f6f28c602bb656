"""Shared by outdated, update, audit and export: they read a lock that must match the manifest."""
from __future__ import annotations

from ptmlock.errors import LockfileError
from ptmlock.lockfile.model import Lock, diff, load_lock
from ptmlock.manifest.model import Manifest


def fresh_lock(manifest: Manifest, verb: str) -> Lock:
    """The project's lock, when it exists and matches `manifest`.

    Raises:
        LockfileError: there is no lock, it is unreadable, or it is stale (the fix names `verb`).
    """
    lock = load_lock(manifest.lock_path)
    if lock is None:
        raise LockfileError(
            f"{manifest.lock_path} does not exist, so `ptmlock {verb}` has no pinned models to work on. "
            f"Run `ptmlock lock` to create it, then `ptmlock {verb}`."
        )
    problems = diff(manifest, lock)
    if problems:
        more = f" (and {len(problems) - 1} more difference{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
        raise LockfileError(
            f"{manifest.lock_path.name} is stale against {manifest.path.name}: {problems[0]}{more}. "
            f"Run `ptmlock lock` to update it, then `ptmlock {verb}`."
        )
    return lock
