"""Signature checks (issue 16): at lock time against the hub's hashes, and offline against the
real synced files.

At lock time (`sign_locked`), the bundle is fetched at the locked commit, verified against the
declared signer, and its per-file sha256 values compared with ptm.lock's: the LFS sha256 the hub
reports, and for small (non-LFS) files the sha256 of the bytes fetched at the commit, whose git
blob id must equal the lock's. Every locked file must be covered unless exempt
(`policy.covered_exempt`), and every signed file must be in the commit.

Offline (`check_synced`), the bundle and each file are read from where the bytes really live (the
cache's blobs, or the plain files of `--target`), never through a snapshot link: the OpenSSF
model-signing spec does not follow symbolic links.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from ptmlock.errors import SignatureError
from ptmlock.install.hashing import VerifiedCache, digest_of
from ptmlock.install.hf_cache import Plan
from ptmlock.lockfile.model import LockedFile, LockedModel, LockedSignature
from ptmlock.manifest.model import Manifest
from ptmlock.signing.bundle import MAX_BUNDLE, SignedModel, sha256_file, verify_bundle
from ptmlock.signing.policy import SigningPolicy, covered_exempt

# (repo path) -> local path of that file's bytes at the locked commit
Fetch = Callable[[str], str]


@dataclass(frozen=True)
class SignatureProblem:
    """One way a synced model no longer holds to its signature."""

    model: str
    message: str


class NotCached(SignatureError):
    """issue 22: `fetch` has no bytes for a file (offline, and not in the cache)."""


def sign_locked(model: LockedModel, policy: SigningPolicy, project_dir: Path, fetch: Fetch, *,
                absent_ok: bool = False) -> LockedModel:
    """`model` with the `signature` that satisfies `policy`, fetching files with `fetch`.

    `absent_ok` (the guard, offline): a small file `fetch` has no bytes for (`NotCached`) is not
    compared; the process cannot load it either. The bundle itself is always needed.

    Raises:
        SignatureError: no bundle, a malformed one, another signer, uncovered or differing files.
        ManifestError: the signing extra or a declared key file is missing.
        HubError: a file could not be fetched.
    """
    where = f"{model.id}@{model.commit[:12]}"
    by_path = {f.path: f for f in model.files}
    sig_file = by_path.get(policy.signature)
    if sig_file is None:
        raise SignatureError(f"{where}: no signature file {policy.signature!r} in the repo, but ptm.toml requires "
                             f"one by the {policy.describe()}. Ask the publisher to sign it, or set "
                             "`signing = false` on the model to accept it unsigned.")
    if sig_file.size > MAX_BUNDLE:
        raise SignatureError(f"{where}: {policy.signature} is {sig_file.size} bytes, too large for a signature "
                             "bundle; refusing to fetch it.")
    data = _fetch_checked(fetch, sig_file, where)
    signed = verify_bundle(data, policy, project_dir, what=f"{where} {policy.signature}")

    def actual(f: LockedFile) -> str:
        if f.sha256 is not None:
            return f.sha256
        try:
            return hashlib.sha256(_fetch_checked(fetch, f, where)).hexdigest()
        except NotCached:
            if absent_ok:
                return signed.digests[f.path]  # only signed files are asked for
            raise

    problems = compare(signed, model.files, policy, actual)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise SignatureError(f"{where}: {problems[0]}{more}; the signature by {signed.signer} does not cover exactly "
                             "the locked files. Ask the publisher to re-sign this commit, or pin the commit they "
                             "signed.")
    record = LockedSignature(path=policy.signature, sha256=hashlib.sha256(data).hexdigest(), signer=signed.signer,
                             policy=policy.key())
    return replace(model, signature=record)


def compare(signed: SignedModel, files: Iterable[LockedFile], policy: SigningPolicy,
            actual: Callable[[LockedFile], str | None]) -> list[str]:
    """Every difference between the signed digests and `files`, one short phrase each, in path order.

    `actual(file)` is the file's sha256 (None: not present, which is reported and not hashed).
    """
    problems: list[str] = []
    seen: set[str] = set()
    for f in sorted(files, key=lambda f: f.path):
        seen.add(f.path)
        want = signed.digests.get(f.path)
        if want is None:
            if not covered_exempt(f.path, policy):
                problems.append(f"{f.path} is not covered by the signature (file added after signing?)")
            continue
        have = actual(f)
        if have is None:
            problems.append(f"{f.path} is missing")
        elif have != want:
            problems.append(f"{f.path} has sha256 {have[:16]}..., but the signature says {want[:16]}... "
                            "(changed after signing, or the signer signed other bytes)")
    for path in sorted(set(signed.digests) - seen):
        problems.append(f"{path} is signed but not in the locked commit")
    return problems


def _fetch_checked(fetch: Fetch, f: LockedFile, where: str) -> bytes:
    """The bytes of `f` at the locked commit, refused unless they hash to what ptm.lock pins."""
    with open(fetch(f.path), "rb") as fh:
        data = fh.read(f.size + 1)
    if f.sha256 is not None:
        ok = hashlib.sha256(data).hexdigest() == f.sha256
    else:
        ok = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest() == f.blob_id
    if not ok or len(data) != f.size:
        raise SignatureError(f"{where}: the hub served {f.path} with other bytes than its listing pins; "
                             "refusing to check a signature against them.")
    return data


def check_synced(models: Iterable[tuple[LockedModel, Mapping[str, Path]]],
                 policies: Mapping[str, SigningPolicy | None], project_dir: Path,
                 cache: VerifiedCache | None = None) -> list[SignatureProblem]:
    """Re-verify each model's signature offline against its synced files.

    `models` pairs a locked model with {repo path: where its bytes really are} for the files that
    were synced; `policies` maps each model id (case-folded) to what ptm.toml requires now.
    A model that ptm.toml does not require to be signed is skipped. LFS files' sha256 come from
    `cache` when their stat is unchanged since they were last hashed (as `verify` does).

    Raises:
        ManifestError: the signing extra or a declared key file is missing.
    """
    problems: list[SignatureProblem] = []
    for model, stores in models:
        policy = policies.get(model.id.casefold())
        if policy is None or model.required_by:
            continue
        record = model.signature
        if record is None or record.policy != policy.key():
            problems.append(SignatureProblem(model.id, f"{model.id}: ptm.toml requires a signature by the "
                                                       f"{policy.describe()}, but ptm.lock records none verified for "
                                                       "it. Run `ptmlock lock`."))
            continue
        problems.extend(SignatureProblem(model.id, f"{model.id}: {p}") for p in _check_one(model, record, policy,
                                                                                          stores, project_dir, cache))
    return problems


def _check_one(model: LockedModel, record: LockedSignature, policy: SigningPolicy, stores: Mapping[str, Path],
               project_dir: Path, cache: VerifiedCache | None) -> list[str]:
    sig_path = stores.get(record.path)
    if sig_path is None or not os.path.lexists(sig_path):
        return [f"signature {record.path} is missing; run `ptmlock sync`"]
    try:
        if os.path.islink(sig_path):
            raise OSError("it is a symbolic link")
        with open(sig_path, "rb") as fh:
            data = fh.read(MAX_BUNDLE + 1)
    except OSError as e:
        return [f"signature {record.path} is unreadable ({e.strerror or e})"]
    if hashlib.sha256(data).hexdigest() != record.sha256:
        return [(f"signature {record.path} changed since `ptmlock lock` verified it (sha256 "
                f"{hashlib.sha256(data).hexdigest()[:16]}..., locked {record.sha256[:16]}...)")]
    try:
        signed = verify_bundle(data, policy, project_dir, what=f"signature {record.path}")
    except SignatureError as e:
        return [e.message]
    found: list[str] = []
    if signed.signer != record.signer:
        found.append(f"signed by {signed.signer}, but ptm.lock recorded {record.signer}")

    def actual(f: LockedFile) -> str | None:
        path = stores.get(f.path)
        if path is None or os.path.islink(path):  # never hash through a link (OpenSSF spec)
            return None
        try:
            if f.sha256 is not None and cache is not None:  # LFS: the sha256 `verify` already caches
                return digest_of(os.fspath(path), f, cache=cache)[0]
            return sha256_file(path)
        except OSError:
            return None

    synced = [f for f in model.files if f.path in stores]
    signed_synced = SignedModel(signer=signed.signer,
                                digests={p: d for p, d in signed.digests.items() if p in stores})
    return found + compare(signed_synced, synced, policy, actual)


def check_plan(plan: Plan, manifest: Manifest, *, cache: VerifiedCache | None = None) -> list[SignatureProblem]:
    """`check_synced` over the models of a sync/verify `plan`, reading each file where its bytes
    live (`FileTask.store`: the cache's blob, or the plain file of `--target`). No network.

    Raises:
        ManifestError: the signing extra or a declared key file is missing.
    """
    policies = {m.id.casefold(): m.signing for m in manifest.models}
    if not any(policies.values()):
        return []
    items = [(mp.model, {t.file.path: t.store for t in mp.files}) for mp in plan.models]
    return check_synced(items, policies, manifest.project_dir, cache)


def signature_error(problems: list[SignatureProblem]) -> SignatureError:
    """One error for `problems` (not empty): the first, and how many more."""
    more = f" ({len(problems) - 1} more signature problem(s); `ptmlock verify --signatures` lists them all)" \
        if len(problems) > 1 else ""
    return SignatureError(problems[0].message + more)


def verify_project_signatures(manifest_path: Path, *, model_ids: Iterable[str] = (), roles: Iterable[str] = (),
                              target: Path | None = None) -> list[SignatureProblem]:
    """`ptmlock verify --signatures`: every signature problem of the project's synced models,
    offline (a missing file is reported, not fetched).

    Raises:
        ManifestError, LockfileError, RoleError: bad files or selection; the signing extra or a
            declared key file is missing.
        CheckFailedError: there is no ptm.lock.
    """
    from ptmlock.errors import CheckFailedError
    from ptmlock.install.hf_cache import plan_files, real_root, select_models
    from ptmlock.lockfile.read import load_lock
    from ptmlock.manifest.parse import load_manifest

    manifest = load_manifest(manifest_path)
    lock = load_lock(manifest.lock_path)
    if lock is None:
        raise CheckFailedError(f"{manifest.lock_path} does not exist, so there is nothing to verify against. "
                               "Run `ptmlock lock`, then `ptmlock sync`.")
    plan = plan_files(select_models(lock, roles=roles, model_ids=model_ids), cache_dir=real_root(None),
                      target=real_root(target) if target is not None else None)
    cache = VerifiedCache()
    problems = check_plan(plan, manifest, cache=cache)
    cache.save()
    return problems
