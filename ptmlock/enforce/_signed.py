"""The strict guard re-verifies a signed model's signature before its first load (issue 22, item 2).

ptm.lock records, for a model ptm.toml requires to be signed, the bundle `lock` verified. A lock
edited by hand can point the entry at another commit and keep that record; so before the first
load of such a model in a process, strict mode verifies the bundle again against the declared
signer and compares every signed digest with the lock's entry (`signing.recheck.redo`, the check
`lock --check --signatures` runs). The bytes come from the Hugging Face cache, named by the
lock's hashes; a file missing there is downloaded at the locked commit through huggingface_hub
(so its bytes are checked against ptm.lock before they are cached, `_bytes`), or, offline, left
out: this process cannot load it either. The bundle itself is always needed.

One verification per model, commit and bundle blob per process; model-signing is imported only
then. Warn mode does not verify (it loads what the lock names, and `verify --signatures`,
`lock --check --signatures` and `sync` report signature problems).
"""
from __future__ import annotations

import os
import threading
from contextvars import ContextVar
from typing import Protocol

from ptmlock.errors import GuardError, PtmlockError


class _HasRefusal(Protocol):
    """The load's scope (`_runtime._Scope`), as far as this module uses it."""

    refusal: GuardError | None


TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ptmlock.decide import Pin
    from ptmlock.lockfile.model import LockedModel
    from ptmlock.manifest.model import Manifest
    from ptmlock.signing.policy import SigningPolicy

_results: dict[tuple[object, ...], str | None] = {}
_lock = threading.Lock()
_busy: ContextVar[bool] = ContextVar("ptmlock_verifying_signature", default=False)


def require_signed(pin: Pin, manifest: Manifest | None, locked_entry: Callable[[Pin], LockedModel | None],
                   scope: _HasRefusal | None) -> None:
    """Verify `pin`'s recorded signature again (once per process) when `manifest` requires one;
    `locked_entry` gives the pin's entry of ptm.lock, `scope` is the load's (see `_runtime`).

    Raises:
        GuardError: the signature does not hold for the locked entry, or cannot be checked.
    """
    if _busy.get():
        return  # the downloads this check makes itself
    spec = manifest.get(pin.declared_id) if manifest is not None else None
    if manifest is None or spec is None or spec.signing is None:
        return
    entry = locked_entry(pin)
    if entry is None or entry.signature is None:
        return  # a required signature the lock does not record: decide() already calls it stale
    from pathlib import Path

    from huggingface_hub import constants

    root = Path(os.path.realpath(constants.HF_HUB_CACHE))
    key = (entry.id, entry.commit, entry.signature.sha256, _blob_identity(root, entry))
    with _lock:
        known = key in _results
        problem = _results.get(key)
    if not known:
        token = _busy.set(True)
        try:
            problem = _verify(entry, spec.signing, manifest.project_dir, root, offline=bool(constants.HF_HUB_OFFLINE))
        finally:
            _busy.reset(token)
        with _lock:
            _results[key] = problem
    if problem is not None:
        _refuse(scope, f"ptmlock refused to load {pin.declared_id!r} (strict mode): its signature does not hold "
                f"for the entry in ptm.lock: {problem}. Run `ptmlock lock --check --online`; restore ptm.lock from git, or "
                "run `ptmlock lock`.")


def _verify(entry: LockedModel, policy: SigningPolicy, project_dir: Path, root: Path, *, offline: bool) -> str | None:
    from ptmlock.signing.recheck import redo

    try:
        return redo(entry, policy, project_dir, _fetch(entry, root, offline=offline), absent_ok=offline)
    except GuardError:
        raise
    except PtmlockError as e:  # the signing extra or a key file is missing; the hub is unreachable
        return e.message


def _fetch(entry: LockedModel, root: Path, *, offline: bool) -> Callable[[str], str]:
    """Cached blobs first; else a download at the locked commit (checked by `_bytes` as it lands)."""
    from ptmlock.signing.check import NotCached
    from ptmlock.signing.recheck import from_cache

    cached = from_cache(root, entry)

    def fetch(path: str) -> str:
        try:
            return cached(path)
        except NotCached:
            if offline:
                raise
        from huggingface_hub import hf_hub_download

        return str(hf_hub_download(entry.canonical, path, revision=entry.commit, repo_type=entry.repo_type))

    return fetch


def _blob_identity(root: Path, entry: LockedModel) -> tuple[int, int, int] | None:
    from ptmlock.signing.recheck import cache_blob

    assert entry.signature is not None
    sig = next((f for f in entry.files if f.path == entry.signature.path), None)
    blob = cache_blob(root, entry, sig) if sig is not None else None
    if blob is None:
        return None
    st = os.stat(blob)
    return st.st_ino, st.st_size, st.st_mtime_ns


def _refuse(scope: _HasRefusal | None, message: str) -> None:
    error = GuardError(message)
    if scope is not None and scope.refusal is None:
        scope.refusal = error  # raised again if the library swallows it
    raise error
