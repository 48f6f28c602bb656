"""The one reader of `ptm.lock`: TOML text -> a validated `Lock`, for every consumer.

A lock arrives in pull requests like any other file (docs/threat-model.md), so every read validates
it as strictly as `schema/ptm.lock.schema.json` describes it, and more: one entry per id
(case-insensitive), hub and repo-type enums, hex commits and hashes, safe relative file paths
(`safe_path_problem`), items of the right type, and every dependency entry reachable from a
top-level model through `required-by`. Anything else is a `LockfileError` (exit 3) naming the
field, never a crash.

The text is tokenised by `lockfile.canonical` when it is in the exact form `lockfile.write`
produces (5-10x faster than a TOML parser: the guard reads the lock on its first intercepted
load), and by `tomllib` otherwise; both give the same dict, which `lock_from_dict` validates.
"""
from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ptmlock.constants import HUBS, LOCK_VERSION, REPO_TYPES
from ptmlock.errors import LockfileError
from ptmlock.lockfile.canonical import scan_canonical
from ptmlock.lockfile.model import (
    COMMIT_RE,
    Lock,
    LockedFile,
    LockedModel,
    LockedSignature,
)
from ptmlock.names import _SUSPECT_PATH, model_id_problem, safe_path_problem

MAX_FILE_SIZE = 1 << 50  # 1 PiB: no model file is larger; a bigger size is a tampered or hostile value
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_HASH_RE = re.compile(r"sha256:[0-9a-f]{64}")
# A superset of every unsafe path (re.IGNORECASE also matches what casefolds to `.git`).
_FIX = "Restore it from git, or delete it and run `ptmlock lock`."
_LOCK_KEYS = frozenset({"manifest-hash", "model", "version"})
_MODEL_KEYS = frozenset({"signature", "canonical-id", "commit", "custom-code", "entries", "files", "gated", "hub", "id", "include", "library",
                         "license", "pickle-only", "pipeline-tag", "private", "reason", "repo-type", "requested",
                         "required-by", "role"})
_FILE_KEYS = frozenset({"blob", "path", "sha256", "size"})
_GATED = (False, True, "auto", "manual")


def load_lock(path: str | Path) -> Lock | None:
    """Read and validate `ptm.lock` at `path`; None when the file does not exist.

    Raises:
        LockfileError: the file is unreadable, not TOML, or not a valid lock (the message names
            the field and the fix).
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise LockfileError(f"{p}: cannot read the lock ({e.strerror or e}). {_FIX}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise LockfileError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start}). {_FIX}") from None
    return parse_lock(text, p)


def parse_lock(text: str, path: str | Path = "ptm.lock") -> Lock:
    """Parse and validate lock `text` (read from `path`, for messages).

    Raises:
        LockfileError: not TOML, or not a valid lock; the message names the field and the fix.
    """
    data = scan_canonical(text)
    if data is None:
        data = _toml(text, path)
    try:
        return lock_from_dict(data)
    except LockfileError as e:
        raise LockfileError(f"{path}: {e.message}. {_FIX}") from None


def _toml(text: str, path: str | Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise LockfileError(f"{path}: not valid TOML ({e}). ptm.lock is generated: {_FIX}") from None
        except RecursionError:  # tomllib recurses per nested array or table: `a = [[[[...`
            raise LockfileError(f"{path}: not valid ptm.lock TOML (values nested too deeply). {_FIX}") from None
    import tomlkit  # pragma: no cover - Python 3.10
    from tomlkit.exceptions import ParseError  # pragma: no cover

    try:  # pragma: no cover
        return dict(tomlkit.parse(text).unwrap())
    except ParseError as e:  # pragma: no cover
        raise LockfileError(f"{path}: not valid TOML ({e}). ptm.lock is generated: {_FIX}") from None


def lock_from_dict(data: Mapping[str, Any]) -> Lock:
    """Validate parsed lock data (TOML or `Lock.to_dict()`) into a `Lock`.

    Raises:
        LockfileError: the first problem, with its key path (`model[2].files[0].path`).
    """
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise LockfileError("Missing required value in 'version'" if version is None
                            else f"Unexpected type {_type(version)} (expected int) in 'version'")
    if version != LOCK_VERSION:
        raise LockfileError(
            f"ptm.lock has format version {version}, but this ptmlock reads version {LOCK_VERSION}. "
            "Upgrade ptmlock, or delete ptm.lock and run `ptmlock lock`")
    _known(data, _LOCK_KEYS, "")
    digest = _req(data, "manifest-hash", str, "")
    if not _HASH_RE.fullmatch(digest):
        raise LockfileError(f"Invalid value in 'manifest-hash': {digest!r} is not 'sha256:' and 64 hex digits")
    raw = data.get("model", [])
    if not isinstance(raw, list):
        raise LockfileError(f"Unexpected type {_type(raw)} (expected array of tables) in 'model'")
    models = tuple(_model(m, f"model[{i}]") for i, m in enumerate(raw))
    _check_graph(models)
    return Lock(manifest_hash=digest, models=models, version=version)


def _model(data: object, where: str) -> LockedModel:
    if not isinstance(data, Mapping):
        raise LockfileError(f"Unexpected type {_type(data)} (expected table) in '{where}'")
    _known(data, _MODEL_KEYS, where)
    hub = _enum(data, "hub", HUBS, where)
    repo_type = _enum(data, "repo-type", REPO_TYPES, where)
    model_id = _id(data, "id", hub, where)
    canonical = _id(data, "canonical-id", hub, where) if "canonical-id" in data else None
    commit = _req(data, "commit", str, where)
    if not (_SHA256_RE.fullmatch(commit) if hub == "url" else COMMIT_RE.fullmatch(commit)):
        raise LockfileError(f"Invalid value in '{where}.commit': {commit!r} is not "
                            + ("the 64-hex sha256 of the file" if hub == "url" else "a 40-hex commit"))
    gated = data.get("gated")
    if gated is None:
        raise LockfileError(f"Missing required value in '{where}.gated'")
    if not any(gated is g if isinstance(g, bool) else gated == g for g in _GATED):
        raise LockfileError(f"Invalid value in '{where}.gated': {gated!r} is not true, false, 'auto' or 'manual'")
    files_raw = _req(data, "files", list, where)
    files = tuple(_clean_file(f) or _file(f, f"{where}.files[{i}]") for i, f in enumerate(files_raw))
    seen: set[str] = set()
    for i, f in enumerate(files):
        if f.path in seen:
            raise LockfileError(f"Invalid value in '{where}.files[{i}].path': {f.path!r} is listed twice")
        seen.add(f.path)
    if hub == "url" and (len(files) != 1 or files[0].sha256 is None or "/" in files[0].path):
        raise LockfileError(f"Invalid value in '{where}.files': a url model pins exactly one file, with its sha256 "
                            "and no folder")
    model = LockedModel(
        id=model_id, commit=commit, canonical_id=canonical, hub=hub, repo_type=repo_type,
        requested=_text(data, "requested", where), role=_text(data, "role", where),
        include=_strings(data, "include", where), files=files, license=_opt(data, "license", str, where),
        gated=gated, private=_req(data, "private", bool, where), library=_opt(data, "library", str, where),
        pipeline_tag=_opt(data, "pipeline-tag", str, where), required_by=_strings(data, "required-by", where),
        reason=_opt(data, "reason", str, where), signature=_signature(data, where), entries=_entries(data, hub, where),
    )
    # Derived facts are written for readers of the file; ptmlock recomputes them, and a value
    # that disagrees with the files is an edit meant to hide code or pickles from review.
    for key, actual in (("pickle-only", model.pickle_only), ("custom-code", model.custom_code)):
        if _req(data, key, bool, where) != actual:
            raise LockfileError(f"Invalid value in '{where}.{key}': {str(not actual).lower()} contradicts the "
                                f"files listed (ptmlock computes {str(actual).lower()})")
    return model


def _entries(data: Mapping[str, Any], hub: str, where: str) -> tuple[str, ...] | None:
    """issue 26: a torchhub model's `entries` (hubconf.py entry point names, sorted, unique)."""
    if "entries" not in data:
        return None
    names = _strings(data, "entries", where)
    if hub != "torchhub" or list(names) != sorted(set(names)) or not all(n.isidentifier() for n in names):
        raise LockfileError(f"Invalid value in '{where}.entries': {list(names)!r} must be sorted, unique entry point "
                            "names of a torchhub model")
    return names


_SIGNATURE_KEYS = frozenset({"path", "policy", "sha256", "signer"})


def _signature(data: Mapping[str, Any], where: str) -> LockedSignature | None:
    """issue 16: the inline `signature = { path, policy, sha256, signer }` table, when present."""
    if "signature" not in data:
        return None
    raw = _req(data, "signature", dict, where)
    where = _join(where, "signature")
    _known(raw, _SIGNATURE_KEYS, where)
    path, sha = _path(raw, where), _hex(raw, "sha256", _SHA256_RE, "a 64-hex sha256", where)
    if sha is None:
        raise LockfileError(f"Missing required value in '{where}.sha256'")
    signer, policy = _text(raw, "signer", where), _text(raw, "policy", where)
    if signer is None or policy is None:
        raise LockfileError(f"Missing required value in '{where}.{'signer' if signer is None else 'policy'}'")
    return LockedSignature(path=path, sha256=sha, signer=signer, policy=policy)


def _clean_file(data: object) -> LockedFile | None:
    """The file entry when every check of `_file` passes at a glance, else None (then `_file`
    finds and names the problem). Files are most of a lock: this keeps the guard's first read fast."""
    if type(data) is not dict or not _FILE_KEYS.issuperset(data):
        return None
    path, size, blob, sha256 = data.get("path"), data.get("size"), data.get("blob"), data.get("sha256")
    if (type(path) is str and path and len(path) <= 4096 and _SUSPECT_PATH.search(path) is None and type(size) is int
            and 0 <= size <= MAX_FILE_SIZE and (blob is None or (type(blob) is str and COMMIT_RE.fullmatch(blob)))
            and (sha256 is None or (type(sha256) is str and _SHA256_RE.fullmatch(sha256)))):
        return LockedFile(path=path, size=size, blob_id=blob, sha256=sha256)
    return None


def _file(data: object, where: str) -> LockedFile:
    if not isinstance(data, Mapping):
        raise LockfileError(f"Unexpected type {_type(data)} (expected table) in '{where}'")
    _known(data, _FILE_KEYS, where)
    path = _path(data, where)
    size = _req(data, "size", int, where)
    if not 0 <= size <= MAX_FILE_SIZE:
        raise LockfileError(f"Invalid value in '{where}.size': {size} is not between 0 and {MAX_FILE_SIZE}")
    blob = _hex(data, "blob", COMMIT_RE, "a 40-hex git blob id", where)
    sha256 = _hex(data, "sha256", _SHA256_RE, "64 hex digits", where)
    return LockedFile(path=path, size=size, blob_id=blob, sha256=sha256)


def _path(data: Mapping[str, Any], where: str) -> str:
    path: str = _req(data, "path", str, where)
    problem = safe_path_problem(path)
    if problem is not None:
        raise LockfileError(f"Invalid value in '{where}.path': {path!r} {problem}")
    return path


def _hex(data: Mapping[str, Any], key: str, pattern: re.Pattern[str], what: str, where: str) -> str | None:
    value: str | None = _opt(data, key, str, where)
    if value is not None and not pattern.fullmatch(value):
        raise LockfileError(f"Invalid value in '{where}.{key}': {value!r} is not {what}")
    return value


def _check_graph(models: tuple[LockedModel, ...]) -> None:
    """One entry per id (case-insensitive); every dependency reachable from a top-level model."""
    index: dict[str, int] = {}
    for i, m in enumerate(models):
        key = m.id.casefold()
        if key in index:
            raise LockfileError(f"Invalid value in 'model[{i}].id': {m.id!r} is already locked by "
                                f"'model[{index[key]}]' (one entry per id, case-insensitive)")
        index[key] = i
    for i, m in enumerate(models):
        for parent in m.required_by:
            if parent.casefold() not in index:
                raise LockfileError(f"Invalid value in 'model[{i}].required-by': {parent!r} is not a locked model")
    reached = {m.id.casefold() for m in models if not m.required_by}
    left = [m for m in models if m.required_by]
    while left:
        now = [m for m in left if any(p.casefold() in reached for p in m.required_by)]
        if not now:
            break
        reached.update(m.id.casefold() for m in now)
        left = [m for m in left if m.id.casefold() not in reached]
    if left:
        m = left[0]
        raise LockfileError(f"Invalid value in 'model[{index[m.id.casefold()]}].required-by': dependency {m.id!r} "
                            "is not needed by any top-level model (its required-by chain never reaches one)")


# ---------------------------------------------------------------------------
# typed access, with packaging.pylock-style messages naming the key path


def _req(data: Mapping[str, Any], key: str, typ: type[Any], where: str) -> Any:
    if key not in data:
        raise LockfileError(f"Missing required value in '{_join(where, key)}'")
    return _check_type(data[key], typ, _join(where, key))


def _opt(data: Mapping[str, Any], key: str, typ: type[Any], where: str) -> Any:
    return _check_type(data[key], typ, _join(where, key)) if key in data else None


def _check_type(value: Any, typ: type[Any], where: str) -> Any:
    if (typ is int and isinstance(value, bool)) or not isinstance(value, typ):
        raise LockfileError(f"Unexpected type {_type(value)} (expected {typ.__name__}) in '{where}'")
    return value


def _text(data: Mapping[str, Any], key: str, where: str) -> str | None:
    """An optional non-empty string without control characters (a name, ref or role)."""
    value = _opt(data, key, str, where)
    if value is not None and (not value or not value.isprintable()):
        raise LockfileError(f"Invalid value in '{_join(where, key)}': {value!r} must be non-empty printable text")
    return value


def _strings(data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    items = _opt(data, key, list, where) or []
    for i, item in enumerate(items):
        _check_type(item, str, f"{_join(where, key)}[{i}]")
        if not item or not item.isprintable():
            raise LockfileError(f"Invalid value in '{_join(where, key)}[{i}]': {item!r} must be non-empty "
                                "printable text")
    return tuple(items)


def _enum(data: Mapping[str, Any], key: str, choices: tuple[str, ...], where: str) -> str:
    value = _req(data, key, str, where)
    if value not in choices:
        raise LockfileError(f"Invalid value in '{_join(where, key)}': {value!r} is not one of {', '.join(choices)}")
    return value


def _id(data: Mapping[str, Any], key: str, hub: str, where: str) -> str:
    value = _req(data, key, str, where)
    problem = model_id_problem(value, hub)
    if problem is not None:
        raise LockfileError(f"Invalid value in '{_join(where, key)}': {value!r} is not a valid id ({problem})")
    return value


def _known(data: Mapping[str, Any], keys: frozenset[str], where: str) -> None:
    for key in data:
        if key not in keys:
            raise LockfileError(f"Unknown key in '{_join(where, str(key))}'")


def _type(value: object) -> str:
    return {bool: "boolean", int: "integer", str: "string", list: "array", dict: "table", float: "float"}.get(
        type(value), type(value).__name__)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
