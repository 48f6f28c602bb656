"""The Hugging Face hub's JSON answers, validated into typed values (issue 11).

This is the one boundary for `GET /api/{models,datasets}/{id}[/revision/{rev}]` and for tree
listing pages: `parse_repo_info()` and `parse_tree_page()` take the decoded JSON and return
frozen dataclasses, or raise `UnsafeHubAnswerError` (exit 5) with one message naming the field
(`siblings[3].lfs.sha256`). Code past this module never sees raw JSON.

What is refused, and why (docs/hostile-inputs.md):
- a field of the wrong JSON type, or a missing `sha`;
- a commit, blob id or LFS sha256 that is not lowercase hex of the right length;
- a canonical id huggingface_hub would not accept as a repo id (`../../x`, NUL, non-ASCII);
- a file path that is not a clean relative POSIX path: absolute, `..`, `.`, empty parts,
  backslash, a drive letter, NUL or other control characters, a part longer than 255 bytes, a
  `.git` part anywhere (a `.git/config` written by `sync --target` runs its `core.fsmonitor`
  on the next `git status`), or `.cache/ptmlock/` (sync's own bookkeeping in `--target`);
- the same path twice; a size below 0 or above `MAX_FILE_SIZE`; more than `MAX_FILES` files.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ptmlock.errors import UnsafeHubAnswerError
from ptmlock.names import is_repo_id, safe_path_problem

MAX_FILE_SIZE = 2**42  # 4 TiB: far above any file a hub serves (the Hub's own limit is 50 GB), far below 10**20
MAX_FILES = 1_000_000  # files in one repo
MAX_TEXT = 4096  # characters in a free-text field (license, library, pipeline tag)
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# huggingface_hub's utils/_validators.py::REPO_ID_REGEX, with its re.ASCII flag and extra rules


@dataclass(frozen=True)
class FileAnswer:
    """One file of a repo as the hub listed it; `size`/`blob_id` are None when a mirror left them out."""

    path: str
    size: int | None
    blob_id: str | None
    sha256: str | None  # the LFS sha256 of the content, for LFS files
    lfs_size: int | None = None


@dataclass(frozen=True)
class RepoAnswer:
    """A repo info answer, every field checked."""

    sha: str
    id: str | None
    files: tuple[FileAnswer, ...] | None  # None: the answer had no `siblings`
    private: bool
    gated: bool | str
    library: str | None
    pipeline_tag: str | None
    license: str | None
    config: Mapping[str, Any] | None

    @property
    def complete(self) -> bool:
        """Every file has its size and blob id (else a tree listing must complete them)."""
        return self.files is not None and all(f.size is not None and f.blob_id is not None for f in self.files)


class _Field:
    """Where a value sits in the answer (`siblings[3].lfs`), for messages."""

    def __init__(self, model_id: str, source: str, what: str) -> None:
        self.model_id, self.source, self.what = model_id, source, what

    def refuse(self, where: str, value: object, why: str) -> UnsafeHubAnswerError:
        shown = repr(value)
        if len(shown) > 120:
            shown = shown[:117] + "..."
        return UnsafeHubAnswerError(
            f"The hub at {self.source} answered {self.what} of {self.model_id!r} with {where} = {shown}: {why}. "
            "ptmlock refuses the answer and wrote nothing. Check HF_ENDPOINT points at a Hugging Face "
            "compatible hub, or report the repository to its hub.")

    def get(self, data: Mapping[str, Any], key: str, where: str, types: tuple[type, ...], *,
            required: bool = False) -> Any:
        if key not in data or (data[key] is None and not required):
            if required:
                raise self.refuse(where + key, None, "the field is missing")
            return None
        value = data[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            names = " or ".join(_TYPE_NAMES[t] for t in types)
            raise self.refuse(where + key, value, f"expected {names}, got {_json_type(value)}")
        return value


_TYPE_NAMES: dict[type, str] = {str: "a string", int: "an integer", bool: "a boolean", list: "a list",
                                dict: "an object"}


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    for t in (bool, str, int, float, list, dict):
        if isinstance(value, t):
            return {float: "a number", **_TYPE_NAMES}[t]
    return type(value).__name__


def parse_repo_info(data: object, *, model_id: str, source: str) -> RepoAnswer:
    """Validate a repo info answer into a `RepoAnswer`.

    Raises:
        UnsafeHubAnswerError: any field of the wrong type or format, naming it.
    """
    f = _Field(model_id, source, "the repo info")
    if not isinstance(data, dict):
        raise f.refuse("the answer", data, f"expected a JSON object, got {_json_type(data)}")
    sha = f.get(data, "sha", "", (str,), required=True)
    if not _COMMIT.match(sha):
        raise f.refuse("sha", sha, "a commit must be 40 lowercase hex characters")
    canonical = f.get(data, "id", "", (str,))
    if canonical is not None and not is_repo_id(canonical):
        raise f.refuse("id", canonical, "not a repository id huggingface_hub accepts ('owner/name', ASCII letters, "
                                        "digits, '-', '_', '.')")
    siblings = f.get(data, "siblings", "", (list,))
    files = None
    if siblings is not None:
        files = _files(f, siblings, "siblings", _sibling)
    card = f.get(data, "cardData", "", (dict,)) or {}
    tags = f.get(data, "tags", "", (list,)) or []
    gated = f.get(data, "gated", "", (bool, str))
    return RepoAnswer(
        sha=sha,
        id=canonical,
        files=files,
        private=bool(f.get(data, "private", "", (bool,))),
        gated=_text(f, gated, "gated") or False if isinstance(gated, str) else bool(gated),
        library=_text(f, f.get(data, "library_name", "", (str,)), "library_name"),
        pipeline_tag=_text(f, f.get(data, "pipeline_tag", "", (str,)), "pipeline_tag"),
        license=_license(f, card, tags),
        config=f.get(data, "config", "", (dict,)),
    )


def parse_tree_page(data: object, *, model_id: str, source: str) -> tuple[FileAnswer, ...]:
    """Validate one page of a recursive tree listing into its files (directories are dropped).

    Raises:
        UnsafeHubAnswerError: as `parse_repo_info`.
    """
    f = _Field(model_id, source, "the file listing")
    if not isinstance(data, list):
        raise f.refuse("the answer", data, f"expected a JSON list, got {_json_type(data)}")
    entries = []
    for i, item in enumerate(data):
        where = f"[{i}]"
        if not isinstance(item, dict):
            raise f.refuse(where, item, f"expected an object, got {_json_type(item)}")
        kind = f.get(item, "type", where + ".", (str,), required=True)
        if kind == "file":
            entries.append(item)
        elif kind != "directory":
            raise f.refuse(where + ".type", kind, "expected 'file' or 'directory'")
    return _files(f, entries, "", _tree_file)


def check_unique(files: Sequence[FileAnswer], *, model_id: str, source: str, what: str) -> None:
    """Refuse a listing that names one path twice (across pages, too)."""
    seen: set[str] = set()
    for file in files:
        if file.path in seen:
            raise _Field(model_id, source, what).refuse("path", file.path, "the same path is listed twice")
        seen.add(file.path)


def _files(f: _Field, items: list[Any], name: str, one: Any) -> tuple[FileAnswer, ...]:
    if len(items) > MAX_FILES:
        raise f.refuse(name or "the answer", f"<{len(items)} entries>", f"more than {MAX_FILES} files")
    files = tuple(one(f, item, f"{name}[{i}]") for i, item in enumerate(items))
    check_unique(files, model_id=f.model_id, source=f.source, what=f.what)
    return files


def _sibling(f: _Field, item: object, where: str) -> FileAnswer:
    if not isinstance(item, dict):
        raise f.refuse(where, item, f"expected an object, got {_json_type(item)}")
    path = _check_path(f, f.get(item, "rfilename", where + ".", (str,), required=True), where + ".rfilename")
    size = _size(f, f.get(item, "size", where + ".", (int,)), where + ".size")
    blob = _hex(f, f.get(item, "blobId", where + ".", (str,)), where + ".blobId", _COMMIT, 40)
    lfs = f.get(item, "lfs", where + ".", (dict,))
    sha256 = lfs_size = None
    if lfs is not None:
        sha256 = _hex(f, f.get(lfs, "sha256", where + ".lfs.", (str,), required=True), where + ".lfs.sha256",
                      _SHA256, 64)
        lfs_size = _size(f, f.get(lfs, "size", where + ".lfs.", (int,)), where + ".lfs.size")
    return FileAnswer(path=path, size=size, blob_id=blob, sha256=sha256, lfs_size=lfs_size)


def _tree_file(f: _Field, item: dict[str, Any], where: str) -> FileAnswer:
    path = _check_path(f, f.get(item, "path", where + ".", (str,), required=True), where + ".path")
    size = _size(f, f.get(item, "size", where + ".", (int,), required=True), where + ".size")
    blob = _hex(f, f.get(item, "oid", where + ".", (str,), required=True), where + ".oid", _COMMIT, 40)
    lfs = f.get(item, "lfs", where + ".", (dict,))
    sha256 = lfs_size = None
    if lfs is not None:
        key = "oid" if "oid" in lfs else "sha256"
        sha256 = _hex(f, f.get(lfs, key, where + ".lfs.", (str,), required=True), f"{where}.lfs.{key}", _SHA256, 64)
        lfs_size = _size(f, f.get(lfs, "size", where + ".lfs.", (int,)), where + ".lfs.size")
    return FileAnswer(path=path, size=size, blob_id=blob, sha256=sha256, lfs_size=lfs_size)


def path_problem(path: str) -> str | None:
    """Why `path` is not a safe relative file path inside a repo, or None when it is
    (`lockfile.read.safe_path_problem`, the one path rule, worded for a hub answer)."""
    problem = safe_path_problem(path)
    return None if problem is None else f"the path {problem}"


def _check_path(f: _Field, path: str, where: str) -> str:
    why = path_problem(path)
    if why is not None:
        raise f.refuse(where, path, why)
    return path


def _size(f: _Field, size: int | None, where: str) -> int | None:
    if size is not None and not 0 <= size <= MAX_FILE_SIZE:
        raise f.refuse(where, size, f"a size must be between 0 and {MAX_FILE_SIZE} bytes")
    return size


def _hex(f: _Field, value: str | None, where: str, pattern: re.Pattern[str], length: int) -> str | None:
    if value is not None and not pattern.match(value):
        raise f.refuse(where, value, f"expected {length} lowercase hex characters")
    return value


def _text(f: _Field, value: str | None, where: str) -> str | None:
    if value is not None and (len(value) > MAX_TEXT or _CONTROL.search(value)):
        raise f.refuse(where, value, f"expected at most {MAX_TEXT} printable characters")
    return value


def _license(f: _Field, card: Mapping[str, Any], tags: list[Any]) -> str | None:
    value = card.get("license")
    if isinstance(value, list):
        value = ",".join(v for v in value if isinstance(v, str))
    if isinstance(value, str) and value:
        return _text(f, value, "cardData.license")
    for i, tag in enumerate(tags):
        if isinstance(tag, str) and tag.startswith("license:"):
            return _text(f, tag.split(":", 1)[1], f"tags[{i}]")
    return None
