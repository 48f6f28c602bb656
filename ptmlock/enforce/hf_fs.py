"""huggingface_hub's `HfFileSystem` and `hf://` paths (issue 13).

`HfFileSystem` (used by `datasets`, pandas' `read_*("hf://...")` and fsspec in general) does not
go through `hf_hub_download`: it fetches with `http_get` directly. Every operation first turns
its path into a repo, a revision and a path in the repo with `HfFileSystem.resolve_path`, which
is where the guard decides, before `resolve_path` asks the hub whether the repo exists: an
unlisted repo is warned about or refused, and a listed one asked for with no revision (or the
manifest's ref) reads the locked commit, as `hf://org/name@<sha>/file`. The public operations
(`open`, `ls`, `info`, `glob`, `find`, `exists`, `get_file`, ...) are scopes: one operation is one
report record per repo, and a refusal fsspec swallows (`exists` answers False on any error) is
raised again when the operation returns.
"""
from __future__ import annotations

from ptmlock.enforce._hooks import ArgSpec, wrap_function
from ptmlock.enforce._runtime import active, check, guard_failed, scoped

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

LIBRARY = "huggingface_hub"
# fsspec's own public operations (inherited) call several of HfFileSystem's: each is one load.
_SCOPES = ("open", "_open", "read_text", "read_bytes", "cat", "cat_file", "get", "get_file", "ls", "info", "glob",
           "find", "exists", "isdir", "isfile", "du", "size", "modified", "url", "head", "tail", "cp_file")


def _guard_resolve_path(original: Callable[..., Any]) -> Callable[..., Any]:
    spec = ArgSpec(original, needs=("path", "revision"))

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not active() or not args:
            return original(*args, **kwargs)
        path, revision = spec.get(args, kwargs, "path"), spec.get(args, kwargs, "revision")
        try:
            target = _parse(args[0], path)
        except Exception as e:  # noqa: BLE001  (issue 13: a guard that cannot read the path must not break the call)
            guard_failed(f"reading the path {path!r}", e)
            return original(*args, **kwargs)
        if target is None:  # a bucket, a listing of repos, a malformed path: the library answers
            return original(*args, **kwargs)
        repo_type, repo_id, in_path, rest = target
        verdict = check(repo_id, revision if revision is not None else in_path, library=LIBRARY, repo_type=repo_type)
        if verdict is not None and verdict.action == "rewrite" and verdict.revision is not None:
            if in_path is None:
                args, kwargs = spec.set(args, kwargs, "revision", verdict.revision)
            else:  # the ref is inside the path: put the commit there (and drop an agreeing `revision=`)
                args, kwargs = spec.set(args, kwargs, "path", _with_revision(repo_type, repo_id, verdict.revision, rest))
                if revision is not None:
                    args, kwargs = spec.set(args, kwargs, "revision", None)
        return original(*args, **kwargs)

    return wrapper


def _parse(fs: Any, path: object) -> tuple[str, str, str | None, str] | None:
    """(repo type, repo id, revision in the path or None, path in the repo), or None for paths
    that name no repo. Parsed the way `resolve_path` parses them, without its hub request."""
    if not isinstance(path, str):
        return None
    from ptmlock._hfcompat import parse_hf_path

    try:
        stripped = fs._strip_protocol(path)
        if not stripped or "/" not in stripped:
            return None
        return parse_hf_path(stripped)
    except (ValueError, TypeError):
        return None


def _with_revision(repo_type: str, repo_id: str, commit: str, rest: str) -> str:
    from huggingface_hub import constants

    prefix = constants.REPO_TYPES_URL_PREFIXES.get(repo_type, "")
    return f"{prefix}{repo_id}@{commit}" + (f"/{rest}" if rest else "")


def patch_hf_file_system(module: ModuleType) -> None:
    """Decide in `HfFileSystem.resolve_path`; make each public operation one load."""
    cls = module.HfFileSystem
    wrap_function(cls, "resolve_path", _guard_resolve_path)
    for name in _SCOPES:
        if callable(getattr(cls, name, None)):
            wrap_function(cls, name, scoped(LIBRARY))
