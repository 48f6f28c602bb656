"""Real signatures for the signing tests: EC keys and a certificate chain made with `cryptography`,
bundles made by the real `model-signing` library, exactly as a publisher would before upload."""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def write_key(folder: Path, name: str) -> tuple[Path, Path]:
    """A fresh P-256 key pair as PEM files: (private key, public key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = folder / f"{name}.key"
    public = folder / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


@dataclass(frozen=True)
class Chain:
    """A self-made CA and a code-signing leaf it issued, as PEM files."""

    ca: Path  # what the verifier trusts
    leaf: Path  # the signing certificate
    key: Path  # the leaf's private key


def write_chain(folder: Path, name: str) -> Chain:
    """A root CA `name` CA and a leaf `name` ML team (digital signature + code signing)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} ML team"),
                                     x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)]))
            .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = Chain(ca=folder / f"{name}-ca.pem", leaf=folder / f"{name}-leaf.pem", key=folder / f"{name}-leaf.key")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.leaf.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    return paths


def _materialise(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True)
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


def sign_with_key(work: Path, files: dict[str, bytes], private_key: Path) -> bytes:
    """The `model.sig` bundle model-signing writes for `files`, signed with `private_key`."""
    import model_signing

    model = _materialise(work / "model", files)
    model_signing.signing.Config().use_elliptic_key_signer(private_key=private_key).sign(model, work / "model.sig")
    return (work / "model.sig").read_bytes()


def sign_with_certificate(work: Path, files: dict[str, bytes], chain: Chain) -> bytes:
    """The `model.sig` bundle for `files`, signed with the leaf certificate of `chain`."""
    import model_signing

    model = _materialise(work / "model", files)
    model_signing.signing.Config().use_certificate_signer(
        private_key=chain.key, signing_certificate=chain.leaf, certificate_chain=[chain.ca],
    ).sign(model, work / "model.sig")
    return (work / "model.sig").read_bytes()
