"""The repos a `LocalHub` root holds, and their settings in `<root>/hub.json`.

Bare repositories live at `<root>/models/<id>.git` and `<root>/datasets/<id>.git`; `hub.json`
keeps what git cannot: privacy, gating, creation dates and the old names of renamed repos.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ptmlock.testing._git import GitRepo

RepoType = Literal["model", "dataset"]
Gated = Literal[False, "auto", "manual"]
REPO_TYPES: tuple[RepoType, ...] = ("model", "dataset")

_REPO_ID_RE = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9_.-]*/)?[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class Repo:
    """One hosted repo: its bare git repository, access settings and (lazily loaded) refs."""

    repo_type: RepoType
    repo_id: str
    git: GitRepo
    private: bool = False
    gated: Gated = False
    created: int = 0
    refs: dict[str, str] | None = None  # full ref name -> commit sha; loaded lazily
    commits: set[str] = field(default_factory=set)


def key(repo_type: str, repo_id: str) -> str:
    """The registry key of a repo: `"model:org/name"`."""
    return f"{repo_type}:{repo_id}"


def check_repo_type(repo_type: str) -> RepoType:
    """`repo_type` if it is "model" or "dataset"; raises ValueError otherwise."""
    for known in REPO_TYPES:
        if repo_type == known:
            return known
    raise ValueError(f"repo_type must be 'model' or 'dataset', not {repo_type!r}")


def check_repo_id(repo_id: str) -> str:
    """`repo_id` if the Hub would accept it (`name` or `namespace/name`); raises ValueError otherwise."""
    if not _REPO_ID_RE.match(repo_id) or "--" in repo_id or ".." in repo_id or repo_id.endswith(".git"):
        raise ValueError(f"invalid repo id: {repo_id!r}")
    return repo_id


def ref_name(name: str, kind: str) -> str:
    """The full ref of a branch or tag name (`kind` is "heads" or "tags"); full refs pass through."""
    if name.startswith("refs/"):
        return name
    return f"refs/{kind}/{name}"


def load_registry(root: Path) -> tuple[dict[str, Repo], dict[str, str]]:
    """The repos found under `root` (by key) and the aliases of renamed repos (old key -> new id)."""
    meta_path = root / "hub.json"
    meta: dict[str, Any] = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    settings: dict[str, Any] = meta.get("repos", {})
    repos: dict[str, Repo] = {}
    for rtype in REPO_TYPES:
        base = root / f"{rtype}s"
        if not base.is_dir():
            continue
        for git_dir in sorted([*base.glob("*.git"), *base.glob("*/*.git")]):
            repo_id = git_dir.relative_to(base).as_posix()[:-len(".git")]
            s = settings.get(key(rtype, repo_id), {})
            repos[key(rtype, repo_id)] = Repo(rtype, repo_id, GitRepo(git_dir), bool(s.get("private")),
                                              s.get("gated", False), int(s.get("created", 0)))
    return repos, dict(meta.get("aliases", {}))


def save_registry(root: Path, repos: dict[str, Repo], aliases: dict[str, str]) -> None:
    """Write `<root>/hub.json` atomically."""
    meta = {
        "repos": {k: {"private": r.private, "gated": r.gated, "created": r.created} for k, r in sorted(repos.items())},
        "aliases": dict(sorted(aliases.items())),
    }
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".hub.json.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(meta, f, indent=2)
        os.replace(tmp, root / "hub.json")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
