"""The small interface every hub backend implements, and the answer checks they share.

A hub is one module in `ptmlock/hubs/` that answers three questions:

- *resolve* (`Backend.resolve`): which commit a declared ref names, and its files, for `lock`;
- *current commit* (`HeadBackend.current_commit`): where the ref points now, with no file
  listing, for `outdated`, `update` and `tree --outdated`;
- *fetch*: the pinned bytes, for `sync` (`url.download`, `torchhub.checkout`; the Hugging Face
  hub's files are streamed into its cache layout by `install/download.py`).

`registry.py` maps hub names to backends; every network call obeys `ptmlock._net`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

from ptmlock.errors import PtmlockError, UnsafeHubAnswerError
from ptmlock.lockfile.model import COMMIT_RE, LockedModel
from ptmlock.manifest.model import ModelSpec

_HEX = re.compile(r"^[0-9a-f]+$")
_COMMIT_PREFIX = re.compile(r"^[0-9a-f]{4,40}$")
T = TypeVar("T")
R = TypeVar("R")


class Backend(Protocol):
    """Resolves one declared model to a `LockedModel` pinned to an immutable commit."""

    def resolve(self, spec: ModelSpec) -> LockedModel:
        """Ask the hub; raise a `HubError` or `UnsafeHubAnswerError` subclass on failure."""
        ...


class HeadBackend(Protocol):
    """Answers which commit a model's requested ref points at now (one light request)."""

    def current_commit(self, spec: ModelSpec) -> str:
        """The commit; raises a `HubError` subclass on failure."""
        ...


def pinned_to_commit(requested: str | None, commit: str) -> bool:
    """True when ptm.toml asks for a commit (full or a prefix of the pin), which can never move."""
    return (requested is not None and bool(_COMMIT_PREFIX.match(requested.lower()))
            and commit.startswith(requested.lower()))


def ask_each(ask: Callable[[T], R], items: Sequence[T], *, jobs: int) -> list[R | PtmlockError]:
    """`ask(item)` for every item on at most `jobs` threads, answers put back in `items` order;
    a `PtmlockError` is returned in its item's place (the caller decides which one to raise)."""
    results: list[R | PtmlockError] = []
    if not items:
        return results

    def work(item: T) -> R | PtmlockError:
        try:
            return ask(item)
        except PtmlockError as e:
            return e

    with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(items))), thread_name_prefix="ptmlock-hub") as pool:
        results.extend(pool.map(work, items))
    return results


def check_commit(model_id: str, commit: object, source: str) -> str:
    """Return `commit` if it is a 40-hex commit SHA, else raise `UnsafeHubAnswerError`."""
    if not isinstance(commit, str) or not COMMIT_RE.match(commit):
        raise UnsafeHubAnswerError(
            f"The hub at {source} answered model {model_id!r} with commit {commit!r}, which is not a 40-character "
            "hex SHA. ptmlock refuses to pin it. Check HF_ENDPOINT points at a Hugging Face compatible hub."
        )
    return commit
