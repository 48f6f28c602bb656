"""Redo a recorded signature verification (issue 22, item 2): a lock-only forgery cannot keep an old
signature record on an entry the signer did not sign.

A signed entry of ptm.lock records the bundle's sha256, the signer and the policy `lock`
verified. A pull request that edits only ptm.lock can point the entry at another (unsigned)
commit and keep that record. `redo` runs the same check `lock` ran (`sign_locked`), with the bytes
taken from somewhere else than the hub's answer of the day:

- `from_cache` (`lock --check --signatures`, and the strict guard): the Hugging Face cache's
  blobs, named by the hashes ptm.lock gives (offline; a file not in the cache is reported);
- `from_hub` (`lock --check --online`): the hub, at the entry's commit.

The record it computes must equal the locked one, and every signed digest must equal ptm.lock's
hashes. `recheck_online` also asks the hub for the entry's commit again: its files and hashes
must be the locked ones.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ptmlock.errors import SignatureError
from ptmlock.hubs.base import Backend
from ptmlock.lockfile.model import Lock, LockedFile, LockedModel
from ptmlock.manifest.model import Manifest, ModelSpec
from ptmlock.signing.check import NotCached, sign_locked
from ptmlock.signing.policy import SigningPolicy

Fetch = Callable[[str], str]


@dataclass(frozen=True)
class Recheck:
    """One signed entry whose recorded verification could not be redone, or came out different."""

    model: str
    message: str


def cache_blob(root: Path, model: LockedModel, file: LockedFile) -> Path | None:
    """Where the Hugging Face cache under `root` keeps `file`'s bytes (`blobs/<sha256 or git blob
    id>`, under the canonical and the declared id), or None when it is in neither."""
    name = file.sha256 if file.sha256 is not None else file.blob_id
    if name is None:
        return None
    for repo_id in dict.fromkeys((model.canonical, model.id)):
        blob = root / "--".join([f"{model.repo_type}s", *repo_id.split("/")]) / "blobs" / name
        if blob.is_file() and not blob.is_symlink():
            return blob
    return None


def from_cache(root: Path, model: LockedModel) -> Fetch:
    """A fetcher reading `model`'s files from the cache's blobs (each is hash-checked by `sign_locked`)."""
    by_path = {f.path: f for f in model.files}

    def fetch(path: str) -> str:
        f = by_path.get(path)
        blob = cache_blob(root, model, f) if f is not None else None
        if blob is None:
            raise NotCached(f"{model.id}@{model.commit[:12]}: {path} is not in the cache ({root}), so its signature "
                            "cannot be checked offline. Run `ptmlock sync`, or `ptmlock lock --check --online`.")
        return str(blob)

    return fetch


def redo(model: LockedModel, policy: SigningPolicy, project_dir: Path, fetch: Fetch, *,
         absent_ok: bool = False) -> str | None:
    """Why `model`'s recorded signature does not hold (one line), or None when verifying it again
    with `fetch` gives exactly the record ptm.lock holds (`absent_ok`: see `sign_locked`).

    Raises:
        ManifestError: the signing extra or a declared key file is missing.
        HubError: `fetch` could not reach the hub.
    """
    record = model.signature
    if record is None:
        return None  # a required but missing record makes the lock stale: `lock_state` says so
    try:
        again = sign_locked(model, policy, project_dir, fetch, absent_ok=absent_ok).signature
    except NotCached as e:
        return e.message
    except SignatureError as e:
        return f"{e.message} (ptm.lock records it as signed by {record.signer}: the entry was changed after `lock`)"
    if again != record:
        assert again is not None
        field = next(n for n in ("path", "sha256", "signer", "policy") if getattr(again, n) != getattr(record, n))
        return (f"{model.id}@{model.commit[:12]}: the recorded signature does not match a new verification "
                f"({field} is {getattr(record, field)!r} in ptm.lock, {getattr(again, field)!r} now)")
    return None


def _signed(manifest: Manifest, lock: Lock) -> Iterable[tuple[LockedModel, ModelSpec, SigningPolicy]]:
    for m in lock.models:
        spec = manifest.get(m.id) if not m.required_by else None
        if spec is not None and spec.signing is not None and m.signature is not None:
            yield m, spec, spec.signing


def recheck_cached(manifest: Manifest, lock: Lock, root: Path) -> list[Recheck]:
    """`lock --check --signatures`: every signed entry verified again from the cache under `root`.

    Raises:
        ManifestError: the signing extra or a declared key file is missing.
    """
    out = []
    for m, _spec, policy in _signed(manifest, lock):
        problem = redo(m, policy, manifest.project_dir, from_cache(root, m))
        if problem is not None:
            out.append(Recheck(m.id, problem))
    return out


def recheck_online(manifest: Manifest, lock: Lock, backend_for: Callable[[str], Backend]) -> list[Recheck]:
    """`lock --check --online`: every Hugging Face entry (dependencies included) asked for again
    at its commit (files and hashes must be the locked ones), and every signed one verified again
    from the hub.

    Raises:
        HubError: the hub could not be asked (exit 4).
        ManifestError: the signing extra or a declared key file is missing.
    """
    out = []
    for m in lock.models:
        spec = manifest.get(m.id) if not m.required_by else None
        if m.hub != "huggingface" or (spec is None and not m.required_by):
            continue
        backend = backend_for(m.hub)
        again = backend.resolve(ModelSpec(id=m.canonical, revision=m.commit, repo_type=m.repo_type))
        if again.commit != m.commit or {f.path: f for f in again.files} != {f.path: f for f in m.files}:
            diff = _first_difference(m.files, again.files)
            out.append(Recheck(m.id, f"{m.id}@{m.commit[:12]}: the hub lists other files at this commit than "
                                     f"ptm.lock ({diff})"))
            continue
        if spec is not None and spec.signing is not None and m.signature is not None:
            fetch_file = backend.fetch_file  # type: ignore[attr-defined]

            def fetch(path: str, m: LockedModel = m) -> str:
                return str(fetch_file(m.canonical, path, commit=m.commit, repo_type=m.repo_type))

            problem = redo(m, spec.signing, manifest.project_dir, fetch)
            if problem is not None:
                out.append(Recheck(m.id, problem))
    return out


def _first_difference(locked: tuple[LockedFile, ...], hub: tuple[LockedFile, ...]) -> str:
    mine, theirs = {f.path: f for f in locked}, {f.path: f for f in hub}
    for path in sorted(set(mine) | set(theirs)):
        a, b = mine.get(path), theirs.get(path)
        if a is None:
            return f"{path} is not in ptm.lock"
        if b is None:
            return f"{path} is not on the hub"
        if a != b:
            return f"{path}: {a.sha256 or a.blob_id} in ptm.lock, {b.sha256 or b.blob_id} on the hub"
    return "the commit differs"



def recheck_project(manifest_path: Path, *, online: bool) -> list[Recheck]:
    """`lock --check --signatures` (`online=False`: from the Hugging Face cache) or `--online`.
    The lock is read (and found fresh) by the caller first.

    Raises:
        ManifestError, LockfileError: bad files; the signing extra or a key file is missing.
        HubError: online, and the hub could not be asked.
    """
    from ptmlock.install.hf_cache import real_root
    from ptmlock.lockfile.read import load_lock
    from ptmlock.manifest.parse import load_manifest

    manifest = load_manifest(manifest_path)
    lock = load_lock(manifest.lock_path)
    if lock is None:
        return []
    if any(True for _ in _signed(manifest, lock)):
        from ptmlock.signing.bundle import require_library

        require_library()  # name the missing extra first (exit 3)
    if online:
        from ptmlock.hubs.registry import default_backend

        return recheck_online(manifest, lock, default_backend)
    return recheck_cached(manifest, lock, real_root(None))
