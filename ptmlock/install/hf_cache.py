"""Where sync puts each locked file, and which files and models it takes. Pure, but for reading
environment variables.

The cache layout is huggingface_hub's (`file_download.py`, 2.4.0):
`<HF_HUB_CACHE>/models--org--name/blobs/<etag>` holds the bytes, named by the LFS sha256 for
LFS files and by the git blob id for the others; `snapshots/<commit>/<path>` is a relative
symlink to the blob; `refs/<ref>` holds the commit a branch or tag pointed at;
`<HF_HUB_CACHE>/.locks/models--org--name/<etag>.lock` serialises writers of one blob.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ptmlock.constants import HUB_HUGGINGFACE
from ptmlock.errors import LockfileError, RoleError
from ptmlock.filesets import matches
from ptmlock.lockfile.model import COMMIT_RE, Lock, LockedFile, LockedModel
from ptmlock.names import closest, safe_path_problem

_HEX = re.compile(r"^[0-9a-f]+$")


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, resolved exactly as huggingface_hub's `constants.py` does
    (`HF_HUB_CACHE`, `HUGGINGFACE_HUB_CACHE`, `HF_HOME/hub`, `XDG_CACHE_HOME/huggingface/hub`),
    but read at call time and without importing huggingface_hub."""
    home = os.getenv("HF_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache")), "huggingface"))
    home = os.path.expandvars(os.path.expanduser(home))
    legacy = os.getenv("HUGGINGFACE_HUB_CACHE", os.path.join(home, "hub"))
    return Path(os.path.expandvars(os.path.expanduser(os.getenv("HF_HUB_CACHE", legacy))))


def real_root(path: Path | None) -> Path:
    """`path` (default: the hub cache) with symlinks resolved, so that every path planned under
    it is a real path (the verified-hash cache is keyed by real paths)."""
    return Path(os.path.realpath(path if path is not None else hub_cache_dir()))


def repo_folder(model: LockedModel) -> str:
    """`models--org--name` (or `datasets--...`), as `huggingface_hub.file_download.repo_folder_name`."""
    return "--".join([f"{model.repo_type}s", *model.canonical.split("/")])


def ref_name(model: LockedModel) -> str | None:
    """The ref sync records for `model`: the requested branch or tag, `main` when none was
    requested, None when a full commit was requested (nothing to record)."""
    requested = model.requested or "main"
    if COMMIT_RE.match(requested) or any(p in ("", ".", "..") for p in requested.split("/")):
        return None
    return requested


@dataclass(frozen=True)
class FileTask:
    """One locked file and every path sync and verify use for it."""

    model: LockedModel
    file: LockedFile
    dest: Path  # what a reader opens: the snapshot link, or the file in --target
    store: Path  # where the bytes live: the blob, or `dest` itself in --target
    work: Path  # cache: the blobs folder; target: DIR/<id>/.cache/ptmlock
    locks: Path  # cache: <cache>/.locks/<repo folder>; target: same as `work`
    root: Path  # the hub cache or the --target folder: every path above is written inside it, never through a link

    @property
    def in_cache(self) -> bool:
        """True for the hub cache layout, False for a --target folder."""
        return self.store != self.dest

    @property
    def partial(self) -> Path:
        """The download in progress, resumed by the next sync; never where a reader looks."""
        return self._beside(self.work, ".incomplete")

    @property
    def guard(self) -> Path:
        """The lock file serialising writers of `store` (huggingface_hub's, in the cache)."""
        return self._beside(self.locks, ".lock")

    def _beside(self, root: Path, suffix: str) -> Path:
        """`<root>/<blob name><suffix>` in the cache; `<root>/<file path><suffix>` in a target folder."""
        if self.in_cache:
            return root / f"{self.store.name}{suffix}"
        p = root.joinpath(*self.file.path.split("/"))
        return p.with_name(p.name + suffix)

    @property
    def label(self) -> str:
        """`org/name/path`, for messages."""
        return f"{self.model.id}/{self.file.path}"


@dataclass(frozen=True)
class ModelPlan:
    """The files of one model that sync fetches and verify checks."""

    model: LockedModel
    root: Path  # the repo folder in the cache, or DIR/<id> in --target
    files: tuple[FileTask, ...]
    ref: str | None  # refs/<ref> to write (cache layout only)


@dataclass(frozen=True)
class Plan:
    """What to fetch or check: per model, each file with its paths. Built by `plan_files`."""

    layout: str  # "cache" or "target"
    root: Path  # the hub cache, or the --target directory
    models: tuple[ModelPlan, ...]
    others: tuple[LockedModel, ...] = ()  # torchhub and url models: not in the Hugging Face layout

    def skipped(self, why: str) -> tuple[tuple[str, str], ...]:
        """(model id, reason) for each model of `others`, `why` completing "hub 'x' ..."."""
        return tuple((m.id, f"hub {m.hub!r} {why}") for m in self.others)

    @property
    def tasks(self) -> tuple[FileTask, ...]:
        """Every file of every model, in model then path order."""
        return tuple(t for m in self.models for t in m.files)


def select_models(lock: Lock, *, roles: Iterable[str] = (), model_ids: Iterable[str] = ()) -> list[LockedModel]:
    """The locked models named by `roles` and `model_ids`, with the models they require;
    every model when both are empty. Order is the lock's.

    Raises:
        RoleError: a role no locked model fills.
        LockfileError: a model that is not in ptm.lock.
    """
    roles, model_ids = list(roles), list(model_ids)
    if not roles and not model_ids:
        return list(lock.models)
    chosen: set[str] = set()
    for role in roles:
        members = [m for m in lock.models if not m.required_by and m.effective_role == role]
        if not members:
            known = sorted({m.effective_role for m in lock.models if not m.required_by})
            raise RoleError(f"No locked model has the role {role!r}. Roles in ptm.lock: "
                            f"{', '.join(known) or 'none'}.{_did_you_mean(role, known)} Check the spelling, or run "
                            "`ptmlock lock` after editing "
                            "ptm.toml.")
        chosen.update(m.id.casefold() for m in members)
    for model_id in model_ids:
        found = lock.get(model_id)
        if found is None:
            ids = ", ".join(m.id for m in lock.models) or "none"
            guess = closest(model_id, [m.id for m in lock.models], cutoff=0.8)
            if guess is not None:  # a typo: never advise declaring the misspelled id
                raise LockfileError(f"{model_id!r} is not in ptm.lock (locked: {ids}). Did you mean {guess!r}? "
                                    f"Run `ptmlock sync --model {guess}`.")
            raise LockfileError(f"{model_id!r} is not in ptm.lock (locked: {ids}). Declare it with "
                                f"`ptmlock add {model_id}`, or run `ptmlock lock` if it is already in ptm.toml.")
        chosen.add(found.id.casefold())
    grew = True
    while grew:  # the models a chosen model needs, transitively
        before = len(chosen)
        chosen.update(m.id.casefold() for m in lock.models if {r.casefold() for r in m.required_by} & chosen)
        grew = len(chosen) != before
    return [m for m in lock.models if m.id.casefold() in chosen]


def _did_you_mean(name: str, known: Sequence[str]) -> str:
    """` Did you mean 'x'?` for the closest of `known` (ids compare case-insensitively), or ''."""
    guess = closest(name, known, cutoff=0.8)
    return f" Did you mean {guess!r}?" if guess is not None else ""


def plan_files(models: Sequence[LockedModel], *, cache_dir: Path | None = None, target: Path | None = None) -> Plan:
    """Where each selected file of `models` goes: the hub cache layout under `cache_dir`
    (default: the Hugging Face cache), or one plain folder per model under `target`. Pure.

    Raises:
        LockfileError: a model or file path in ptm.lock that would escape its folder.
    """
    layout = "target" if target is not None else "cache"
    root = target if target is not None else (cache_dir if cache_dir is not None else hub_cache_dir())
    plans: list[ModelPlan] = []
    others: list[LockedModel] = []
    for model in models:
        if model.hub != HUB_HUGGINGFACE:
            others.append(model)
            continue
        _check_rel(model.id, model.id, "model id")
        _check_rel(model.id, model.canonical, "model id")
        # issue 16: a signed model's bundle is synced whatever `files` selects: sync and verify check it
        sig = model.signature.path if model.signature is not None else None
        files = [f for f in model.files if matches(f.path, model.include) or f.path == sig]
        if target is not None:
            base = target.joinpath(*model.id.split("/"))
            work = base / ".cache" / "ptmlock"  # like huggingface_hub's local_dir `.cache/huggingface/`
            tasks = tuple(_target_task(model, f, base, work, target) for f in files)
            plans.append(ModelPlan(model=model, root=base, files=tasks, ref=None))
        else:
            base = root / repo_folder(model)
            snap, blobs = base / "snapshots" / model.commit, base / "blobs"
            guards = root / ".locks" / repo_folder(model)
            tasks = tuple(_cache_task(model, f, snap, blobs, guards, root) for f in files)
            plans.append(ModelPlan(model=model, root=base, files=tasks, ref=ref_name(model)))
    return Plan(layout=layout, root=root, models=tuple(plans), others=tuple(others))


def _cache_task(model: LockedModel, file: LockedFile, snap: Path, blobs: Path, guards: Path, root: Path) -> FileTask:
    parts = _check_rel(model.id, file.path, "file path")
    name = _check_hash(model, file)
    return FileTask(model=model, file=file, dest=snap.joinpath(*parts), store=blobs / name, work=blobs, locks=guards,
                    root=root)


def _target_task(model: LockedModel, file: LockedFile, base: Path, work: Path, root: Path) -> FileTask:
    parts = _check_rel(model.id, file.path, "file path")
    _check_hash(model, file)
    dest = base.joinpath(*parts)
    return FileTask(model=model, file=file, dest=dest, store=dest, work=work, locks=work, root=root)


def _check_rel(model_id: str, path: str, what: str) -> list[str]:
    if safe_path_problem(path) is not None:  # the one path rule (issue 11: `.git/`, control chars)
        raise LockfileError(f"ptm.lock lists the {what} {path!r} for {model_id!r}, which would escape its folder "
                            "or is otherwise unsafe to write (a '.git' part, control characters). "
                            "ptm.lock is generated: restore it from git or run `ptmlock lock`.")
    return path.split("/")


def _check_hash(model: LockedModel, file: LockedFile) -> str:
    name = file.sha256 if file.sha256 is not None else file.blob_id
    want = 64 if file.sha256 is not None else 40
    if name is None or not _HEX.match(name) or len(name) != want:
        raise LockfileError(f"ptm.lock records no valid hash for {model.id}/{file.path}, so its bytes cannot be "
                            f"checked. Run `ptmlock lock --upgrade {model.id}` to re-pin it.")
    return name
