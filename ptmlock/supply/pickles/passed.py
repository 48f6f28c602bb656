"""The record of files that passed `ptmlock audit --deep`, which the strict guard reads.

One small file per content hash, `<user cache>/ptmlock/pickle-audit/<sha256>`, holding the
scanner version that passed it, so a new scanner asks for a new audit. Keyed by the content's
sha256, not by path: a file altered after the audit no longer matches (issue 12, item 6; the
ptm.lock format is left alone).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

SCANNER_VERSION = "3"  # bump when the scanner learns something that could fail an old pass


def record_dir() -> Path:
    """`pickle-audit/` beside ptmlock's verified-hash cache (`XDG_CACHE_HOME` is honoured)."""
    from ptmlock.install.hashing import default_cache_path

    return default_cache_path().parent / "pickle-audit"


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of the file at `path`.

    Raises:
        OSError: the file cannot be read.
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def record_passed(digest: str, trusted: tuple[str, ...] = ()) -> None:
    """Remember that content with sha256 `digest` passed the deep scan, and which globals outside
    the allow-list `trust-pickle` accepted in it (issue 22: the record says what was trusted).
    Best effort: the record is a convenience for the strict guard, and a failed write only means
    a re-audit."""
    from ptmlock._fs import atomic_write

    try:
        directory = record_dir()
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(directory / digest, SCANNER_VERSION + "\n" + json.dumps({"trusted": list(trusted)}) + "\n")
    except OSError:
        pass


def trusted_in(digest: str) -> tuple[str, ...] | None:
    """The globals trust accepted when content `digest` passed, or None when it did not pass."""
    try:
        version, _, rest = (record_dir() / digest).read_text(encoding="utf-8").partition("\n")
        if version.strip() != SCANNER_VERSION:
            return None
        data = json.loads(rest) if rest.strip() else {}
        return tuple(str(g) for g in data.get("trusted", ())) if isinstance(data, dict) else ()
    except (OSError, ValueError):
        return None


def has_passed(digest: str) -> bool:
    """True when content with sha256 `digest` passed the current scanner's deep scan."""
    return trusted_in(digest) is not None
