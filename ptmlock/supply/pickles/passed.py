"""The record of files that passed `ptmlock audit --deep`, which the strict guard reads.

One small file per content hash, `<user cache>/ptmlock/pickle-audit/<sha256>`, holding the
scanner version that passed it, so a new scanner asks for a new audit. Keyed by the content's
sha256, not by path: a file altered after the audit no longer matches (issue 12, item 6; the
ptm.lock format is left alone).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

SCANNER_VERSION = "2"  # bump when the scanner learns something that could fail an old pass


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


def record_passed(digest: str) -> None:
    """Remember that content with sha256 `digest` passed the deep scan (best effort: the
    record is a convenience for the strict guard, and a failed write only means a re-audit)."""
    from ptmlock._fs import atomic_write

    try:
        directory = record_dir()
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(directory / digest, SCANNER_VERSION + "\n")
    except OSError:
        pass


def has_passed(digest: str) -> bool:
    """True when content with sha256 `digest` passed the current scanner's deep scan."""
    try:
        return (record_dir() / digest).read_text(encoding="utf-8").strip() == SCANNER_VERSION
    except (OSError, ValueError):
        return False
