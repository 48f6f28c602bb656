"""Who must have signed a model: the `signing` declarations of `ptm.toml`, as typed data (no I/O).

A `signing` table may sit in three places; the nearest one applies and its keys override the
outer ones, except that naming a signer replaces the outer signer as a whole:

    [signing]                                  # the project: every model
    [roles.<name>] signing = {...}             # every member of a role
    [models."<id>"] signing = {...} | false    # one model (`false` exempts it)

A table names exactly one signer: `public-key = "keys/acme.pem"`, `certificate-chain =
["keys/ca.pem"]`, or `identity` + `issuer` (keyless Sigstore, optionally with `trust-config`).
`signature` is the bundle's path in the repo (default `model.sig`); `allow-unsigned` lists glob
patterns of repo files the signature need not cover.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ptmlock.constants import PICKLE_SUFFIXES, SAFE_WEIGHT_SUFFIXES
from ptmlock.filesets import matches

DEFAULT_SIGNATURE = "model.sig"
PUBLIC_KEY, CERTIFICATE, SIGSTORE = "public-key", "certificate", "sigstore"

# issue 22: what a wildcard `allow-unsigned` pattern may never exempt (a signature that covers
# only README.md must not lock as "signed"): weights, pickles and code. Spelled file by file, any
# path may be exempt; a pattern that could match one of these suffixes is refused.
_NEVER_BY_PATTERN = (*PICKLE_SUFFIXES, *SAFE_WEIGHT_SUFFIXES, ".npy", ".npz", ".joblib", ".keras", ".tflite", ".pb",
                     ".ggml", ".pdparams", ".tar", ".zip", ".py", ".pyc", ".so", ".dylib", ".dll", ".sh", ".ipynb",
                     ".js")
_GLOB = re.compile(r"[*?\[\]]")

SIGNER_KEYS = ("certificate-chain", "identity", "issuer", "public-key", "trust-config")
KEYS = ("allow-unsigned", "certificate-chain", "identity", "issuer", "public-key", "signature", "trust-config")


@dataclass(frozen=True)
class SigningPolicy:
    """The signer a model must be signed by, and where its signature lives in the repo.

    Paths (`public_key`, `certificate_chain`, `trust_config`) are relative to the project folder.
    """

    kind: str  # PUBLIC_KEY, CERTIFICATE or SIGSTORE
    public_key: str | None = None
    certificate_chain: tuple[str, ...] = ()
    identity: str | None = None
    issuer: str | None = None
    trust_config: str | None = None
    signature: str = DEFAULT_SIGNATURE
    allow_unsigned: tuple[str, ...] = ()

    def key(self) -> str:
        """A canonical text of the policy: part of the manifest hash and recorded in ptm.lock, so
        changing the declared signer makes the lock stale and `lock` verifies again."""
        signers: dict[str, dict[str, object]] = {
            PUBLIC_KEY: {"public-key": self.public_key},
            CERTIFICATE: {"certificate-chain": list(self.certificate_chain)},
            SIGSTORE: {"identity": self.identity, "issuer": self.issuer, "trust-config": self.trust_config},
        }
        signer = signers[self.kind]
        parts = [f"{k}={json.dumps(v)}" for k, v in signer.items() if v is not None]
        parts.append(f"signature={json.dumps(self.signature)}")
        if self.allow_unsigned:
            parts.append(f"allow-unsigned={json.dumps(list(self.allow_unsigned))}")
        return " ".join(parts)

    def describe(self) -> str:
        """The expected signer, for messages: `public key keys/acme.pem`."""
        if self.kind == PUBLIC_KEY:
            return f"public key {self.public_key}"
        if self.kind == CERTIFICATE:
            return f"certificate chain {', '.join(self.certificate_chain)}"
        return f"Sigstore identity {self.identity} (issuer {self.issuer})"


def merge(*tables: Mapping[str, Any] | None) -> dict[str, Any]:
    """The effective table of the outermost-first `tables`: inner keys override, and an inner
    table that names a signer drops the outer signer (one never mixes two signers)."""
    out: dict[str, Any] = {}
    for table in tables:
        if not table:
            continue
        if any(k in table for k in SIGNER_KEYS):
            out = {k: v for k, v in out.items() if k not in SIGNER_KEYS}
        out.update(table)
    return out


def unknown_key(table: Mapping[str, Any]) -> str | None:
    """The first key of `table` that a signing table may not have, or None."""
    return next((k for k in table if k not in KEYS), None)


def build(table: Mapping[str, Any]) -> SigningPolicy | str:
    """The policy an effective `table` declares, or what is wrong with it (one sentence, no position)."""
    bad = unknown_key(table)
    if bad is not None:
        return f"unknown key {bad!r} in a signing table (keys: {', '.join(KEYS)})"
    for name in ("public-key", "identity", "issuer", "trust-config", "signature"):
        value = table.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            return f"{name!r} must be a non-empty string"
    chain = table.get("certificate-chain")
    if isinstance(chain, str):
        chain = [chain]
    if chain is not None and (not isinstance(chain, list) or not chain
                              or not all(isinstance(c, str) and c for c in chain)):
        return "'certificate-chain' must be a list of PEM files, such as [\"keys/ca.pem\"]"
    allow = table.get("allow-unsigned", [])
    if not isinstance(allow, list) or not all(isinstance(a, str) and a for a in allow):
        return "'allow-unsigned' must be a list of glob patterns, such as [\"README.md\", \"*.md\"]"
    wide = next((a for a in allow if could_exempt_weights_or_code(a)), None)
    if wide is not None:
        return (f"'allow-unsigned' pattern {wide!r} could exempt weight or code files from the signature; name "
                "such files one by one (\"extra/model.safetensors\"), and use patterns only for other files "
                "(\"*.md\")")
    signature = table.get("signature", DEFAULT_SIGNATURE)
    if signature.startswith("/") or any(p in ("", ".", "..") for p in signature.split("/")) or "\\" in signature:
        return f"'signature' must be a relative path inside the repo, not {signature!r}"
    kinds = [k for k, present in ((PUBLIC_KEY, "public-key" in table), (CERTIFICATE, chain is not None),
                                  (SIGSTORE, "identity" in table or "issuer" in table)) if present]
    if len(kinds) != 1:
        what = "names no signer" if not kinds else f"names {len(kinds)} signers ({', '.join(kinds)})"
        return (f"the signing table {what}: give exactly one of public-key = \"keys/x.pem\", certificate-chain = "
                "[\"keys/ca.pem\"], or identity = \"...\" with issuer = \"...\"")
    kind = kinds[0]
    if kind == SIGSTORE and not ("identity" in table and "issuer" in table):
        return "a Sigstore signer needs both identity = \"...\" and issuer = \"https://...\""
    if "trust-config" in table and kind != SIGSTORE:
        return "'trust-config' applies only to a Sigstore signer (identity + issuer)"
    return SigningPolicy(kind=kind, public_key=table.get("public-key"), certificate_chain=tuple(chain or ()),
                         identity=table.get("identity"), issuer=table.get("issuer"),
                         trust_config=table.get("trust-config"), signature=signature,
                         allow_unsigned=tuple(sorted(set(allow))))


def could_exempt_weights_or_code(pattern: str) -> bool:
    """True when the wildcard `pattern` can match a weight, pickle or code file name.

    A name the pattern matches ends with the literal text after its last wildcard; it can end
    with a weight suffix only if one of the two texts ends with the other (`*` and `dir/*`: the
    text is empty; `*.safetensors`; `*n` could be `.bin`). A pattern without wildcards names one file.
    """
    if not _GLOB.search(pattern) and not pattern.endswith("/"):
        return False
    tail = "" if pattern.endswith("/") else _GLOB.split(pattern)[-1].casefold()
    return any(tail.endswith(s) or s.endswith(tail) for s in _NEVER_BY_PATTERN)


def covered_exempt(path: str, policy: SigningPolicy) -> bool:
    """True for a repo file the signature need not cover: the signature itself, git's own files
    (model-signing ignores them too) and the `allow-unsigned` patterns."""
    if path == policy.signature or path in (".gitattributes", ".gitignore") or path.startswith((".git/", ".github/")):
        return True
    return bool(policy.allow_unsigned) and matches(path, policy.allow_unsigned)
