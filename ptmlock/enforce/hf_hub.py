"""huggingface_hub: the file layer every Hugging Face load ends in.

Patched when the module is imported:
- `file_download.hf_hub_download` and `file_download.try_to_load_from_cache` (transformers'
  pinned-cache path, and its stale-cache fallback, go through the latter);
- `_snapshot_download.snapshot_download`, whose own per-file `hf_hub_download` calls keep the
  original function (the snapshot was decided once, as a whole);
- `hf_api.HfApi.resolve_revision`, plus the module-level bound method `hf_api.resolve_revision`
  (`huggingface_hub.resolve_revision` is `api.resolve_revision`, bound at import).
- `HfApi`'s metadata calls (`model_info`, `list_repo_files`, ...: see `hf_metadata`);
- `hf_file_system.HfFileSystem`, the `hf://` paths (see `hf_fs`).
`HfApi.hf_hub_download` and `HfApi.snapshot_download` import the module functions at call time,
so they go through the wrappers above without wrappers of their own.

A listed load asking for the manifest's ref gets the locked commit as its revision; a resolver
returns a `ResolvedRevision` for that commit without any request. Decisions are made here, at
the file layer, so a refusal swallowed by a library's `except Exception` around
`resolve_revision` is raised again at the first file it tries to fetch.
"""
from __future__ import annotations

import os

from ptmlock.enforce._hooks import ArgSpec, wrap_function
from ptmlock.enforce._runtime import active, check, scoped
from ptmlock.enforce.hf_fs import patch_hf_file_system
from ptmlock.enforce.hf_metadata import METHODS, guard_metadata

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

LIBRARY = "huggingface_hub"
# The distribution and the X.Y release lines CI runs these hooks with (.ci/run; see _versions).
TESTED = ("huggingface_hub", ("0.36", "2.4"))


def guard_download(library: str, repo_arg: str = "repo_id") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrapper factory for a function taking a repo and `revision=`: decide, then call it with the
    locked commit as `revision` when the verdict says so."""

    def factory(original: Callable[..., Any]) -> Callable[..., Any]:
        spec = ArgSpec(original, needs=(repo_arg, "revision"))

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not active():
                return original(*args, **kwargs)
            verdict = check(spec.get(args, kwargs, repo_arg), spec.get(args, kwargs, "revision"), library=library,
                            repo_type=spec.get(args, kwargs, "repo_type"))
            if verdict is not None and verdict.action == "rewrite":
                args, kwargs = spec.set(args, kwargs, "revision", verdict.revision)
            return original(*args, **kwargs)

        wrapper.__wrapped__ = original  # type: ignore[attr-defined]  # the scope reads the call by its signature
        return scoped(library, "revision")(wrapper)  # nested hub calls of this one call are the same load

    return factory


def guard_resolver(library: str, repo_arg: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrapper factory for a "resolve this revision once per load" function: for a listed model it
    returns a `ResolvedRevision` of the locked commit without calling the hub; local paths pass."""

    def factory(original: Callable[..., Any]) -> Callable[..., Any]:
        spec = ArgSpec(original, needs=(repo_arg, "revision"))

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            repo = spec.get(args, kwargs, repo_arg)
            if not active() or not isinstance(repo, (str, os.PathLike)) or os.path.exists(repo):
                return original(*args, **kwargs)
            repo_type = spec.get(args, kwargs, "repo_type")
            verdict = check(repo, spec.get(args, kwargs, "revision"), library=library, repo_type=repo_type)
            if verdict is not None and verdict.action == "rewrite" and verdict.revision is not None:
                return resolved_revision(verdict.revision, os.fspath(repo), repo_type)
            return original(*args, **kwargs)

        wrapper.__wrapped__ = original  # type: ignore[attr-defined]
        return scoped(library, "revision")(wrapper)

    return factory


def resolved_revision(commit: str, repo_id: str, repo_type: str | None) -> Any:
    """huggingface_hub's `ResolvedRevision` for `commit`. Its string value is the commit too, so
    libraries that put `str(revision)` in a URL (repo info, file listings) also ask for the pin."""
    from ptmlock._hfcompat import resolved_revision as make

    return make(commit, repo_id, repo_type)


def _patch_file_download(module: ModuleType) -> None:
    wrap_function(module, "hf_hub_download", guard_download(LIBRARY))
    wrap_function(module, "try_to_load_from_cache", guard_download(LIBRARY))
    from ptmlock.enforce._bytes import patch_file_download  # issue 22: the bytes of each download

    patch_file_download(module)


def _patch_snapshot_download(module: ModuleType) -> None:
    wrap_function(module, "snapshot_download", guard_download(LIBRARY))
    # One decision per snapshot: its per-file downloads (on worker threads) use the original.
    inner = getattr(module, "hf_hub_download", None)
    original = getattr(inner, "__ptmlock_original__", None)
    if original is not None:
        module.hf_hub_download = original  # type: ignore[attr-defined]


def _patch_hf_api(module: ModuleType) -> None:
    if hasattr(module.HfApi, "resolve_revision"):  # 1.x+; 0.x resolves inside each download call
        wrap_function(module.HfApi, "resolve_revision", guard_resolver(LIBRARY, "repo_id"))
    for name in METHODS:  # issue 13: metadata at the locked commit, and from ptm.lock offline
        wrap_function(module.HfApi, name, guard_metadata(name))
    api = getattr(module, "api", None)
    if api is not None:  # `huggingface_hub.resolve_revision`, `model_info`, ... are bound methods of it
        for name in ("resolve_revision", *METHODS):
            if getattr(getattr(module, name, None), "__self__", None) is api:
                setattr(module, name, getattr(api, name))


PATCHES = {
    "huggingface_hub.file_download": _patch_file_download,
    "huggingface_hub._snapshot_download": _patch_snapshot_download,
    "huggingface_hub.hf_api": _patch_hf_api,
    "huggingface_hub.hf_file_system": patch_hf_file_system,
}

