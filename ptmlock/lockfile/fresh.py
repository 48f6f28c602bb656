"""The one freshness rule: does ptm.lock match ptm.toml? Every verb asks `lock_state`.

Four states, each with one message and one exit code across verbs (docs/exit-codes.md):

| state   | meaning                                        | gates (`Freshness.require`) |
|---------|------------------------------------------------|-----------------------------|
| fresh   | the lock pins exactly what the manifest asks   | go on                        |
| stale   | models added, removed or changed since locking | exit 1 (`CheckFailedError`)  |
| missing | there is no ptm.lock                           | exit 1 (`CheckFailedError`)  |
| invalid | ptm.lock is unreadable or fails validation     | exit 3 (`LockfileError`)     |

Read-only views (`list`, `tree`, `scan`) warn with `Freshness.message` on stale and missing
instead of failing; an invalid lock is exit 3 everywhere, since nothing in it can be trusted.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ptmlock.errors import CheckFailedError, LockfileError
from ptmlock.lockfile.model import Lock, commit_pin_problem, manifest_hash
from ptmlock.lockfile.read import load_lock
from ptmlock.manifest.model import Manifest

FRESH = "fresh"
STALE = "stale"
MISSING = "missing"
INVALID = "invalid"
STATES = (FRESH, STALE, MISSING, INVALID)


@dataclass(frozen=True)
class Freshness:
    """Whether ptm.lock matches ptm.toml, and every difference when it does not.

    `added`: declared but not locked; `removed`: locked but no longer declared; `changed`:
    declared and locked with a different hub, type, revision, files or role. `differences`
    has one line per difference (also the manifest hash, when nothing else differs).
    """

    state: str
    lock_path: Path
    lock: Lock | None = None
    differences: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    error: LockfileError | None = None

    @property
    def fresh(self) -> bool:
        return self.state == FRESH

    def message(self, verb: str | None = None) -> str:
        """The one message for this state (empty when fresh); `verb` names the command to rerun."""
        name = self.lock_path.name
        then = f", then `ptmlock {verb}`" if verb else ""
        if self.state == STALE:
            more = len(self.differences) - 1
            extra = f" (and {more} more difference{'s' if more > 1 else ''})" if more else ""
            return (f"{name} is stale against ptm.toml: {self.differences[0]}{extra}. "
                    f"Run `ptmlock lock` to update it{then}.")
        if self.state == MISSING:
            return f"{name} does not exist: no model is pinned yet. Run `ptmlock lock` to create it{then}."
        if self.state == INVALID:
            assert self.error is not None
            return self.error.message
        return ""

    def require(self, verb: str) -> Lock:
        """The lock, when fresh; else the state's error (what every gate calls).

        Raises:
            CheckFailedError: the lock is stale or missing (exit 1).
            LockfileError: the lock is invalid (exit 3).
        """
        if self.state == INVALID:
            assert self.error is not None
            raise self.error
        if self.state != FRESH or self.lock is None:
            raise CheckFailedError(self.message(verb))
        return self.lock

    def readable(self) -> Lock | None:
        """The lock, fresh or stale (None when missing), for verbs that only warn.

        Raises:
            LockfileError: the lock is invalid (exit 3).
        """
        if self.error is not None:
            raise self.error
        return self.lock


def lock_state(manifest: Manifest) -> Freshness:
    """Read the manifest's ptm.lock (through the one reader) and compare it with `manifest`."""
    try:
        lock = load_lock(manifest.lock_path)
    except LockfileError as e:
        return Freshness(INVALID, manifest.lock_path, error=e)
    return compare(manifest, lock)


def compare(manifest: Manifest, lock: Lock | None) -> Freshness:
    """How `lock` (None: there is none) matches `manifest`. Pure: reads nothing, asks no hub."""
    if lock is None:
        return Freshness(MISSING, manifest.lock_path, differences=(f"{manifest.lock_path.name} does not exist",))
    lines: list[str] = []
    added: list[str] = []
    removed: list[str] = []
    changed: list[str] = []
    declared = {m.id.casefold(): m for m in manifest.models}
    locked = {m.id.casefold(): m for m in lock.models if not m.required_by}
    for key, spec in declared.items():
        entry = locked.get(key)
        if entry is None:
            added.append(spec.id)
            lines.append(f"{spec.id}: declared in ptm.toml but not locked")
            continue
        want, have = spec.resolution_key(), entry.resolution_key()
        before = len(lines)
        for name in ("hub", "repo-type", "requested", "include"):
            if want[name] != have[name]:
                lines.append(f"{spec.id}: {name} is {_show(want[name])} in ptm.toml but {_show(have[name])} in ptm.lock")
        pinned_elsewhere = commit_pin_problem(spec.revision, entry.commit)  # issue 22
        if pinned_elsewhere is not None and want["requested"] == have["requested"]:
            lines.append(f"{spec.id}: {pinned_elsewhere}")
        if want.get("signing") != have.get("signing"):  # issue 16
            lines.append(f"{spec.id}: " + ("the signer ptm.toml requires was not verified by `ptmlock lock`"
                                           if "signing" in want else "ptm.lock records a signer ptm.toml no "
                                           "longer requires"))
        if want.get("entries") != have.get("entries"):  # issue 26
            shown = ["unset" if v is None else "[" + ", ".join(v) + "]" for v in (want.get("entries"), have.get("entries"))]
            lines.append(f"{spec.id}: entries is {shown[0]} in ptm.toml but {shown[1]} in ptm.lock")
        if spec.role != entry.role:
            lines.append(f"{spec.id}: role is {_show(spec.role)} in ptm.toml but {_show(entry.role)} in ptm.lock")
        if len(lines) > before:
            changed.append(spec.id)
    for key, entry in locked.items():
        if key not in declared:
            removed.append(entry.id)
            lines.append(f"{entry.id}: locked but no longer declared in ptm.toml")
    if not lines and lock.manifest_hash != manifest_hash(manifest):
        lines.append("the manifest hash recorded in ptm.lock does not match ptm.toml")
    state = STALE if lines else FRESH
    return Freshness(state, manifest.lock_path, lock, tuple(lines), tuple(added), tuple(removed), tuple(changed))


def _show(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]" if value else "unset"
    return repr(value)
