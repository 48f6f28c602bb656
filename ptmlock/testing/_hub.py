"""`HubStore`: the git-backed model and dataset repos a `LocalHub` serves, and their state."""
from __future__ import annotations

import hashlib
import itertools
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, cast

from ptmlock.testing._cache import ReadCache
from ptmlock.testing._faults import RequestLog
from ptmlock.testing._git import GitRepo, write_commit
from ptmlock.testing._registry import (
    Gated,
    Repo,
    check_repo_id,
    check_repo_type,
    key,
    load_registry,
    ref_name,
    save_registry,
)
from ptmlock.testing._snapshot import (
    DEFAULT_GITATTRIBUTES,
    LfsStore,
    Snapshot,
)

_HEX_RE = re.compile(r"^[0-9a-f]{7,40}$")
_STATE_FILE = "state"
_BUMPS = itertools.count()  # with pid and clock: no two writes of the state file are alike


def _signature(path: Path) -> bytes | None:
    """What identifies one write of `path`: its content, the writer's pid and a nanosecond clock.
    (Not its inode and mtime: a replaced file's inode is reused, and the file system's clock is
    coarser than two bumps apart, so a change could look like the state already seen.)"""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


_EPOCH = 1704067200  # 2024-01-01T00:00:00Z: commit dates are this plus a per-repo offset plus a counter


class HubStore(RequestLog, ReadCache):
    """The hub's state: repos stored as bare git repositories under `root`, their refs, access
    settings, faults and the request log; everything the server answers from. `LocalHub`
    (`_local.py`) adds the server itself, so the server modules can name this type without an
    import cycle. The attributes are documented on `LocalHub`."""

    def __init__(self, root: str | os.PathLike[str], *, port: int = 0) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.tokens: set[str] = set()
        self.latency = 0.0
        self.tree_page_size = 1000
        self.commits_page_size = 50
        self.mirror_mode: Literal["full", "partial"] = "full"
        self.server_errors: list[str] = []
        self._lock = threading.RLock()
        RequestLog.__init__(self)
        self._lfs = LfsStore(self.root / "lfs")
        self._repos: dict[str, Repo] = {}
        self._aliases: dict[str, str] = {}  # "type:old id" -> new id
        self._folded: dict[str, str] = {}  # "type:lowercased id" -> id
        ReadCache.__init__(self)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._seen = _signature(self.root / _STATE_FILE)
        self._repos, self._aliases = load_registry(self.root)
        self._folded.update({key(r.repo_type, r.repo_id.lower()): r.repo_id for r in self._repos.values()})

    # --- lifecycle --------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """`http://127.0.0.1:PORT`; raises RuntimeError when the hub is not started."""
        if self._server is None:
            raise RuntimeError("LocalHub is not started: call start() or use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- repos ------------------------------------------------------------------------------------

    def create_repo(self, repo_id: str, *, repo_type: str = "model", private: bool = False,
                    gated: bool | Gated = False, exist_ok: bool = False) -> str:
        """Create a bare repo with an initial commit holding the Hub's default `.gitattributes`.

        Returns the initial commit's sha (the current `main` if the repo exists and `exist_ok`).
        Raises ValueError if the repo exists and not `exist_ok`, or the id is invalid.
        """
        rtype = check_repo_type(repo_type)
        with self._lock:
            existing = self._repos.get(key(rtype, repo_id))
            if existing is not None:
                if not exist_ok:
                    raise ValueError(f"{rtype} repo {repo_id!r} already exists")
                return self.resolve(repo_id, "main", repo_type=rtype)
            check_repo_id(repo_id)
            git_dir = self.root / f"{rtype}s" / f"{repo_id}.git"
            repo = Repo(rtype, repo_id, GitRepo.init(git_dir), private, self._gated(gated), refs={})
            timestamp = _EPOCH + int(hashlib.sha256(key(rtype, repo_id).encode()).hexdigest()[:8], 16) % (
                180 * 86400) // 60 * 60
            snap = write_commit(repo.git, self._lfs, None, {".gitattributes": DEFAULT_GITATTRIBUTES.encode()}, (),
                                message="initial commit", author="system", timestamp=timestamp)
            repo.created = timestamp
            self._set_ref(repo, "refs/heads/main", snap)
            self._repos[key(rtype, repo_id)] = repo
            self._folded[key(rtype, repo_id.lower())] = repo_id
            self._save()
            return snap.commit.sha

    def commit(self, repo_id: str, files: Mapping[str, bytes | str], *, message: str = "Upload files",
               branch: str = "main", repo_type: str = "model", delete: Iterable[str] = (),
               author: str = "user") -> str:
        """Commit `files` (path -> bytes; str is utf-8 encoded) to `branch` and return the commit sha.

        Creates the repo if it does not exist, and the branch (from `main`) if it does not exist;
        `branch` may also be a full ref such as `refs/pr/1`. Paths in `delete` (files or whole
        folders) are removed. Files that `.gitattributes` marks `filter=lfs`, or larger than 10 MiB,
        are stored as LFS. Commit dates are deterministic, so identical builds give identical SHAs.
        """
        rtype = check_repo_type(repo_type)
        encoded = {p: (v.encode() if isinstance(v, str) else bytes(v)) for p, v in files.items()}
        with self._lock:
            if key(rtype, repo_id) not in self._repos:
                self.create_repo(repo_id, repo_type=rtype)
            repo = self._repo(repo_id, rtype)
            refs = self._refs(repo)
            ref = ref_name(branch, "heads")
            head = refs.get(ref) or refs.get("refs/heads/main")
            parent = self.snapshot(repo, head) if head else None
            timestamp = parent.commit.timestamp + 60 if parent else repo.created
            snap = write_commit(repo.git, self._lfs, parent, encoded, delete, message=message, author=author,
                                timestamp=timestamp)
            self._set_ref(repo, ref, snap)
            return snap.commit.sha

    def create_branch(self, repo_id: str, branch: str, *, revision: str = "main", repo_type: str = "model",
                      exist_ok: bool = False) -> str:
        """Create `branch` at `revision`; returns its commit sha. Raises ValueError if it exists."""
        return self._create_ref(repo_id, ref_name(branch, "heads"), revision, repo_type, exist_ok)

    def create_tag(self, repo_id: str, tag: str, *, revision: str = "main", repo_type: str = "model",
                   exist_ok: bool = False) -> str:
        """Create the (lightweight) tag `tag` at `revision`; returns its commit sha."""
        return self._create_ref(repo_id, ref_name(tag, "tags"), revision, repo_type, exist_ok)

    def move_branch(self, repo_id: str, branch: str, revision: str, *, repo_type: str = "model") -> str:
        """Point `branch` at `revision` (creating it if needed), like a force push; returns the sha."""
        return self._create_ref(repo_id, ref_name(branch, "heads"), revision, repo_type, True)

    def delete_branch(self, repo_id: str, branch: str, *, repo_type: str = "model") -> None:
        """Delete `branch`; raises KeyError if it does not exist."""
        self._delete_ref(repo_id, ref_name(branch, "heads"), repo_type)

    def delete_tag(self, repo_id: str, tag: str, *, repo_type: str = "model") -> None:
        """Delete `tag`; raises KeyError if it does not exist."""
        self._delete_ref(repo_id, ref_name(tag, "tags"), repo_type)

    def rename(self, old_id: str, new_id: str, *, repo_type: str = "model") -> None:
        """Move a repo to `new_id`; requests for `old_id` are redirected (307) to the new id, as on the Hub.

        If only `new_id` exists (it was created under its new name), this just records the old name.
        """
        rtype = check_repo_type(repo_type)
        check_repo_id(new_id)
        with self._lock:
            old = self._repos.get(key(rtype, old_id))
            new = self._repos.get(key(rtype, new_id))
            if old is not None and new is not None:
                raise ValueError(f"cannot rename {old_id!r} to {new_id!r}: both exist")
            if old is None and new is None:
                raise KeyError(f"no {rtype} repo {old_id!r} or {new_id!r}")
            if old is not None:
                git_dir = self.root / f"{rtype}s" / f"{new_id}.git"
                git_dir.parent.mkdir(parents=True, exist_ok=True)
                os.replace(old.git.git_dir, git_dir)
                old.git = GitRepo(git_dir)
                old.repo_id = new_id
                del self._repos[key(rtype, old_id)]
                self._folded.pop(key(rtype, old_id.lower()), None)
                self._repos[key(rtype, new_id)] = old
                self._folded[key(rtype, new_id.lower())] = new_id
            self._aliases[key(rtype, old_id)] = new_id
            self._save()

    def set_gated(self, repo_id: str, gated: bool | Gated = True, *, repo_type: str = "model") -> None:
        """Gate a repo (`True` means `"auto"`): info stays public, downloads need a valid token."""
        with self._lock:
            self._repo(repo_id, repo_type).gated = self._gated(gated)
            self._save()

    def set_private(self, repo_id: str, private: bool = True, *, repo_type: str = "model") -> None:
        """Make a repo private: without a valid token it answers 401/404 RepoNotFound."""
        with self._lock:
            self._repo(repo_id, repo_type).private = private
            self._save()

    def resolve(self, repo_id: str, revision: str = "main", *, repo_type: str = "model") -> str:
        """The commit sha `revision` resolves to; raises KeyError if the repo or revision is unknown."""
        repo = self._repo(repo_id, repo_type)
        sha = self.resolve_revision(repo, revision)
        if sha is None:
            raise KeyError(f"no revision {revision!r} in {repo_type} repo {repo_id!r}")
        return sha

    def repo_path(self, repo_id: str, *, repo_type: str = "model") -> Path:
        """The bare git repository of a repo (for `git -C <path> rev-parse main`)."""
        return self._repo(repo_id, repo_type).git.git_dir

    def lfs_path(self, sha256: str) -> Path:
        """Where the LFS object with this sha256 is stored."""
        return self._lfs.path(sha256)

    # --- lookups for the server -------------------------------------------------------------------

    def lookup(self, repo_type: str, repo_id: str) -> tuple[Repo | None, str | None]:
        """`(repo, None)` for a known id, `(None, canonical id)` for a renamed or mis-cased one."""
        self.reload_if_changed()
        repo = self._repos.get(key(repo_type, repo_id))
        if repo is not None:
            return repo, None
        target = self._aliases.get(key(repo_type, repo_id))
        seen = set()
        while target is not None and target not in seen:
            seen.add(target)
            if key(repo_type, target) in self._repos:
                return None, target
            target = self._aliases.get(key(repo_type, target))
        folded = self._folded.get(key(repo_type, repo_id.lower()))
        return None, folded

    def repos(self, repo_type: str = "model") -> list[Repo]:
        """The repos of `repo_type`, by id (what `GET /api/models` and `serve` list)."""
        self.reload_if_changed()
        return sorted((r for r in self._repos.values() if r.repo_type == repo_type), key=lambda r: r.repo_id)

    def knows(self, repo_type: str, repo_id: str) -> bool:
        repo, target = self.lookup(repo_type, repo_id)
        return repo is not None or target is not None

    def resolve_revision(self, repo: Repo, revision: str) -> str | None:
        """Resolve a branch, tag, `refs/...` name, full sha or unique short sha (>= 7 hex) to a commit."""
        refs = self._refs(repo)
        for name in (f"refs/heads/{revision}", f"refs/tags/{revision}", revision if revision.startswith(
                "refs/") else None):
            if name and name in refs:
                return refs[name]
        if _HEX_RE.match(revision):
            matches = [c for c in repo.commits if c.startswith(revision)]
            if len(matches) == 1:
                return matches[0]
        return None

    def refs_of(self, repo: Repo) -> dict[str, str]:
        return dict(self._refs(repo))

    # --- internals --------------------------------------------------------------------------------

    @staticmethod
    def _gated(gated: bool | str) -> Gated:
        if gated is True:
            return "auto"
        if gated in ("auto", "manual"):
            return cast(Gated, gated)
        if gated is False:
            return False
        raise ValueError(f"gated must be True, False, 'auto' or 'manual', not {gated!r}")

    def _save(self) -> None:
        save_registry(self.root, self._repos, self._aliases)
        self._bump()

    def _bump(self) -> None:
        """Record a change under `root` (its `state` file is replaced), so that another `LocalHub`
        on the same root, e.g. a running `python -m ptmlock.testing serve`, reloads (issue 17)."""
        marker = self.root / _STATE_FILE
        tmp = marker.with_name(f".{_STATE_FILE}.{os.getpid()}.{threading.get_ident()}")
        content = f"{os.getpid()} {threading.get_ident()} {time.time_ns()} {next(_BUMPS)}\n".encode()
        tmp.write_bytes(content)
        os.replace(tmp, marker)
        self._seen = content  # what this one wrote: a change another process makes after it still differs

    def reload_if_changed(self) -> bool:
        """Re-read repos, refs and settings from `root` when another `LocalHub` (another process,
        or `python -m ptmlock.testing commit/branch/tag`) changed them; True if it reloaded.
        Called on every lookup, so a running server serves the new state at once."""
        seen = _signature(self.root / _STATE_FILE)
        if seen == self._seen:
            return False
        with self._lock:
            if seen == self._seen:
                return False
            # Marked seen only once the new state is in place: a request on another thread that
            # finds the state changed waits for the lock, never answers from the old repos (it did:
            # `outdated`'s parallel requests read a moved branch at its old commit).
            repos, aliases = load_registry(self.root)  # new Repo objects: refs re-read lazily
            self._repos, self._aliases = repos, aliases
            self._folded = {key(r.repo_type, r.repo_id.lower()): r.repo_id for r in repos.values()}
            self._seen = seen
            return True

    def _repo(self, repo_id: str, repo_type: str) -> Repo:
        self.reload_if_changed()
        repo = self._repos.get(key(check_repo_type(repo_type), repo_id))
        if repo is None:
            raise KeyError(f"no {repo_type} repo {repo_id!r} on this hub")
        return repo

    def _refs(self, repo: Repo) -> dict[str, str]:
        refs = repo.refs
        if refs is None:
            with self._lock:
                if repo.refs is None:
                    repo.commits = repo.git.all_commits()
                    repo.refs = repo.git.read_refs()
                refs = repo.refs
        return refs

    def _set_ref(self, repo: Repo, ref: str, snap: Snapshot) -> None:
        refs = self._refs(repo)
        repo.git.update_ref(ref, snap.commit.sha, refs.get(ref))
        self._snapshots[snap.commit.sha] = snap
        repo.commits.add(snap.commit.sha)
        repo.refs = {**refs, ref: snap.commit.sha}  # copy on write: readers never see a dict mid-update
        self._bump()

    def _create_ref(self, repo_id: str, ref: str, revision: str, repo_type: str, exist_ok: bool) -> str:
        with self._lock:
            repo = self._repo(repo_id, repo_type)
            refs = self._refs(repo)
            if ref in refs and not exist_ok:
                raise ValueError(f"{ref} already exists in {repo_id!r}")
            sha = self.resolve_revision(repo, revision)
            if sha is None:
                raise KeyError(f"no revision {revision!r} in {repo_type} repo {repo_id!r}")
            self._set_ref(repo, ref, self.snapshot(repo, sha))
            return sha

    def _delete_ref(self, repo_id: str, ref: str, repo_type: str) -> None:
        with self._lock:
            repo = self._repo(repo_id, repo_type)
            refs = self._refs(repo)
            if ref not in refs:
                raise KeyError(f"no {ref} in {repo_id!r}")
            repo.git.delete_ref(ref)
            repo.refs = {k: v for k, v in refs.items() if k != ref}
            self._bump()
