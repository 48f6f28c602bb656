"""huggingface_hub's metadata calls, answered at the locked commit (issue 13).

Libraries ask the hub about a repo before and around a load: `model_info` / `repo_info`,
`list_repo_files`, `list_repo_tree`, `file_exists`, `get_paths_info`, `revision_exists`
(transformers has shipped calls of these that dropped the revision). For a model the project
locks, asked about with no revision, the manifest's ref or the locked commit, the guard
substitutes the locked commit, so the answer describes the bytes that load. With
`HF_HUB_OFFLINE=1` such a call is answered from ptm.lock (its file list, sizes and hashes) instead
of failing (huggingface_hub #2990).

These calls load nothing, so they are not decisions: an unlisted repo or another revision passes
as asked, with no warning and no report record.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from ptmlock.lockfile.model import LockedFile, LockedModel

# The HfApi methods answered at the locked commit (module-level aliases are their bound methods).
METHODS = ("model_info", "dataset_info", "repo_info", "list_repo_files", "list_repo_tree", "file_exists",
           "get_paths_info", "revision_exists")


def guard_metadata(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrapper factory for the `HfApi` method `name`: the locked commit as the revision, and
    offline, the answer from ptm.lock."""

    def factory(original: Callable[..., Any]) -> Callable[..., Any]:
        from ptmlock.enforce._hooks import ArgSpec

        spec = ArgSpec(original, needs=("repo_id",))

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            from ptmlock.enforce._runtime import (
                active,
                guard_failed,
                locked_entry,
                pinned,
            )

            repo = spec.get(args, kwargs, "repo_id")
            if not active() or not isinstance(repo, str):
                return original(*args, **kwargs)
            repo_type = spec.get(args, kwargs, "repo_type") or _TYPE_OF.get(name, "model")
            try:
                pin = pinned(repo, spec.get(args, kwargs, "revision"), repo_type)
                entry = locked_entry(pin) if pin is not None and _offline() else None
            except Exception as e:  # issue 13: never break the program over bookkeeping
                guard_failed(f"looking up {repo!r} in ptm.lock", e)
                pin = entry = None
            if entry is not None:
                return _answer(name, entry, spec, args, kwargs)
            if pin is not None and pin.commit is not None and name != "revision_exists":
                args, kwargs = spec.set(args, kwargs, "revision", pin.commit)
            return original(*args, **kwargs)

        return wrapper

    return factory


_TYPE_OF = {"model_info": "model", "dataset_info": "dataset"}


def _offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _answer(name: str, entry: LockedModel, spec: Any, args: tuple[Any, ...],
            kwargs: dict[str, Any]) -> Any:
    paths = sorted(f.path for f in entry.files)
    if name in ("model_info", "dataset_info", "repo_info"):
        return _info(entry)
    if name == "list_repo_files":
        return paths
    if name == "file_exists":
        return spec.get(args, kwargs, "filename") in paths
    if name == "revision_exists":
        return True
    if name == "list_repo_tree":
        return list(_tree(entry, spec.get(args, kwargs, "path_in_repo") or "",
                          bool(spec.get(args, kwargs, "recursive"))))
    wanted = spec.get(args, kwargs, "paths")
    wanted = [wanted] if isinstance(wanted, str) else list(wanted or ())
    return [item for p in wanted for item in _path_info(entry, p.strip("/"))]


def _info(entry: LockedModel) -> Any:
    from huggingface_hub.hf_api import DatasetInfo, ModelInfo

    data: dict[str, Any] = {
        "id": entry.canonical_id or entry.id, "sha": entry.commit, "private": entry.private, "gated": entry.gated,
        "siblings": [_sibling(f) for f in sorted(entry.files, key=lambda f: f.path)],
    }
    if entry.repo_type == "dataset":
        return DatasetInfo(**data)
    data.update({"library_name": entry.library, "pipeline_tag": entry.pipeline_tag})
    return ModelInfo(**data)


def _sibling(f: LockedFile) -> dict[str, Any]:
    out: dict[str, Any] = {"rfilename": f.path, "size": f.size, "blobId": f.blob_id}
    if f.sha256 is not None:  # the pointer's size is not in the lock
        out["lfs"] = {"size": f.size, "sha256": f.sha256, "pointerSize": 0}
    return out


def _file(f: LockedFile) -> Any:
    from huggingface_hub.hf_api import RepoFile

    lfs = {"size": f.size, "oid": f.sha256, "pointerSize": 0} if f.sha256 is not None else None
    return RepoFile(path=f.path, size=f.size, oid=f.blob_id, lfs=lfs)


def _folder(path: str) -> Any:
    from huggingface_hub.hf_api import RepoFolder

    return RepoFolder(path=path, oid=None)  # the tree id is not in the lock


def _tree(entry: LockedModel, under: str, recursive: bool) -> Iterator[Any]:
    prefix = under.strip("/") + "/" if under.strip("/") else ""
    folders: set[str] = set()
    for f in sorted(entry.files, key=lambda f: f.path):
        if not f.path.startswith(prefix):
            continue
        parts = f.path[len(prefix):].split("/")
        for depth in range(1, len(parts) if recursive else min(2, len(parts))):
            folder = prefix + "/".join(parts[:depth])
            if folder not in folders:
                folders.add(folder)
                yield _folder(folder)
        if recursive or len(parts) == 1:
            yield _file(f)


def _path_info(entry: LockedModel, path: str) -> list[Any]:
    for f in entry.files:
        if f.path == path:
            return [_file(f)]
    if any(f.path.startswith(path + "/") for f in entry.files):
        return [_folder(path)]
    return []
