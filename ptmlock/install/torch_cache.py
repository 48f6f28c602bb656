"""Sync `torchhub` and `url` models into torch.hub's own directory layout, without importing torch.

torch.hub (`torch/hub.py`, 2.14) keeps everything under `get_dir()`, which is
`$TORCH_HOME/hub`, `TORCH_HOME` defaulting to `$XDG_CACHE_HOME/torch` and that to `~/.cache/torch`:

    <hub_dir>/<owner>_<repo>_<ref>/     a repo as `torch.hub.load("owner/repo:ref")` caches it
                                        (`_get_cache_or_reload`; `/` in the ref becomes `_`)
    <hub_dir>/checkpoints/<file name>   what `load_state_dict_from_url(url)` reads: the URL
                                        path's last part

The runtime guard turns `torch.hub.load("owner/repo[:ref]")` into `owner/repo:<locked commit>`,
so sync writes the checkout of the pinned commit to `<owner>_<repo>_<commit>`: torch then
loads it with no request (and counts the repo as trusted, as it does every repo it finds
there). A url model's file goes to `checkpoints/<name>` once its size and sha256 match the
lock. Nothing is visible at its destination until it is complete and checked.

`plan_torch()` is pure; `apply_torch()` does the work and returns a `TorchSyncReport`.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ptmlock._fs import contained_dir, contained_file, file_lock
from ptmlock.constants import HUB_TORCHHUB, HUB_URL
from ptmlock.errors import (
    EXIT_CHECK_FAILED,
    IntegrityError,
    LockfileError,
    ManifestError,
    PtmlockError,
)
from ptmlock.hubs.torchhub import checkout, checkpoint_dir, torch_hub_dir
from ptmlock.hubs.url import download, url_filename
from ptmlock.install.hashing import hash_file
from ptmlock.lockfile.model import COMMIT_RE, LockedFile, LockedModel

PRESENT, DOWNLOADED, MISSING, FAILED = "present", "downloaded", "missing", "failed"
REPO, CHECKPOINT = "repo", "checkpoint"


def repo_dir_name(model: LockedModel) -> str:
    """`<owner>_<repo>_<commit>`: the folder torch.hub uses for the guard's `owner/repo:<commit>`."""
    owner, _, name = model.id.partition(":")[0].partition("/")
    return "_".join([owner, name, model.commit])


class TorchCacheWriteError(PtmlockError):
    """torch's hub directory could not be written (disk full, permissions); as `sync.CacheWriteError`."""

    exit_code = EXIT_CHECK_FAILED


@dataclass(frozen=True)
class TorchTask:
    """One locked torchhub repo or url file and where it goes."""

    model: LockedModel
    kind: str  # REPO or CHECKPOINT
    dest: Path

    @property
    def file(self) -> LockedFile | None:
        """The pinned file of a url model (None for a repo)."""
        return self.model.files[0] if self.kind == CHECKPOINT else None


@dataclass(frozen=True)
class TorchOutcome:
    """What sync did with one task: `present`, `downloaded`, `missing` (offline) or `failed`."""

    task: TorchTask
    action: str
    received: int = 0
    error: PtmlockError | None = None
    message: str = ""


@dataclass(frozen=True)
class TorchSyncReport:
    """The result of `apply_torch()`, one outcome per task, in plan order."""

    hub_dir: Path
    outcomes: tuple[TorchOutcome, ...]

    @property
    def failures(self) -> tuple[TorchOutcome, ...]:
        """Tasks that could not be done."""
        return tuple(o for o in self.outcomes if o.action == FAILED)

    @property
    def exit_code(self) -> int:
        """0 when complete; 5 when a download failed its integrity check; else the first failure's
        code; 1 when an offline check found something missing or altered."""
        errors = [o.error for o in self.failures if o.error is not None]
        if any(isinstance(e, IntegrityError) for e in errors):
            return IntegrityError.exit_code
        if errors:
            return errors[0].exit_code
        return EXIT_CHECK_FAILED if any(o.action == MISSING for o in self.outcomes) else 0


def plan_torch(models: Sequence[LockedModel], *, hub_dir: Path | None = None) -> tuple[TorchTask, ...]:
    """Where each `torchhub` and `url` model of `models` goes under `hub_dir` (default: torch's). Pure;
    models of other hubs are left out.

    Raises:
        LockfileError: a lock entry that cannot be synced safely (no single pinned file, bad hash).
        ManifestError: two url models that torch would store under the same file name.
    """
    root = hub_dir if hub_dir is not None else torch_hub_dir()
    tasks: list[TorchTask] = []
    names: dict[str, str] = {}
    for m in models:
        if m.hub == HUB_TORCHHUB:
            if not COMMIT_RE.match(m.commit):
                raise LockfileError(f"ptm.lock pins torchhub repo {m.id!r} to {m.commit!r}, not a 40-hex commit. "
                                    f"Run `ptmlock lock --upgrade {m.id}`.")
            tasks.append(TorchTask(m, REPO, root / repo_dir_name(m)))
        elif m.hub == HUB_URL:
            f = m.files[0] if len(m.files) == 1 else None
            if f is None or f.sha256 is None or f.path != url_filename(m.id) or f.sha256 != m.commit:
                raise LockfileError(f"ptm.lock has no valid pin for url model {m.id!r} (one file, named as in the URL, "
                                    f"with its sha256 as the commit). Run `ptmlock lock --upgrade {m.id}`.")
            other = names.setdefault(f.path, m.id)
            if other != m.id:
                raise ManifestError(f"url models {other!r} and {m.id!r} are both stored by torch.hub as "
                                    f"checkpoints/{f.path}, so one would overwrite the other. Declare only one.")
            tasks.append(TorchTask(m, CHECKPOINT, checkpoint_dir(root) / f.path))
    return tuple(tasks)


def apply_torch(tasks: Sequence[TorchTask], *, hub_dir: Path | None = None, offline: bool = False, jobs: int = 4,
                on_bytes: Callable[[int], None] | None = None) -> TorchSyncReport:
    """Make every task present and intact; with `offline`, only check (no network, no writes).

    Failures are reported per task in the report, never half-applied.
    """
    root = hub_dir if hub_dir is not None else torch_hub_dir()

    def run(task: TorchTask) -> TorchOutcome:
        try:
            if task.kind == REPO:
                return _sync_repo(root, task, offline)
            return _sync_checkpoint(root, task, offline, on_bytes)
        except PtmlockError as e:
            return TorchOutcome(task, FAILED, error=e)
        except OSError as e:
            return TorchOutcome(task, FAILED, error=TorchCacheWriteError(
                f"{task.model.id}: cannot write {task.dest} ({e.strerror or e}). Free some space or fix the "
                "permissions, then run `ptmlock sync` again; nothing already there was changed."))

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(tasks) or 1)), thread_name_prefix="ptmlock-torch") as pool:
        outcomes = tuple(pool.map(run, tasks))
    return TorchSyncReport(hub_dir=root, outcomes=outcomes)


def sync_torch(models: Sequence[LockedModel], *, hub_dir: Path | None = None, offline: bool = False,
               jobs: int = 4) -> TorchSyncReport:
    """`plan_torch` then `apply_torch`: sync the torchhub and url models among `models`.

    Raises:
        LockfileError, ManifestError: see `plan_torch`.
    """
    return apply_torch(plan_torch(models, hub_dir=hub_dir), hub_dir=hub_dir, offline=offline, jobs=jobs)


def _guard(dest: Path) -> Path:
    import platformdirs

    key = hashlib.sha256(os.fsencode(os.path.abspath(dest))).hexdigest()[:24]
    directory = Path(platformdirs.user_cache_dir("ptmlock")) / "torch-locks"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{key}.lock"


# --- url models


def _checkpoint_intact(dest: Path, f: LockedFile) -> bool:
    try:
        return dest.stat().st_size == f.size and hash_file(dest, f)[0] == f.sha256
    except OSError:
        return False


def _sync_checkpoint(root: Path, task: TorchTask, offline: bool,
                     on_bytes: Callable[[int], None] | None) -> TorchOutcome:

    f, dest = task.file, task.dest
    assert f is not None
    # issue 11: a link planted at the checkpoint or its folder is refused, never read or written through
    exists = contained_file(root, dest, create_parent=False) is not None
    if exists and _checkpoint_intact(dest, f):
        return TorchOutcome(task, PRESENT)
    if offline:
        state = "altered" if exists else "missing"
        return TorchOutcome(task, MISSING, message=f"{task.model.id}: {dest} is {state}")
    contained_dir(root, dest.parent)
    with file_lock(_guard(dest)):
        if contained_file(root, dest) is not None and _checkpoint_intact(dest, f):  # finished while we waited
            return TorchOutcome(task, PRESENT)
        # issue 26: a dependency is re-pinned through the torchhub model that needs it
        fix_id = task.model.required_by[0] if task.model.required_by else task.model.id
        got = download(task.model.id, model_id=fix_id, into=dest.parent, expect=f, on_bytes=on_bytes)
        assert got.path is not None
        os.replace(got.path, dest)
        return TorchOutcome(task, DOWNLOADED, received=got.size)


# --- torchhub repos


def _sync_repo(root: Path, task: TorchTask, offline: bool) -> TorchOutcome:
    dest = task.dest
    # issue 11: a linked checkout folder is refused (torch would import code from wherever it points)
    if contained_dir(root, dest, create=False):
        return TorchOutcome(task, PRESENT)
    if offline:
        return TorchOutcome(task, MISSING, message=f"{task.model.id}: {dest} is missing")
    contained_dir(root, dest.parent)
    with file_lock(_guard(dest)):
        if contained_dir(root, dest, create=False):
            return TorchOutcome(task, PRESENT)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".ptmlock-tmp", dir=dest.parent))
        try:
            checkout(task.model, tmp)
            os.rename(tmp / "tree", dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return TorchOutcome(task, DOWNLOADED)
