"""Which of a repo's files the manifest's `files` patterns select, and whether the selected
weights are pickle-only: the one answer used by `sync` (what it fetches), `audit` (what it
judges) and the lock's `pickle-only` fact.

Plain paths in, no lock or manifest types, so the lock model can use it too (issue 10, item 5).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

from ptmlock.constants import PICKLE_SUFFIXES, SAFE_WEIGHT_SUFFIXES


def matches(path: str, patterns: Sequence[str]) -> bool:
    """True when `path` is selected by the manifest's `files` patterns (empty: everything).

    Same rules as huggingface_hub's `filter_repo_objects(allow_patterns=...)`: `fnmatchcase`,
    `*` crosses `/`, and a pattern ending in `/` means everything below it.
    """
    if not patterns:
        return True
    return any(fnmatchcase(path, p + "*" if p.endswith("/") else p) for p in patterns)


def is_pickle(path: str) -> bool:
    """True when `path` names a pickle-based weight file (`.bin`, `.pt`, `.ckpt`, ...)."""
    return path.lower().endswith(PICKLE_SUFFIXES)


def pickle_only(paths: Iterable[str]) -> bool:
    """True when `paths` hold pickle weights and no safe weight format (safetensors, gguf, ...)."""
    names = [p.lower() for p in paths]
    return any(n.endswith(PICKLE_SUFFIXES) for n in names) and not any(n.endswith(SAFE_WEIGHT_SUFFIXES) for n in names)
