"""What `sync --target` wrote, so that it never overwrites a file it did not write (issue 11).

Each model folder `DIR/<id>/` keeps `.cache/ptmlock/written.json`: for every file sync put
there, its size and digest (the lock's algorithm: sha256 or git blob id). Before a sync into
`DIR`, `find_conflicts()` lists the files that sync would replace although they are not
ptmlock's: absent from the record (the user's own `config.json`), or changed since ptmlock wrote
them (an edit). `sync` then refuses with exit 1 unless `--force`. A file that already holds
exactly the locked bytes is no conflict: nothing would change. `record_written()` updates the
record after a sync.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptmlock._fs import atomic_write, contained_dir, contained_file
from ptmlock.errors import CacheWriteError, CheckFailedError
from ptmlock.install.hashing import (
    VerifiedCache,
    algorithm,
    digest_of,
    expected_digest,
    hash_file,
)
from ptmlock.install.hf_cache import FileTask, ModelPlan
from ptmlock.lockfile.model import LockedFile

RECORD = "written.json"  # under DIR/<id>/.cache/ptmlock/
_VERSION = 1


@dataclass(frozen=True)
class Written:
    """One file sync wrote: its size and digest with `algorithm` (`sha256` or `git-blob`)."""

    size: int
    algorithm: str
    digest: str


@dataclass(frozen=True)
class Conflict:
    """A file in `--target` that sync would overwrite although ptmlock did not write it as it is."""

    task: FileTask
    why: str  # "not written by ptmlock" or "changed since ptmlock wrote it"

    @property
    def message(self) -> str:
        """One line: model, path on disk, why."""
        return f"{self.task.model.id}: {self.task.dest}: {self.why}"


def record_path(model_folder: Path) -> Path:
    """`DIR/<id>/.cache/ptmlock/written.json`."""
    return model_folder / ".cache" / "ptmlock" / RECORD


def load_record(root: Path, model_folder: Path, model_id: str) -> dict[str, Written]:
    """The record of `model_folder` (empty when there is none or it cannot be read: then every
    existing file counts as not written by ptmlock, the safe side). issue 22: only the record at
    the folder's own root counts, and only when it names `model_id` (or, written by an older
    ptmlock, names no model); no repo file can land in a `.cache/ptmlock/` folder (`names.py`).

    Raises:
        UnsafePathError: the record or a folder above it is a planted link.
    """
    path = record_path(model_folder)
    try:
        if contained_file(root, path, create_parent=False) is None:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return {}
    if not isinstance(data, dict) or data.get("model", model_id) != model_id:
        return {}
    files = data.get("files") if data.get("version") == _VERSION else None
    out: dict[str, Written] = {}
    for name, entry in (files or {}).items():
        if isinstance(entry, dict) and isinstance(entry.get("size"), int) and \
                isinstance(entry.get("algorithm"), str) and isinstance(entry.get("digest"), str):
            out[name] = Written(size=entry["size"], algorithm=entry["algorithm"], digest=entry["digest"])
    return out


def find_conflicts(models: Sequence[ModelPlan], *, cache: VerifiedCache | None = None) -> list[Conflict]:
    """Files under `--target` that sync would overwrite but did not write (or that changed since).

    Raises:
        UnsafePathError: a planted link on the way to a file.
        OSError: a file cannot be read.
    """
    conflicts: list[Conflict] = []
    for mp in models:
        if not mp.files:
            continue
        root = mp.files[0].root
        record = load_record(root, mp.root, mp.model.id)
        for task in mp.files:
            st = contained_file(root, task.dest, create_parent=False)
            if st is None:
                continue
            if st.st_size == task.file.size and \
                    digest_of(os.fspath(task.dest), task.file, cache=cache, st=st)[0] == expected_digest(task.file):
                continue  # already the locked bytes: nothing would change
            mine = record.get(task.file.path)
            if mine is None:
                conflicts.append(Conflict(task, "not written by ptmlock"))
            elif st.st_size != mine.size or _digest(task.dest, task.file.path, mine) != mine.digest:
                conflicts.append(Conflict(task, "changed since ptmlock wrote it"))
    return conflicts


def _digest(path: Path, name: str, mine: Written) -> str:
    as_locked = LockedFile(path=name, size=mine.size, blob_id=mine.digest if mine.algorithm == "git-blob" else None,
                           sha256=mine.digest if mine.algorithm == "sha256" else None)
    return hash_file(path, as_locked)[0]


def check_target(models: Sequence[ModelPlan], root: Path, *, cache: VerifiedCache | None,
                 force: bool) -> list[Conflict]:
    """`find_conflicts`, refusing them unless `force`; returns the conflicts `force` lets sync replace.

    Raises:
        CheckFailedError: conflicts and no `force` (exit 1, each file listed; nothing written).
        UnsafePathError: a planted link on the way to a file.
        CacheWriteError: a file cannot be read.
    """
    try:
        conflicts = find_conflicts(models, cache=cache)
    except OSError as e:
        raise CacheWriteError(f"cannot read {e.filename or root} ({e.strerror or e}) to check what sync would "
                              "overwrite. Fix the permissions, then run `ptmlock sync` again.") from None
    if conflicts and not force:
        raise CheckFailedError(
            f"sync --target would overwrite {len(conflicts)} file(s) that ptmlock did not write, or that changed "
            "since it wrote them:\n" + "\n".join(f"  {c.message}" for c in conflicts) + "\nNothing was written. "
            "Move them away, or run `ptmlock sync --target ... --force` to replace them with the locked bytes.")
    return conflicts


def record_written(models: Sequence[ModelPlan], root: Path, intact: set[Path]) -> None:
    """Add every file of `models` whose destination is in `intact` (holds the locked bytes now)
    to its model's record under `root`, atomically.

    Raises:
        UnsafePathError: a planted link where the record goes.
        CacheWriteError: the record cannot be written.
    """
    try:
        _record(models, intact)
    except OSError as e:
        raise CacheWriteError(f"cannot record what sync wrote under {root} ({e.strerror or e}). Fix the "
                              "permissions or free some space, then run `ptmlock sync` again.") from None


def _record(models: Sequence[ModelPlan], intact: set[Path]) -> None:
    for mp in models:
        done = [t for t in mp.files if t.dest in intact]
        if not done:
            continue
        root = done[0].root
        record = load_record(root, mp.root, mp.model.id)
        for task in done:
            digest = expected_digest(task.file)
            if digest is not None:
                record[task.file.path] = Written(size=task.file.size, algorithm=algorithm(task.file), digest=digest)
        path = record_path(mp.root)
        contained_dir(root, path.parent)
        contained_file(root, path)
        data: dict[str, Any] = {"version": _VERSION, "model": mp.model.id, "files": {
            name: {"size": w.size, "algorithm": w.algorithm, "digest": w.digest} for name, w in sorted(record.items())}}
        atomic_write(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
