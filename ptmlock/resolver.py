"""Resolve a manifest into a lock, re-using every pin whose manifest entry did not change."""
from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace

from ptmlock.constants import DEFAULT_JOBS
from ptmlock.errors import ManifestError, PtmlockError
from ptmlock.hubs.base import Backend, ask_each
from ptmlock.hubs.registry import default_backend
from ptmlock.lockfile.model import Lock, LockedModel, manifest_hash
from ptmlock.manifest.model import Manifest, ModelSpec

ALL = ":all:"


@dataclass(frozen=True)
class ResolveResult:
    """What `resolve` produced: the new lock and which entries were asked of the hub."""

    lock: Lock
    resolved: tuple[str, ...]  # ids asked of the hub
    reused: tuple[str, ...]  # ids whose pin was kept with no request
    changed: tuple[tuple[str, str | None, str], ...]  # (id, old commit or None, new commit) for moved pins


def resolve(
    manifest: Manifest,
    old_lock: Lock | None,
    *,
    backend_for: Callable[[str], Backend] = default_backend,
    jobs: int = DEFAULT_JOBS,
    upgrade: Collection[str] = (),
) -> ResolveResult:
    """Pin every model of `manifest`.

    An entry whose manifest fields (hub, type, revision, files) match its pin in `old_lock` keeps
    that pin with no hub request, unless `upgrade` names it (or is `{ALL}`). The rest are
    resolved concurrently on at most `jobs` threads; results are put back in manifest order.

    Raises:
        HubError, UnsafeHubAnswerError: the first failure in manifest order, or answers that would
            make a lock `lockfile.read` refuses.
        ManifestError: `upgrade` names an undeclared model, or two ids are the same repo.
    """
    upgrade_all = ALL in upgrade
    wanted = {u.casefold() for u in upgrade if u != ALL}
    for name in wanted:
        if manifest.get(name) is None:
            raise ManifestError(f"--upgrade {name}: no such model in {manifest.path.name}. "
                                f"Declared: {', '.join(m.id for m in manifest.models) or 'none'}.")
    slots: list[LockedModel | None] = []
    todo: list[tuple[int, ModelSpec]] = []
    reused: list[str] = []
    for spec in manifest.models:
        old = _old_pin(old_lock, spec)
        fresh = old is not None and old.resolution_key() == spec.resolution_key()
        if fresh and not upgrade_all and spec.id.casefold() not in wanted:
            assert old is not None
            slots.append(replace(old, role=spec.role))
            reused.append(spec.id)
        else:
            todo.append((len(slots), spec))
            slots.append(None)

    if todo:
        backends: dict[str, Backend] = {}
        for _, spec in todo:
            if spec.hub not in backends:
                backends[spec.hub] = backend_for(spec.hub)
        if any(spec.signing is not None for _, spec in todo):
            from ptmlock.signing.bundle import require_library

            require_library()  # name the missing extra before any hub request
        results = ask_each(lambda spec: _signed(backends[spec.hub].resolve(spec), spec, backends[spec.hub], manifest),
                           [s for _, s in todo], jobs=jobs)
        errors = [r for r in results if isinstance(r, PtmlockError)]
        if errors:
            first = errors[0]
            if len(errors) > 1:
                first.message += f" ({len(errors) - 1} more model(s) also failed.)"
            raise first
        for (slot, _), result in zip(todo, results):
            assert isinstance(result, LockedModel)
            slots[slot] = result

    models = [m for m in slots if m is not None]
    _check_same_repo(models)
    changed = []
    for _, spec in todo:
        old = _old_pin(old_lock, spec)
        new = next(m for m in models if m.id == spec.id)
        if old is None or old.commit != new.commit:
            changed.append((spec.id, old.commit if old else None, new.commit))
    # issue 7: lock the models the declared ones need, transitively (ptmlock/deps/)
    from ptmlock.deps.resolve import expand_dependencies

    deps = expand_dependencies(models, old_lock, moved={c[0].casefold() for c in changed},
                               forced={m.id.casefold() for m in models} if upgrade_all else wanted,
                               backend_for=backend_for, jobs=jobs)
    changed.extend(deps.changed)
    lock = Lock(manifest_hash=manifest_hash(manifest), models=tuple(models) + deps.models)
    _readable(lock)
    return ResolveResult(lock=lock, resolved=tuple(s.id for _, s in todo), reused=tuple(reused),
                         changed=tuple(changed))


def _signed(locked: LockedModel, spec: ModelSpec, backend: Backend, manifest: Manifest) -> LockedModel:
    """issue 16: `locked` with its verified signature when ptm.toml requires a signer."""
    if spec.signing is None:
        return locked
    from ptmlock.signing.check import sign_locked

    fetch_file = backend.fetch_file  # type: ignore[attr-defined]  # only Hugging Face models are signed

    def fetch(path: str) -> str:
        return str(fetch_file(locked.canonical, path, commit=locked.commit, repo_type=locked.repo_type))

    return sign_locked(locked, spec.signing, manifest.project_dir, fetch)


def _old_pin(old_lock: Lock | None, spec: ModelSpec) -> LockedModel | None:
    if old_lock is None:
        return None
    folded = spec.id.casefold()
    return next((m for m in old_lock.models if m.id.casefold() == folded and not m.required_by), None)


def _check_same_repo(models: list[LockedModel]) -> None:
    seen: dict[tuple[str, str, str], str] = {}
    for m in models:
        key = (m.hub, m.repo_type, m.canonical.casefold())
        if key in seen:
            raise ManifestError(
                f"{seen[key]!r} and {m.id!r} are the same {m.repo_type} on the hub ({m.canonical}): "
                f"declare it once in ptm.toml (`ptmlock remove {m.id}`)."
            )
        seen[key] = m.id


def _readable(lock: Lock) -> None:
    """Refuse a lock the one reader would refuse: its new values came from a hub's answers.

    Raises:
        UnsafeHubAnswerError: with the reader's message naming the field.
    """
    from ptmlock.errors import LockfileError, UnsafeHubAnswerError
    from ptmlock.lockfile.write import check_writable

    try:
        check_writable(lock)
    except LockfileError as e:
        raise UnsafeHubAnswerError(f"The hub's answers would make an invalid ptm.lock: {e.message}. "
                                   "Nothing was written.") from None
