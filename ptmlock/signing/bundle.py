"""The one adapter to the `model-signing` library (OpenSSF model signing, sigstore/model-transparency).

`verify_bundle(data, policy, project_dir)` checks a `model.sig` bundle (a Sigstore bundle: a DSSE
envelope around an in-toto statement listing every file's digest) against the declared signer and
returns who signed and the signed per-file sha256 values. It never hashes model files itself: the
caller compares the signed digests with ptm.lock (at lock time) or with the real synced files.

model-signing is an optional extra (`pip install 'ptmlock[signing]'`), imported only here and only
when a manifest asks for a signature. Its public `verifying.Config.verify()` hashes a whole model
folder; `lock` has no folder (it compares against the hub's hashes), so this module calls the
verifier the Config builds (`Config._verifier.verify(signature)`), which model-signing==1.1.1
(the version the extra pins) has.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptmlock.errors import HubError, ManifestError, SignatureError
from ptmlock.signing.policy import CERTIFICATE, PUBLIC_KEY, SIGSTORE, SigningPolicy

MAX_BUNDLE = 16 * 1024 * 1024  # a bundle is a few KiB; refuse to parse anything near this


@dataclass(frozen=True)
class SignedModel:
    """What a verified bundle says: who signed it and the signed sha256 of each file (by repo path)."""

    signer: str
    digests: dict[str, str]


def require_library() -> Any:
    """The `model_signing` package.

    Raises:
        ManifestError: it is not installed; the message names the extra that installs it.
    """
    try:
        import model_signing.verifying
        from OpenSSL import crypto  # noqa: F401 - model-signing imports it without declaring it
    except ImportError as e:
        raise ManifestError(
            f"ptm.toml requires model signatures, but the signature support is not installed ({e}). "
            "Install it with `pip install 'ptmlock[signing]'` (model-signing and pyopenssl), then run the "
            "command again."
        ) from None
    return model_signing


def verify_bundle(data: bytes, policy: SigningPolicy, project_dir: Path, *, what: str) -> SignedModel:
    """Verify the bundle `data` against `policy` (key files relative to `project_dir`).

    `what` names the bundle in messages (`org/model@abc123 model.sig`).

    Raises:
        ManifestError: the extra is missing, or a key, certificate or trust file cannot be read.
        SignatureError: the bundle is malformed, not signed by the declared signer, or signs
            something other than a per-file sha256 manifest.
    """
    require_library()
    if len(data) > MAX_BUNDLE:
        raise SignatureError(f"{what} is {len(data)} bytes, too large for a signature bundle; refusing to parse it.")
    config = _config(policy, project_dir)
    with tempfile.TemporaryDirectory(prefix="ptmlock-sig-") as tmp:
        path = Path(tmp) / "model.sig"
        path.write_bytes(data)
        signature = _read(path, policy, what)
        try:
            manifest = config._verifier.verify(signature)
        except Exception as e:  # noqa: BLE001 - model-signing, cryptography, OpenSSL and sigstore raise many types
            raise SignatureError(f"{what} is not signed by the {policy.describe()} that ptm.toml requires "
                                 f"({_reason(e)}).") from None
    return SignedModel(signer=_signer(signature, policy, project_dir), digests=_digests(manifest, what))


def _config(policy: SigningPolicy, project_dir: Path) -> Any:
    import model_signing.verifying

    config = model_signing.verifying.Config()
    try:
        if policy.kind == PUBLIC_KEY:
            assert policy.public_key is not None
            return config.use_elliptic_key_verifier(public_key=_file(project_dir, policy.public_key, "public-key"))
        if policy.kind == CERTIFICATE:
            chain = [_file(project_dir, c, "certificate-chain") for c in policy.certificate_chain]
            return config.use_certificate_verifier(certificate_chain=chain)
        assert policy.identity is not None and policy.issuer is not None
        trust = _file(project_dir, policy.trust_config, "trust-config") if policy.trust_config else None
        return config.use_sigstore_verifier(identity=policy.identity, oidc_issuer=policy.issuer, trust_config=trust)
    except ManifestError:
        raise
    except Exception as e:  # noqa: BLE001 - a PEM that is not a key, an unsupported curve, no Sigstore trust root
        if policy.kind == SIGSTORE and policy.trust_config is None:
            raise HubError(f"Cannot load Sigstore's public trust root for {policy.describe()} ({_reason(e)}): "
                           "model-signing fetches it from Sigstore's TUF repository. Allow that connection, or "
                           "set trust-config = \"FILE\" (a Sigstore ClientTrustConfig JSON) for offline use.") from None
        raise ManifestError(f"ptm.toml: the {policy.describe()} cannot be used to verify signatures "
                            f"({_reason(e)}). Point it at a PEM file of the signer's EC public key "
                            "(P-256/384/521) or CA certificates.") from None


def _file(project_dir: Path, rel: str, key: str) -> Path:
    path = project_dir / rel
    if not path.is_file():
        raise ManifestError(f"ptm.toml: {key} = {rel!r}: no such file in {project_dir}. Commit the signer's "
                            "public material next to ptm.toml, or fix the path.")
    return path


def _read(path: Path, policy: SigningPolicy, what: str) -> Any:
    from model_signing._signing import sign_sigstore, sign_sigstore_pb

    reader = sign_sigstore_pb.Signature if policy.kind in (PUBLIC_KEY, CERTIFICATE) else sign_sigstore.Signature
    try:
        return reader.read(path)
    except Exception as e:  # noqa: BLE001 - JSON, protobuf and pydantic errors for a bad bundle
        raise SignatureError(f"{what} is not a valid Sigstore bundle ({_reason(e)}).") from None


def _digests(manifest: Any, what: str) -> dict[str, str]:
    serialization = manifest.serialization_type
    if serialization.get("method") != "files" or serialization.get("hash_type") != "sha256":
        raise SignatureError(
            f"{what} signs a {serialization.get('method')!r}/{serialization.get('hash_type')!r} manifest; ptmlock "
            "checks per-file sha256 signatures (model-signing's default). Re-sign with the default hashing.")
    out: dict[str, str] = {}
    for rd in manifest.resource_descriptors():
        if rd.digest.algorithm != "sha256":
            raise SignatureError(f"{what} signs {rd.identifier} with {rd.digest.algorithm}, not sha256.")
        out[str(rd.identifier)] = rd.digest.digest_hex
    return out


def _signer(signature: Any, policy: SigningPolicy, project_dir: Path) -> str:
    """Who signed, as recorded in ptm.lock: a fingerprint, never a path or a timestamp."""
    if policy.kind == PUBLIC_KEY:
        from cryptography.hazmat.primitives import serialization

        assert policy.public_key is not None
        key = serialization.load_pem_public_key((project_dir / policy.public_key).read_bytes())
        pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        return f"public-key sha256:{hashlib.sha256(pem).hexdigest()}"  # the key hint model-signing records
    if policy.kind == CERTIFICATE:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        leaf = x509.load_der_x509_certificate(
            signature.bundle.verification_material.x509_certificate_chain.certificates[0].raw_bytes)
        return f"certificate {leaf.subject.rfc4514_string()} sha256:{leaf.fingerprint(hashes.SHA256()).hex()}"
    return f"sigstore {policy.identity} issuer {policy.issuer}"


def _reason(e: BaseException) -> str:
    if isinstance(e, KeyError):  # a JSON document without a required member
        return f"no {e.args[0]!r} member" if e.args else "a required member is missing"
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 300 else text[:297] + "..."


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The sha256 of the file at `path`, opened without following a symbolic link."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    h = hashlib.sha256()
    with os.fdopen(fd, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
