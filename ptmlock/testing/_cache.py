"""What `LocalHub` caches between requests: snapshots, histories and small blobs by commit or
object id. Ids name their content, so entries never go stale, even when refs move."""
from __future__ import annotations

import threading

from ptmlock.testing._registry import Repo
from ptmlock.testing._snapshot import CommitInfo, Snapshot


class ReadCache:
    """Snapshot, history, last-commit and blob caches keyed by sha (a mixin of `LocalHub`)."""

    _log_lock: threading.Lock

    def __init__(self) -> None:
        self._snapshots: dict[str, Snapshot] = {}
        self._histories: dict[str, list[CommitInfo]] = {}
        self._last_commits: dict[str, dict[str, str]] = {}
        self._blobs: dict[str, bytes] = {}
        self._blob_bytes = 0

    def snapshot(self, repo: Repo, sha: str) -> Snapshot:
        """The (cached) snapshot of commit `sha`; a commit id names its content, so any repo's cache entry fits."""
        snap = self._snapshots.get(sha)
        if snap is None:
            snap = repo.git.read_snapshot(sha)
            self._snapshots[sha] = snap
        return snap

    def history(self, repo: Repo, sha: str) -> list[CommitInfo]:
        hist = self._histories.get(sha)
        if hist is None:
            hist = self._histories[sha] = repo.git.history(sha)
        return hist

    def last_commits(self, repo: Repo, sha: str) -> dict[str, str]:
        last = self._last_commits.get(sha)
        if last is None:
            last = self._last_commits[sha] = repo.git.last_commits(sha)
        return last

    def blob(self, repo: Repo, oid: str) -> bytes:
        data = self._blobs.get(oid)
        if data is None:
            data = repo.git.read_blob(oid)
            if len(data) <= 1 << 20:
                with self._log_lock:
                    if self._blob_bytes > 64 << 20:
                        self._blobs.clear()
                        self._blob_bytes = 0
                    self._blobs[oid] = data
                    self._blob_bytes += len(data)
        return data
