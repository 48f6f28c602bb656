"""The one exception hierarchy of ptmlock, with the CLI's stable exit codes.

| code | meaning |
|------|---------|
| 0    | success |
| 1    | a check said no: lock stale, undeclared load, altered file, audit finding |
| 2    | usage error (click's own), or an invalid environment setting |
| 3    | bad manifest or lock: syntax, schema, unknown hub, role |
| 4    | hub: not found, revision, gated/401/403, timeout, 5xx after retries |
| 5    | integrity: hash mismatch while syncing, unsafe hub answer, signature not satisfied |
| 70   | internal error (a bug) |
| 130  | interrupted |
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_MANIFEST = 3
EXIT_HUB = 4
EXIT_INTEGRITY = 5
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


class PtmlockError(Exception):
    """Base of every error ptmlock raises on purpose.

    The message is one paragraph that says what happened, where, and the fix.
    `exit_code` is what the CLI exits with.
    """

    exit_code: int = EXIT_INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class SettingsError(PtmlockError):
    """An environment setting (`HF_ENDPOINT`, `PTMLOCK_*`) is set to an invalid value."""

    exit_code = EXIT_USAGE


class CheckFailedError(PtmlockError):
    """A check said no: the lock is stale, a load is undeclared, a file is altered."""

    exit_code = EXIT_CHECK_FAILED


class CacheWriteError(PtmlockError):
    """The cache or a target folder could not be written (disk full, permissions)."""

    exit_code = EXIT_CHECK_FAILED


class ProjectWriteError(CacheWriteError):
    """ptm.lock or ptm.toml could not be written: read-only file system, permissions, disk full.
    The old file is left as it was and no temporary file remains (issue 11). Exit 1, as for the cache."""


class ManifestError(PtmlockError):
    """`ptm.toml` is missing, malformed or invalid."""

    exit_code = EXIT_MANIFEST


class LockfileError(PtmlockError):
    """`ptm.lock` is missing, malformed, of an unknown format version, or stale."""

    exit_code = EXIT_MANIFEST


class RoleError(ManifestError):
    """A role is unknown, or a selection is outside its role."""


class HubError(PtmlockError):
    """The hub refused or failed: not found, bad revision, gated, timeout, 5xx."""

    exit_code = EXIT_HUB


class RepoNotFoundError(HubError):
    """The hub has no such repository (or hides it from this token)."""


class RevisionNotFoundError(HubError):
    """The repository exists but the requested revision does not."""


class GatedRepoError(HubError):
    """The repository is gated or private and needs an accepted token."""


class HubUnavailableError(HubError):
    """The hub timed out or kept answering 5xx/429 past the retry deadline."""


class IntegrityError(PtmlockError):
    """Bytes or answers that cannot be trusted: a hash mismatch or an unsafe hub answer."""

    exit_code = EXIT_INTEGRITY


class UnsafeHubAnswerError(IntegrityError):
    """The hub answered with an unsafe path, a non-hex commit or a negative size."""


class SignatureError(IntegrityError):
    """issue 16: a model's signature does not satisfy ptm.toml: missing, malformed, by another
    signer, or not covering exactly the locked bytes."""


class UnsafePathError(IntegrityError):
    """A symbolic link (or another non-directory) planted where sync writes, inside the cache or
    a target folder; ptmlock refuses to write through it (issue 11)."""

    path: str = ""
    what: str = ""  # "a symbolic link", "not a folder", ...

    @classmethod
    def at(cls, path: object, what: str, message: str) -> UnsafePathError:
        """The error for `path`, which is `what`, with the full `message`."""
        e = cls(message)
        e.path, e.what = str(path), what
        return e


class GuardError(PtmlockError):
    """The runtime guard refused a model load (strict mode)."""

    exit_code = EXIT_CHECK_FAILED


class UnlockedBytesError(GuardError):
    """issue 22: the runtime guard let a download through and the hub sent other bytes than ptm.lock
    names for that file at the locked commit (or a file the locked commit does not have). The file
    was deleted, never used. Raised in warn mode too: warn mode never serves bytes it knows are not
    the locked ones."""

    exit_code = EXIT_INTEGRITY


class RegistryAuthError(HubError):
    """An OCI registry (or its token server) refused the credentials, or none were found."""
