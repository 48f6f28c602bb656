"""`ptmlock sync`: fetch exactly the pinned bytes of every locked model, checked as they arrive.

`plan_sync()` is pure: it selects models and says where each file goes (`Plan`). `apply()` does
the work: files already present and intact are skipped with no request, the rest are fetched
in parallel (`install.download.Fetcher`), snapshot links and refs are written, and a
`SyncReport` says what happened to each file. `apply(..., offline=True)` only checks.
"""
from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ptmlock._fs import contained_dir, contained_file, file_lock
from ptmlock.errors import (
    CacheWriteError,
    IntegrityError,
    PtmlockError,
)
from ptmlock.install.hashing import VerifiedCache, algorithm, digest_of, expected_digest
from ptmlock.install.hf_cache import (
    FileTask,
    ModelPlan,
    Plan,
    plan_files,
    real_root,
    select_models,
)
from ptmlock.install.progress import Progress
from ptmlock.install.report import (
    DOWNLOADED,
    FAILED,
    LINKED,
    MISSING,
    PRESENT,
    FileOutcome,
    SyncReport,
)
from ptmlock.install.sources import Source, SourceChain, registry_sources
from ptmlock.install.verify import check_tasks
from ptmlock.lockfile.model import Lock

if TYPE_CHECKING:
    pass

def plan_sync(lock: Lock, *, roles: Iterable[str] = (), model_ids: Iterable[str] = (),
              cache_dir: Path | None = None, target: Path | None = None) -> Plan:
    """Which files of which locked models sync fetches, and where each goes. Pure.

    Models are those of `roles` and `model_ids` with the models they need (all when both are
    empty); files are those matching each model's `include` patterns (all when none).

    Raises:
        RoleError, LockfileError: an unknown role or model, or an unsafe path in the lock.
    """
    models = select_models(lock, roles=roles, model_ids=model_ids)
    return plan_files(models, cache_dir=cache_dir, target=target)


def real_plan(lock: Lock, *, roles: Iterable[str] = (), model_ids: Iterable[str] = (),
              cache_dir: Path | None = None, target: Path | None = None) -> Plan:
    """`plan_sync` under the real path (symlinks resolved) of the cache or target folder, as
    `sync_project` uses it: the verified-hash cache is keyed by real paths."""
    return plan_sync(lock, roles=roles, model_ids=model_ids, cache_dir=real_root(cache_dir),
                     target=real_root(target) if target is not None else None)


def apply(plan: Plan, *, endpoint: str | None = None, jobs: int = 8, offline: bool = False,
          progress: Progress | None = None, cache: VerifiedCache | None = None,
          sources: Sequence[Source | str] | None = None) -> SyncReport:
    """Make every planned file present and intact; with `offline`, only check (no network, no
    writes). Failures are reported per file in the `SyncReport`, never half-applied: a file is
    visible at its destination only once its size and hash match the lock. `sources` (from
    `registry_sources`) are tried in order, "hub" standing for the model's own hub.

    Raises:
        CacheWriteError: a ref could not be written (per-file errors are in the report).
    """
    verified = cache if cache is not None else VerifiedCache()
    if offline:
        results = check_tasks(plan.tasks, layout=plan.layout, cache=verified, jobs=jobs)
        verified.save()
        outcomes = tuple(FileOutcome(task=t, action=MISSING if p else PRESENT, problem=p)
                         for t, (_, p) in zip(plan.tasks, results))
        return SyncReport(plan=plan, outcomes=outcomes, offline=True)
    # One unit of work per stored blob: two paths with the same bytes share one download.
    groups: dict[Path, list[int]] = {}
    for i, task in enumerate(plan.tasks):
        groups.setdefault(task.store, []).append(i)
    units = sorted(groups.values(), key=lambda idx: -plan.tasks[idx[0]].file.size)
    outcomes_by_index: list[FileOutcome | None] = [None] * len(plan.tasks)
    bar = progress if progress is not None else Progress()
    hub = _LazyFetcher(endpoint)
    fetcher: _LazyFetcher | SourceChain = hub
    if sources is not None:
        hub.name = next((s for s in sources if isinstance(s, str)), hub.name)  # as ptm.toml names it
        fetcher = SourceChain([hub if isinstance(s, str) else s for s in sources])

    def run(indices: list[int]) -> None:
        tasks = [plan.tasks[i] for i in indices]
        for i, outcome in zip(indices, _sync_unit(tasks, plan.layout, fetcher, verified, bar)):
            outcomes_by_index[i] = outcome

    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="ptmlock-sync")
    try:
        for f in [pool.submit(run, unit) for unit in units]:
            f.result()
    except BaseException:  # Ctrl-C: stop the downloads in flight (their partial files stay, to resume)
        fetcher.cancel.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    else:
        pool.shutdown()
    finally:
        bar.close()
        verified.save()
    outcomes = tuple(o for o in outcomes_by_index if o is not None)
    refs = _write_refs(plan.root, plan.models, outcomes) if plan.layout == "cache" else ()
    notes = fetcher.notes if isinstance(fetcher, SourceChain) else ()
    return SyncReport(plan=plan, outcomes=outcomes, refs=refs, notes=notes)


class _LazyFetcher:
    """Imports huggingface_hub and opens its session only when a file must be downloaded."""

    def __init__(self, endpoint: str | None) -> None:
        self.name = "hub"
        self._endpoint = endpoint
        self._fetcher: Any = None
        self._lock = threading.Lock()
        self.cancel = threading.Event()

    def fetch(self, task: FileTask, on_bytes: Callable[[int], None]) -> int:
        with self._lock:
            if self._fetcher is None:
                from ptmlock.hubs.huggingface import hub_endpoint
                from ptmlock.install.download import Fetcher

                self._fetcher = Fetcher(self._endpoint or hub_endpoint(), cancel=self.cancel)
        return int(self._fetcher.fetch(task, on_bytes))


def _sync_unit(tasks: Sequence[FileTask], layout: str, fetcher: _LazyFetcher | SourceChain, cache: VerifiedCache,
               bar: Progress) -> list[FileOutcome]:
    """Make one stored file intact (downloading if needed), then link every path to it."""
    first = tasks[0]
    try:
        action, received = _ensure_store(first, fetcher, cache, bar)
        outcomes = []
        for n, task in enumerate(tasks):
            relinked = layout == "cache" and _ensure_link(task)
            if action == DOWNLOADED and n == 0:
                outcomes.append(FileOutcome(task=task, action=DOWNLOADED, received=received))
            else:
                outcomes.append(FileOutcome(task=task, action=LINKED if action == DOWNLOADED or relinked else PRESENT))
        return outcomes
    except PtmlockError as e:
        return [FileOutcome(task=t, action=FAILED, error=e) for t in tasks]
    except OSError as e:
        err = CacheWriteError(f"{first.model.id}: cannot write {first.file.path} under {first.store.parent} "
                              f"({e.strerror or e}). Free some space or fix the permissions, then run `ptmlock sync` "
                              "again; nothing already there was changed.")
        return [FileOutcome(task=t, action=FAILED, error=err) for t in tasks]


def _ensure_store(task: FileTask, fetcher: _LazyFetcher | SourceChain, cache: VerifiedCache,
                  bar: Progress) -> tuple[str, int]:
    """(`present`, 0) when the stored bytes are already intact, else download: (`downloaded`, n)."""
    if _store_intact(task, cache):
        return PRESENT, 0
    contained_file(task.root, task.guard)  # issue 11: never a lock file reached through a planted link
    with file_lock(task.guard):  # the same per-blob lock huggingface_hub takes
        if _store_intact(task, cache):  # another process finished it while we waited
            return PRESENT, 0
        key = str(task.store)
        bar.start(key, task.label, task.file.size)
        try:
            received = fetcher.fetch(task, lambda n: bar.advance(key, n))
        except Exception as e:
            bar.finish(key, f"failed ({type(e).__name__})")
            raise
        bar.finish(key, "downloaded")
        real = os.fspath(task.store)
        cache.put(real, os.stat(real), algorithm(task.file), expected_digest(task.file) or "")
        return DOWNLOADED, received


def _store_intact(task: FileTask, cache: VerifiedCache) -> bool:
    """True when the stored bytes match the lock. A link planted at the store (or above it, inside
    the root) raises `UnsafePathError`: its bytes are never trusted, even when they match."""
    try:
        real = os.fspath(task.store)  # planned under a real root
        st = contained_file(task.root, task.store, create_parent=False)
        if st is None or st.st_size != task.file.size:
            return False
        return digest_of(real, task.file, cache=cache, st=st)[0] == expected_digest(task.file)
    except OSError:
        return False


def _ensure_link(task: FileTask) -> bool:
    """Point the snapshot path at the blob with a relative symlink; True if it changed.

    The folders on the way are checked to hold no link (issue 11), so a link that is already
    there is trusted only when it names exactly this blob; any other entry is replaced."""
    dest, blob = task.dest, task.store
    contained_dir(task.root, dest.parent)
    if os.path.islink(dest) and os.path.normpath(os.path.join(dest.parent, os.readlink(dest))) == os.fspath(blob):
        return False
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        try:
            os.symlink(os.path.relpath(blob, dest.parent), tmp)
        except OSError:  # no symlinks here (Windows without developer mode): a copy, as huggingface_hub does
            import shutil

            shutil.copyfile(blob, tmp)
        os.replace(tmp, dest)  # atomic: a reader sees the old entry or the new link
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return True


def _write_refs(root: Path, models: Sequence[ModelPlan],
                outcomes: Sequence[FileOutcome]) -> tuple[tuple[str, str, str], ...]:
    """Write `refs/<ref>` of each model whose files are all in place (atomically).

    Raises:
        UnsafePathError: a link planted at the ref or a folder above it (nothing is written there).
        CacheWriteError: the ref cannot be written.
    """
    from ptmlock._fs import atomic_write

    failed = {o.task.model.id for o in outcomes if o.action == FAILED}
    written = []
    for mp in models:
        if mp.ref is None or mp.model.id in failed:
            continue
        ref_path = mp.root.joinpath("refs", *mp.ref.split("/"))
        try:
            if contained_file(root, ref_path, create_parent=False) is not None \
                    and ref_path.read_text(encoding="utf-8") == mp.model.commit:
                continue
        except (OSError, UnicodeDecodeError):
            pass
        try:
            contained_file(root, ref_path)
            atomic_write(ref_path, mp.model.commit)
        except OSError as e:
            raise CacheWriteError(f"{mp.model.id}: cannot write {ref_path} ({e.strerror or e}). Fix the permissions "
                                  "of the cache, then run `ptmlock sync` again.") from None
        written.append((mp.model.id, mp.ref, mp.model.commit))
    return tuple(written)


def first_error(report: SyncReport) -> PtmlockError | None:
    """The error that decides the exit code (`SyncReport.exit_code`), for a one-line summary."""
    errors = report.errors
    for e in errors:
        if isinstance(e, IntegrityError):
            return e
    return errors[0] if errors else None


def load_fresh_lock(manifest_path: Path) -> Lock:
    """The project's lock, refusing one that is missing, stale or invalid (`lockfile.fresh`).

    Raises:
        ManifestError: the manifest is unreadable; LockfileError: the lock is invalid.
        CheckFailedError: the lock is missing or stale (fix: `ptmlock lock`).
    """
    from ptmlock.lockfile.fresh import lock_state
    from ptmlock.manifest.parse import load_manifest

    return lock_state(load_manifest(manifest_path)).require("sync")


def _check_signatures(manifest_path: Path, plan: Plan) -> None:
    from ptmlock.manifest.parse import load_manifest
    from ptmlock.signing.check import check_plan, signature_error

    cache = VerifiedCache()
    problems = check_plan(plan, load_manifest(manifest_path), cache=cache)
    cache.save()
    if problems:
        raise signature_error(problems)


def sync_project(manifest_path: Path, *, roles: Iterable[str] = (), model_ids: Iterable[str] = (),
                 target: Path | None = None, offline: bool = False, jobs: int = 8,
                 progress: Callable[[Plan], Progress] | None = None, source: str | None = None,
                 force: bool = False) -> SyncReport:
    """Sync the project of `manifest_path`: `load_fresh_lock`, `plan_sync`, then `apply`.

    `progress` builds the live display once the plan (file count, bytes) is known. Files come
    from the manifest's `[[source]]`s in order (only the one named `source`, if given). With
    `target`, files there that sync did not write (or that changed since) are replaced only
    with `force`; what sync wrote is recorded in each model folder (`install/owned.py`).

    Raises:
        CheckFailedError: the lock is missing or stale, or `target` holds files sync would
            overwrite that it did not write (unless `force`).
        UnsafePathError: a link planted in `target` on the way to a file.
        ManifestError, LockfileError, RoleError: bad files or selection.
        SignatureError: a signed model's synced files no longer match its signature (issue 16).
    """
    from ptmlock.manifest.parse import load_manifest

    lock = load_fresh_lock(manifest_path)
    sources = registry_sources(load_manifest(manifest_path).sources, source, jobs=jobs,
                               project_dir=manifest_path.parent)
    plan = real_plan(lock, roles=roles, model_ids=model_ids, target=target)
    cache = VerifiedCache()
    owned = plan.layout == "target" and not offline
    if owned:
        from ptmlock.install.owned import check_target, record_written

        conflicts = check_target(plan.models, plan.root, cache=cache, force=force)
    bar = progress(plan) if progress is not None and not offline else None
    report = apply(plan, jobs=jobs, offline=offline, progress=bar, cache=cache, sources=sources)
    if owned:
        record_written(plan.models, plan.root,
                       {o.task.dest for o in report.outcomes if o.action in (PRESENT, DOWNLOADED, LINKED)})
        report = replace(report, overwritten=tuple(c.message for c in conflicts))
    if report.exit_code == 0:  # issue 16: the synced bytes must still be what the declared signer signed
        _check_signatures(manifest_path, plan)
    if not plan.others:
        return report
    if target is not None:
        return replace(report, skipped=plan.skipped("goes to torch.hub's own folder, which --target does not change"))
    from ptmlock.install.torch_cache import (
        sync_torch,  # torch.hub's layout (issue: torchhub and url hubs)
    )

    return replace(report, torch=sync_torch(plan.others, offline=offline, jobs=min(jobs, 4)))
