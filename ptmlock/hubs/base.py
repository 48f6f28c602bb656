"""The small interface every hub backend implements, and the commit check they share
(the Hugging Face answer checks are in `answers.py`)."""
from __future__ import annotations

from typing import Protocol

from ptmlock.errors import UnsafeHubAnswerError
from ptmlock.lockfile.model import COMMIT_RE, LockedModel
from ptmlock.manifest.model import ModelSpec


class Backend(Protocol):
    """Resolves one declared model to a `LockedModel` pinned to an immutable commit."""

    def resolve(self, spec: ModelSpec) -> LockedModel:
        """Ask the hub; raise a `HubError` or `UnsafeHubAnswerError` subclass on failure."""
        ...


def check_commit(model_id: str, commit: object, source: str) -> str:
    """Return `commit` if it is a 40-hex commit SHA, else raise `UnsafeHubAnswerError`."""
    if not isinstance(commit, str) or not COMMIT_RE.match(commit):
        raise UnsafeHubAnswerError(
            f"The hub at {source} answered model {model_id!r} with commit {commit!r}, which is not a 40-character "
            "hex SHA. ptmlock refuses to pin it. Check HF_ENDPOINT points at a Hugging Face compatible hub."
        )
    return commit
