"""`ptmlock outdated` and `ptmlock update`: which pins lag their branch or tag, and what moving them changes.

`check_outdated` asks the hub, one light request per model (concurrently, results put back in
lock order), which commit each requested branch or tag (or the default branch) points at now;
models pinned to a commit in ptm.toml are never queried. It writes nothing.
`update_project` re-pins through the resolver's upgrade path and returns one `ModelChange` per
re-resolved model, from the pure `diff_models(old, new)`.
"""
from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptmlock._fs import write_project_file
from ptmlock.constants import HUB_HUGGINGFACE
from ptmlock.errors import ManifestError, PtmlockError
from ptmlock.hubs.base import Backend, HeadBackend, ask_each, pinned_to_commit
from ptmlock.hubs.registry import default_backend, default_head_backend
from ptmlock.lockfile.fresh import lock_state
from ptmlock.lockfile.model import LockedFile, LockedModel
from ptmlock.lockfile.write import dumps
from ptmlock.manifest.model import ModelSpec
from ptmlock.manifest.parse import load_manifest
from ptmlock.project import run_lock
from ptmlock.resolver import resolve

# The lock facts whose change `update` reports besides files.
_FACTS = ("license", "gated", "private", "pickle_only", "custom_code", "library", "pipeline_tag", "canonical")


@dataclass(frozen=True)
class OutdatedEntry:
    """One locked model: `status` is `outdated`, `up-to-date`, `pinned` (a commit) or `skipped`."""

    id: str
    requested: str | None
    commit: str
    latest: str | None
    status: str
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "requested": self.requested, "commit": self.commit, "latest": self.latest,
                "status": self.status, "reason": self.reason}


def check_outdated(
    manifest_path: Path,
    *,
    jobs: int = 16,
    backend_for: Callable[[str], HeadBackend | None] = default_head_backend,
) -> list[OutdatedEntry]:
    """Compare each declared model's pin with where its requested ref points now; never writes.

    Raises:
        ManifestError, LockfileError: bad manifest, no lock or a stale one.
        HubError, UnsafeHubAnswerError: the first failure in lock order.
    """
    manifest = load_manifest(manifest_path)
    lock = lock_state(manifest).require("outdated")
    entries: list[OutdatedEntry | None] = []
    todo: list[tuple[int, ModelSpec, HeadBackend]] = []
    backends: dict[str, HeadBackend | None] = {}
    for m in lock.models:
        spec = manifest.get(m.id)
        if spec is None or m.required_by:
            continue  # a dependency moves with the model that needs it
        if pinned_to_commit(m.requested, m.commit):
            entries.append(OutdatedEntry(m.id, m.requested, m.commit, m.commit, "pinned",
                                         "pinned to a commit in ptm.toml"))
            continue
        if m.hub not in backends:
            backends[m.hub] = backend_for(m.hub)
        backend = backends[m.hub]
        if backend is None:
            entries.append(OutdatedEntry(m.id, m.requested, m.commit, None, "skipped",
                                         f"hub {m.hub!r} cannot be checked for newer commits yet"))
            continue
        todo.append((len(entries), spec, backend))
        entries.append(None)

    results = ask_each(lambda t: t[2].current_commit(t[1]), todo, jobs=jobs)
    errors = [r for r in results if isinstance(r, PtmlockError)]
    if errors:
        raise errors[0]
    for (slot, spec, _), latest in zip(todo, results):
        assert isinstance(latest, str)
        pin = lock.get(spec.id)
        assert pin is not None
        status = "up-to-date" if latest == pin.commit else "outdated"
        entries[slot] = OutdatedEntry(pin.id, pin.requested, pin.commit, latest, status)
    return [e for e in entries if e is not None]


# ---------------------------------------------------------------------------
# what changed between two pins (pure)


@dataclass(frozen=True)
class FileChange:
    """One file added, removed or modified (re-hashed) between two pins."""

    path: str
    change: str  # "added" | "removed" | "modified"
    old: LockedFile | None
    new: LockedFile | None

    @property
    def size_delta(self) -> int:
        return (self.new.size if self.new else 0) - (self.old.size if self.old else 0)

    def to_dict(self) -> dict[str, Any]:
        def side(f: LockedFile | None) -> dict[str, Any] | None:
            return None if f is None else {"size": f.size, "sha256": f.sha256, "blob": f.blob_id}

        return {"path": self.path, "change": self.change, "old": side(self.old), "new": side(self.new),
                "size_delta": self.size_delta}


@dataclass(frozen=True)
class FactChange:
    """A recorded fact (license, gated, ...) whose value differs between two pins."""

    name: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class ModelChange:
    """What moving one model from its old pin to its new pin changes."""

    id: str
    requested: str | None
    old_commit: str
    new_commit: str
    files: tuple[FileChange, ...]
    facts: tuple[FactChange, ...]
    old_size: int
    new_size: int

    @property
    def changed(self) -> bool:
        return self.old_commit != self.new_commit or bool(self.files) or bool(self.facts)

    @property
    def size_delta(self) -> int:
        return self.new_size - self.old_size

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "requested": self.requested, "old_commit": self.old_commit,
                "new_commit": self.new_commit, "changed": self.changed, "files": [f.to_dict() for f in self.files],
                "facts": [f.to_dict() for f in self.facts], "old_size": self.old_size, "new_size": self.new_size,
                "size_delta": self.size_delta}


def diff_models(old: LockedModel, new: LockedModel) -> ModelChange:
    """Files added, removed and re-hashed, and facts changed, from pin `old` to pin `new`; pure."""
    before = {f.path: f for f in old.files}
    after = {f.path: f for f in new.files}
    files: list[FileChange] = []
    for path in sorted(before.keys() | after.keys()):
        a, b = before.get(path), after.get(path)
        if a is None:
            files.append(FileChange(path, "added", None, b))
        elif b is None:
            files.append(FileChange(path, "removed", a, None))
        elif (a.sha256, a.blob_id, a.size) != (b.sha256, b.blob_id, b.size):
            files.append(FileChange(path, "modified", a, b))
    facts = [FactChange(name, getattr(old, name), getattr(new, name))
             for name in _FACTS if getattr(old, name) != getattr(new, name)]
    return ModelChange(id=new.id, requested=new.requested, old_commit=old.commit, new_commit=new.commit,
                       files=tuple(files), facts=tuple(facts), old_size=old.size, new_size=new.size)


# ---------------------------------------------------------------------------
# update


@dataclass(frozen=True)
class UpdateReport:
    """What `update_project` did: one change per re-resolved model, the models it left alone, and
    whether ptm.lock was written."""

    changes: tuple[ModelChange, ...]
    skipped: tuple[tuple[str, str], ...]  # (id, why it was not re-resolved)
    written: bool
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "written": self.written, "models": [c.to_dict() for c in self.changes],
                "skipped": [{"id": i, "reason": r} for i, r in self.skipped]}


def update_project(
    manifest_path: Path,
    *,
    models: Collection[str] = (),
    dry_run: bool = False,
    jobs: int = 16,
    on_wait: Callable[[str], None] | None = None,
    backend_for: Callable[[str], Backend] = default_backend,
) -> UpdateReport:
    """Re-pin `models` (default: every model that follows a branch or tag) to where their refs point now.

    With `dry_run` nothing is written and no run lock is taken.

    Raises:
        ManifestError: a named model is not declared; LockfileError: no lock or a stale one.
        HubError, UnsafeHubAnswerError: nothing is written then.
    """
    if dry_run:
        return _update(manifest_path, models, dry_run=True, jobs=jobs, backend_for=backend_for)
    with run_lock(manifest_path.parent, on_wait):
        return _update(manifest_path, models, dry_run=False, jobs=jobs, backend_for=backend_for)


def _update(manifest_path: Path, models: Collection[str], *, dry_run: bool, jobs: int,
            backend_for: Callable[[str], Backend]) -> UpdateReport:
    manifest = load_manifest(manifest_path)
    old_text = manifest.lock_path.read_text(encoding="utf-8") if manifest.lock_path.exists() else ""
    old_lock = lock_state(manifest).require("update")
    for name in models:
        if manifest.get(name) is None:
            raise ManifestError(f"ptmlock update {name}: no such model in {manifest.path.name}. "
                                f"Declared: {', '.join(m.id for m in manifest.models) or 'none'}.")
    named = {n.casefold() for n in models}
    upgrade: list[str] = []
    skipped: list[tuple[str, str]] = []
    for spec in manifest.models:
        if named and spec.id.casefold() not in named:
            continue
        pin = old_lock.get(spec.id)
        assert pin is not None  # the lock is fresh
        if pinned_to_commit(spec.revision, pin.commit):
            skipped.append((spec.id, f"pinned to commit {spec.revision} in {manifest.path.name}; change its revision "
                                     "(`ptmlock add MODEL@REV`) to move it"))
        elif spec.hub != HUB_HUGGINGFACE:
            skipped.append((spec.id, f"hub {spec.hub!r} cannot be updated yet"))
        else:
            upgrade.append(spec.id)
    if not upgrade:
        return UpdateReport(changes=(), skipped=tuple(skipped), written=False, dry_run=dry_run)
    result = resolve(manifest, old_lock, backend_for=backend_for, jobs=jobs, upgrade=upgrade)
    changes = []
    for model_id in result.resolved:
        old, new = old_lock.get(model_id), result.lock.get(model_id)
        assert old is not None and new is not None
        changes.append(diff_models(old, new))
    text = dumps(result.lock)
    written = False
    if not dry_run and text != old_text:
        write_project_file(manifest.lock_path, text)
        written = True
    return UpdateReport(changes=tuple(changes), skipped=tuple(skipped), written=written, dry_run=dry_run)


# ---------------------------------------------------------------------------
# rendering (lines; the CLI prints them)


def render_change(change: ModelChange, *, dry_run: bool = False) -> list[str]:
    """Human lines for one moved model: per file `+`/`-`/`~` with sizes and old -> new hashes."""
    from ptmlock.output import human_size

    ref = change.requested or "default branch"
    verb = "Would update" if dry_run else "Updated"
    lines = [f"{verb} {change.id} ({ref}): {change.old_commit[:12]} -> {change.new_commit[:12]}"]
    for f in change.files:
        if f.change == "added" and f.new is not None:
            lines.append(f"  + {f.path}  {human_size(f.new.size)}" + _hash(f.new))
        elif f.change == "removed" and f.old is not None:
            lines.append(f"  - {f.path}  {human_size(f.old.size)}")
        elif f.old is not None and f.new is not None:
            lines.append(f"  ~ {f.path}  {human_size(f.old.size)} -> {human_size(f.new.size)} "
                         f"({signed_size(f.size_delta)})")
            if f.old.sha256 != f.new.sha256:
                lines.append(f"      sha256: {f.old.sha256 or '-'} -> {f.new.sha256 or '-'}")
            elif f.old.blob_id != f.new.blob_id:  # a plain git file (an LFS file's blob is only its pointer)
                lines.append(f"      blob: {f.old.blob_id or '-'} -> {f.new.blob_id or '-'}")
    for fact in change.facts:
        lines.append(f"  {fact.name.replace('_', '-')}: {_show(fact.old)} -> {_show(fact.new)}")
    lines.append(f"  size: {human_size(change.old_size)} -> {human_size(change.new_size)} "
                 f"({signed_size(change.size_delta)})")
    return lines


def outdated_summary(entries: list[OutdatedEntry]) -> str:
    """One line for stderr: how many pins lag, and what was not checked."""
    behind = sum(e.status == "outdated" for e in entries)
    checked = sum(e.status in ("outdated", "up-to-date") for e in entries)
    notes = [f"{n} {what}" for what, n in (
        ("pinned to a commit", sum(e.status == "pinned" for e in entries)),
        ("not checked", sum(e.status == "skipped" for e in entries))) if n]
    tail = f" ({', '.join(notes)})" if notes else ""
    if behind:
        return (f"{behind} of {checked} checked model{'s' if checked != 1 else ''} "
                f"{'is' if behind == 1 else 'are'} outdated{tail}. Run `ptmlock update` to re-pin and see what changed.")
    return f"All {checked} checked model{'s are' if checked != 1 else ' is'} up to date{tail}."


def update_summary(report: UpdateReport) -> str:
    """One line for stderr: how many pins moved and whether ptm.lock was written."""
    moved = sum(c.old_commit != c.new_commit for c in report.changes)
    n = len(report.changes)
    if report.dry_run:
        return (f"Dry run: {moved} of {n} model{'s' if n != 1 else ''} would move; ptm.lock was not written."
                if n else "Dry run: nothing to update; ptm.lock was not written.")
    if report.written:
        return f"Updated ptm.lock: {moved} of {n} model{'s' if n != 1 else ''} moved."
    return f"ptm.lock is up to date: {n} model{'s' if n != 1 else ''} checked, none moved." if n else \
        "Nothing to update: no model follows a branch or tag."


def signed_size(n: int) -> str:
    """A size delta with its sign: `+128 B`, `-1.5 KiB`, `+0 B`."""
    from ptmlock.output import human_size

    return ("-" if n < 0 else "+") + human_size(abs(n))


def _hash(f: LockedFile) -> str:
    return f"  sha256 {f.sha256}" if f.sha256 else ""


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
