"""`ptmlock verify`: check the synced files of every locked model against ptm.lock.

`check_tasks()` gathers what is on disk (stat, link target, hash) as a `Seen`; `compare()` turns
that into a `Problem` or None and is pure; `verify()` runs both over a `Plan` and returns a
`VerifyReport`, which the CLI renders. Hashes go through the `VerifiedCache` unless `deep`.
"""
from __future__ import annotations

import errno
import os
import queue
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ptmlock._fs import FolderWalk, contained_file
from ptmlock.constants import HUB_URL
from ptmlock.errors import UnsafePathError
from ptmlock.install.hashing import VerifiedCache, algorithm, digest_of, expected_digest, hash_file
from ptmlock.install.hf_cache import (
    FileTask,
    Plan,
    plan_files,
    real_root,
    select_models,
)
from ptmlock.lockfile.model import Lock, LockedModel

MISSING, SIZE, HASH, LINK, UNREADABLE, UNSAFE = "missing", "size", "hash", "link", "unreadable", "unsafe"


@dataclass(frozen=True)
class Problem:
    """One file that is not as ptm.lock pins it.

    `kind` is `missing`, `size`, `hash`, `link` (a snapshot link to the wrong blob),
    `unreadable` or `unsafe` (a link planted inside the cache or target folder, which verify
    does not follow: issue 11); `expected` and `actual` are sizes, digests or link targets, as text.
    """

    model: str
    path: str
    kind: str
    location: str
    expected: str | None = None
    actual: str | None = None
    algorithm: str | None = None

    @property
    def message(self) -> str:
        """One line: model, file, what is wrong."""
        where = f"{self.model}: {self.path}"
        if self.kind == MISSING:
            return f"{where}: missing ({self.location})"
        if self.kind == SIZE:
            return f"{where}: altered: size is {self.actual} bytes, expected {self.expected} ({self.location})"
        if self.kind == HASH:
            return f"{where}: altered: {self.algorithm} is {self.actual}, expected {self.expected} ({self.location})"
        if self.kind == LINK:
            return f"{where}: snapshot link points at {self.actual}, expected {self.expected} ({self.location})"
        if self.kind == UNSAFE:
            return f"{where}: {self.actual}; verify does not follow it ({self.location})"
        return f"{where}: unreadable: {self.actual} ({self.location})"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see docs/sync-verify.md)."""
        return {"model": self.model, "path": self.path, "kind": self.kind, "location": self.location,
                "expected": self.expected, "actual": self.actual, "algorithm": self.algorithm,
                "message": self.message}


@dataclass(frozen=True)
class Seen:
    """What `check_tasks()` found at a file's destination. Plain data."""

    exists: bool
    link: str | None = None  # where a snapshot symlink points (normalised), None if not a link
    link_ok: bool = True  # the link points at the expected blob
    size: int | None = None
    digest: str | None = None  # None when not hashed (size already wrong, or wrong link)
    error: str | None = None
    unsafe: str | None = None  # a planted link on the way: what and where
    read: int = 0  # bytes actually read to hash it
    cached: bool = False  # the digest came from the verified-hash cache


@dataclass(frozen=True)
class ModelSummary:
    """Per model: what was checked and how many problems were found."""

    id: str
    commit: str
    files: int
    bytes: int
    problems: int


@dataclass(frozen=True)
class VerifyReport:
    """The result of `verify()`; `ok` is True only when every file is intact."""

    layout: str
    root: Path
    models: tuple[ModelSummary, ...]
    problems: tuple[Problem, ...]
    skipped: tuple[tuple[str, str], ...] = ()
    hashed_bytes: int = 0
    cached_files: int = 0
    torch_dir: Path | None = None  # issue 26: torch.hub's folder, when url files were checked there

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """The `--json` document (shape documented in docs/sync-verify.md)."""
        return {
            "ok": self.ok,
            "layout": self.layout,
            "root": str(self.root),
            "models": [vars(m) for m in self.models],
            "problems": [p.to_dict() for p in self.problems],
            "skipped": [{"model": m, "reason": r} for m, r in self.skipped],
            "files": sum(m.files for m in self.models),
            "bytes": sum(m.bytes for m in self.models),
            "hashed_bytes": self.hashed_bytes,
            "cached_files": self.cached_files,
            "torch_dir": None if self.torch_dir is None else str(self.torch_dir),
        }


def _look(task: FileTask, *, layout: str, cache: VerifiedCache | None, deep: bool,
          walk: FolderWalk) -> Seen | tuple[Seen, str, os.stat_result]:
    """Everything but reading the file: a final `Seen`, or what `_hash` needs to finish."""
    dest = os.fspath(task.dest)
    store = os.fspath(task.store)
    link = None
    try:  # issue 11: no link planted between the root and the bytes
        walk.folder(os.path.dirname(dest))
        held = walk.file(store)
    except UnsafePathError as e:
        return Seen(exists=True, unsafe=f"{e.path} is {e.what}" if e.path else str(e))
    except OSError:
        held = None  # reported by the look below
    try:
        if layout == "cache":
            try:
                target = os.readlink(dest)
            except OSError as e:  # EINVAL: a regular file (no symlinks here); ENOENT: missing
                if e.errno == errno.ENOENT:
                    return Seen(exists=False)
                target = None
            if target is not None:
                link = os.path.normpath(os.path.join(os.path.dirname(dest), target))
                if link != store and os.path.realpath(link) != os.path.realpath(store):
                    return Seen(exists=os.path.exists(link), link=link, link_ok=False)
                link = store
        real = link or dest
        # the lstat of a regular file reached without links is its stat
        st = held if held is not None and real == store else os.stat(real)
    except FileNotFoundError:
        return Seen(exists=False, link=link)
    except OSError as e:
        return Seen(exists=True, link=link, error=e.strerror or str(e))
    if st.st_size != task.file.size:
        return Seen(exists=True, link=link, size=st.st_size)
    seen = Seen(exists=True, link=link, size=st.st_size)
    if cache is not None and not deep:
        digest = cache.get(real, st, algorithm(task.file))
        if digest is not None:
            return replace(seen, digest=digest, cached=True)
    return seen, real, st


def _hash(task: FileTask, seen: Seen, real: str, st: os.stat_result, *, cache: VerifiedCache | None) -> Seen:
    try:
        digest, n, _ = digest_of(real, task.file, cache=cache, st=st, lookup=False)
    except OSError as e:
        return replace(seen, error=e.strerror or str(e))
    return replace(seen, digest=digest, read=n)


def compare(task: FileTask, seen: Seen) -> Problem | None:
    """The problem with `task`'s file given what was `seen`, or None when it is intact. Pure."""
    base = {"model": task.model.id, "path": task.file.path, "location": str(task.dest)}
    if seen.unsafe is not None:
        return Problem(kind=UNSAFE, actual=seen.unsafe, **base)
    if seen.link is not None and not seen.link_ok:
        return Problem(kind=LINK, expected=_short(os.fspath(task.store), task), actual=_short(seen.link, task), **base)
    if not seen.exists:
        return Problem(kind=MISSING, **base)
    if seen.error is not None:
        return Problem(kind=UNREADABLE, actual=seen.error, **base)
    if seen.size != task.file.size:
        return Problem(kind=SIZE, expected=str(task.file.size), actual=str(seen.size), **base)
    want = expected_digest(task.file)
    if seen.digest != want:
        return Problem(kind=HASH, expected=want, actual=seen.digest, algorithm=algorithm(task.file), **base)
    return None


def _short(path: str, task: FileTask) -> str:
    """A link target relative to the repo folder (`blobs/<etag>`) when it is inside it."""
    repo = os.fspath(task.store.parent.parent)
    return path[len(repo) + 1:] if path.startswith(repo + os.sep) else path


def check_tasks(tasks: Sequence[FileTask], *, layout: str, cache: VerifiedCache | None, deep: bool = False,
                jobs: int | None = None) -> list[tuple[Seen, Problem | None]]:
    """`inspect` + `compare` each task; results in the order of `tasks`.

    Stats, links and cache hits are settled on this thread (cheap system calls, biggest file
    first); each file that must be read is handed at once to a pool of `jobs` threads (default:
    one per core, started only when a file must be read), which hash while this thread goes on
    looking (hashlib releases the GIL).
    """
    results: list[tuple[Seen, Problem | None] | None] = [None] * len(tasks)
    walks: dict[Path, FolderWalk] = {}
    limit = max(1, jobs or os.cpu_count() or 1)
    todo: queue.SimpleQueue[tuple[int, Seen, str, os.stat_result] | None] = queue.SimpleQueue()
    workers: list[threading.Thread] = []
    failures: list[BaseException] = []

    def finish(i: int, seen: Seen, real: str, st: os.stat_result) -> None:
        done = _hash(tasks[i], seen, real, st, cache=cache)
        results[i] = (done, compare(tasks[i], done))

    def work() -> None:
        while (item := todo.get()) is not None:
            try:
                finish(*item)
            except BaseException as e:  # a bug: raised again on the calling thread
                failures.append(e)

    try:
        for i in sorted(range(len(tasks)), key=lambda k: -tasks[k].file.size):  # big files first: shorter makespan
            task = tasks[i]
            walk = walks.get(task.root) or walks.setdefault(task.root, FolderWalk(task.root))
            found = _look(task, layout=layout, cache=cache, deep=deep, walk=walk)
            if isinstance(found, Seen):
                results[i] = (found, compare(task, found))
            elif limit == 1:
                finish(i, *found)
            else:
                if not workers:
                    workers.extend(threading.Thread(target=work, name="ptmlock-verify", daemon=True)
                                   for _ in range(limit))
                    for w in workers:
                        w.start()
                todo.put((i, *found))
    except BaseException:
        while not todo.empty():  # Ctrl-C or a bug: do not wait for the files still queued
            todo.get_nowait()
        raise
    finally:
        for _ in workers:
            todo.put(None)
        for w in workers:
            w.join()
    if failures:
        raise failures[0]
    return [r for r in results if r is not None]


def verify(
    lock: Lock,
    *,
    model_ids: Iterable[str] = (),
    roles: Iterable[str] = (),
    cache_dir: Path | None = None,
    target: Path | None = None,
    deep: bool = False,
    jobs: int | None = None,
    cache: VerifiedCache | None = None,
) -> VerifyReport:
    """Check every selected locked file in the hub cache (or in `target`) against `lock`.

    Reads files on `jobs` threads (default: one per core). Unless `deep`, a file whose stat is
    unchanged since it was last hashed is not read again (`cache`, default the user cache).

    Raises:
        RoleError, LockfileError: a role or model that is not in the lock.
    """
    plan: Plan = plan_files(select_models(lock, roles=roles, model_ids=model_ids), cache_dir=real_root(cache_dir),
                            target=real_root(target) if target is not None else None)
    verified = cache if cache is not None else VerifiedCache()
    # a deep run reads every file but still records what it read, for the next quick run
    results = check_tasks(plan.tasks, layout=plan.layout, cache=verified, deep=deep, jobs=jobs)
    verified.save()
    problems = [p for _, p in results if p is not None]
    by_model = {m.model.id: 0 for m in plan.models}
    for p in problems:
        by_model[p.model] += 1
    summaries = tuple(ModelSummary(id=m.model.id, commit=m.model.commit, files=len(m.files),
                                   bytes=sum(t.file.size for t in m.files), problems=by_model[m.model.id])
                      for m in plan.models)
    from ptmlock.hubs.torchhub import torch_hub_dir

    checked: list[LockedModel] = []
    if target is None:  # issue 26: url files (declared, or a hubconf.py's weights) in torch.hub's checkpoints
        checked = [m for m in plan.others if m.hub == HUB_URL]
        for m in checked:
            found = _checkpoint_problem(m)
            problems.extend([found] if found is not None else [])
            summaries += (ModelSummary(id=m.id, commit=m.commit, files=1, bytes=m.size, problems=int(found is not None)),)
    skipped = tuple(s for s in plan.skipped("is not checked by verify yet") if not any(s[0] == m.id for m in checked))
    return VerifyReport(layout=plan.layout, root=plan.root, models=summaries, problems=tuple(problems),
                        skipped=skipped,
                        torch_dir=torch_hub_dir() if checked else None, hashed_bytes=sum(s.read for s, _ in results),
                        cached_files=sum(1 for s, _ in results if s.cached))



def _checkpoint_problem(model: LockedModel) -> Problem | None:
    """A url model's file in torch.hub's checkpoint directory against its locked size and sha256."""
    from ptmlock.install.torch_cache import plan_torch

    task = plan_torch([model])[0]
    f, dest = model.files[0], task.dest
    where = str(dest)
    try:
        root = dest.parent.parent
        if contained_file(root, dest, create_parent=False) is None:
            return Problem(model.id, f.path, MISSING, where)
        size = dest.stat().st_size
        if size != f.size:
            return Problem(model.id, f.path, SIZE, where, str(f.size), str(size))
        digest = hash_file(dest, f)[0]
    except UnsafePathError as e:
        return Problem(model.id, f.path, UNSAFE, where, actual=e.message)
    except OSError as e:
        return Problem(model.id, f.path, UNREADABLE, where, actual=e.strerror or str(e))
    if digest != f.sha256:
        return Problem(model.id, f.path, HASH, where, f.sha256, digest, "sha256")
    return None


def verify_project(manifest_path: Path, *, model_ids: Iterable[str] = (), roles: Iterable[str] = (),
                   target: Path | None = None, deep: bool = False, jobs: int | None = None) -> VerifyReport:
    """Verify the project of `manifest_path` against its ptm.lock, which must be fresh.

    Raises:
        ManifestError: the manifest is unreadable; LockfileError: the lock is invalid.
        CheckFailedError: the lock is missing or stale (fix: `ptmlock lock`, then `ptmlock sync`).
    """
    from ptmlock.lockfile.fresh import lock_state
    from ptmlock.manifest.parse import load_manifest

    lock = lock_state(load_manifest(manifest_path)).require("verify")
    return verify(lock, model_ids=model_ids, roles=roles, target=target, deep=deep, jobs=jobs)
