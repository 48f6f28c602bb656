"""Bare git repositories written and read with plumbing commands.

Blobs go in with `git hash-object -w`, trees with `git mktree`, commits with `git commit-tree`
and refs with `git update-ref`, so every SHA the hub serves is a real git object id that
`git rev-parse` in the bare repository agrees with. Files that `.gitattributes` routes to LFS
(or that are larger than 10 MiB) are committed as LFS pointer files, their bytes kept in an
`LfsStore` as git-lfs lays them out.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from ptmlock.testing._snapshot import (
    LFS_SIZE_THRESHOLD,
    MAX_POINTER_SIZE,
    CommitInfo,
    DirEntry,
    FileEntry,
    GitAttributes,
    LfsInfo,
    LfsStore,
    Snapshot,
    check_repo_path,
    git_blob_id,
    git_sort_key,
    lfs_pointer,
    parse_lfs_pointer,
)


class GitError(RuntimeError):
    """A git plumbing command failed."""


def _git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    # Drop the caller's GIT_* variables (a pre-commit hook sets GIT_INDEX_FILE, for one) and
    # any user or system config, so the hub behaves the same on every machine.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
                "LC_ALL": "C"})
    env.update(extra or {})
    return env


# --- the bare repository -------------------------------------------------------------------------


class GitRepo:
    """A bare git repository driven by plumbing commands."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir

    @classmethod
    def init(cls, git_dir: Path) -> GitRepo:
        git_dir.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(["git", "init", "--bare", "-q", "--template=", "--initial-branch=main", str(git_dir)],
                              capture_output=True, env=_git_env())
        if proc.returncode != 0:
            raise GitError(f"git init {git_dir} failed: {proc.stderr.decode(errors='replace').strip()}")
        return cls(git_dir)

    def run(self, *args: str, input: bytes | None = None, env: Mapping[str, str] | None = None) -> bytes:
        proc = subprocess.run(["git", *args], input=input, capture_output=True,
                              env=_git_env({"GIT_DIR": str(self.git_dir), **(env or {})}))
        if proc.returncode != 0:
            raise GitError(f"git {' '.join(args)} failed in {self.git_dir}: "
                           f"{proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout

    # writing

    def hash_objects(self, blobs: list[bytes]) -> list[str]:
        """Write `blobs` with `git hash-object -w` (one process) and return their ids."""
        if not blobs:
            return []
        if len(blobs) == 1:
            oids = [self.run("hash-object", "-w", "--stdin", input=blobs[0]).decode().strip()]
        else:
            with tempfile.TemporaryDirectory(prefix="hub-blobs-") as tmp:
                paths = []
                for i, data in enumerate(blobs):
                    p = os.path.join(tmp, str(i))
                    with open(p, "wb") as f:
                        f.write(data)
                    paths.append(p)
                out = self.run("hash-object", "-w", "--no-filters", "--stdin-paths",
                               input="".join(p + "\n" for p in paths).encode())
            oids = out.decode().split()
        expected = [git_blob_id(b) for b in blobs]
        if oids != expected:
            raise GitError(f"git hash-object returned {oids}, expected {expected}")
        return oids

    def mktree(self, entries: Iterable[tuple[str, str, str, str]]) -> str:
        """Write a tree from `(mode, type, oid, name)` entries with `git mktree`."""
        text = "".join(f"{mode} {kind} {oid}\t{name}\n" for mode, kind, oid, name in entries)
        return self.run("mktree", input=text.encode()).decode().strip()

    def commit_tree(self, tree: str, parents: Iterable[str], message: str, *, author: str, timestamp: int) -> str:
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        date = f"{timestamp} +0000"
        email = f"{author}@users.noreply.localhub"
        env = {"GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": date,
               "GIT_COMMITTER_NAME": author, "GIT_COMMITTER_EMAIL": email, "GIT_COMMITTER_DATE": date}
        return self.run(*args, "-F", "-", input=message.encode(), env=env).decode().strip()

    def update_ref(self, ref: str, new: str, old: str | None = None) -> None:
        self.run("update-ref", ref, new, *([old] if old else []))

    def delete_ref(self, ref: str) -> None:
        self.run("update-ref", "-d", ref)

    # reading

    def read_refs(self) -> dict[str, str]:
        """Every ref, as full name -> commit id (annotated tags peeled)."""
        out = self.run("for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)")
        refs = {}
        for line in out.decode().splitlines():
            name, oid, peeled = line.split("\0")
            refs[name] = peeled or oid
        return refs

    def all_commits(self) -> set[str]:
        if not self.read_refs():
            return set()
        return set(self.run("rev-list", "--all").decode().split())

    def cat_batch(self, oids: list[str]) -> list[bytes]:
        """Contents of `oids`, in order, from one `git cat-file --batch`."""
        if not oids:
            return []
        out = self.run("cat-file", "--batch", input="".join(o + "\n" for o in oids).encode())
        contents, pos = [], 0
        for oid in oids:
            end = out.index(b"\n", pos)
            header = out[pos:end].split()
            if len(header) < 3:
                raise GitError(f"git cat-file: no object {oid}")
            size = int(header[2])
            contents.append(out[end + 1:end + 1 + size])
            pos = end + 1 + size + 1
        return contents

    def read_blob(self, oid: str) -> bytes:
        return self.run("cat-file", "blob", oid)

    def read_snapshot(self, sha: str) -> Snapshot:
        """Build the snapshot of commit `sha` from the repository (`ls-tree` + `cat-file`)."""
        listing = self.run("ls-tree", "-r", "-t", "-l", "-z", sha).split(b"\0")
        raw: list[tuple[str, str, str, int]] = []  # kind, oid, path, size
        for item in listing:
            if not item:
                continue
            meta, raw_path = item.split(b"\t", 1)
            _, kind, oid, size = meta.decode().split()
            raw.append((kind, oid, raw_path.decode(), int(size) if size != "-" else 0))
        # small blobs may be LFS pointers; the card and .gitattributes are read whatever their size
        wanted = [oid for kind, oid, path, size in raw
                  if kind == "blob" and (size <= MAX_POINTER_SIZE or path in ("README.md", ".gitattributes"))]
        blobs = dict(zip([sha, *wanted], self.cat_batch([sha, *wanted])))
        commit = parse_commit(sha, blobs[sha])
        entries: list[FileEntry | DirEntry] = []
        readme = gitattributes = None
        for kind, oid, path, blob_size in raw:
            if kind == "tree":
                entries.append(DirEntry(path, oid))
            elif kind == "blob":
                data = blobs.get(oid)
                pointer = parse_lfs_pointer(data) if data is not None else None
                if pointer is not None:
                    entries.append(FileEntry(path, oid, pointer[1], LfsInfo(pointer[0], pointer[1], blob_size)))
                else:
                    entries.append(FileEntry(path, oid, blob_size))
                if path == "README.md":
                    readme = data
                elif path == ".gitattributes":
                    gitattributes = data
        return Snapshot(commit, tuple(entries), readme, gitattributes)

    def history(self, sha: str) -> list[CommitInfo]:
        """`sha` and its ancestors, newest first."""
        out = self.run("log", "--format=%H%x00%T%x00%P%x00%an%x00%at%x00%B%x1e", sha).decode()
        commits = []
        for record in out.split("\x1e"):
            record = record.lstrip("\n")
            if not record:
                continue
            h, tree, parents, author, ts, body = record.split("\0", 5)
            title, message = _split_message(body)
            commits.append(CommitInfo(h, tree, tuple(parents.split()), author, int(ts), title, message))
        return commits

    def last_commits(self, sha: str) -> dict[str, str]:
        """For every path (files and directories) at `sha`: the id of the last commit that touched it."""
        out = self.run("log", "--name-only", "--no-renames", "--format=%x01%H", sha).decode()
        last: dict[str, str] = {}
        current = ""
        for line in out.splitlines():
            if line.startswith("\x01"):
                current = line[1:]
            elif line:
                parts = line.split("/")
                for i in range(1, len(parts) + 1):
                    last.setdefault("/".join(parts[:i]), current)
        return last


def _split_message(body: str) -> tuple[str, str]:
    body = body.strip("\n")
    title, _, rest = body.partition("\n")
    return title.strip(), rest.strip("\n")


def parse_commit(sha: str, raw: bytes) -> CommitInfo:
    """Parse a raw commit object (as `git cat-file commit` prints it)."""
    head, _, body = raw.decode("utf-8", errors="replace").partition("\n\n")
    tree, parents, author, timestamp = "", [], "", 0
    for line in head.splitlines():
        key, _, value = line.partition(" ")
        if key == "tree":
            tree = value
        elif key == "parent":
            parents.append(value)
        elif key == "author":
            m = re.match(r"(.*) <[^>]*> (\d+) [+-]\d{4}$", value)
            if m:
                author, timestamp = m.group(1), int(m.group(2))
    title, message = _split_message(body)
    return CommitInfo(sha, tree, tuple(parents), author, timestamp, title, message)


# --- writing a commit ----------------------------------------------------------------------------


def write_commit(
    repo: GitRepo,
    lfs: LfsStore,
    parent: Snapshot | None,
    files: Mapping[str, bytes],
    delete: Iterable[str],
    *,
    message: str,
    author: str,
    timestamp: int,
) -> Snapshot:
    """Write a commit on top of `parent` that adds/replaces `files` and removes `delete`.

    Returns the new commit's snapshot; moving a ref to it is the caller's job. Raises
    ValueError for an unsafe path, a file/directory clash or a deletion of a missing path.
    """
    current: dict[str, FileEntry] = dict(parent.files) if parent else {}
    for target in delete:
        target = check_repo_path(target.rstrip("/"))
        doomed = [p for p in current if p == target or p.startswith(target + "/")]
        if not doomed:
            raise ValueError(f"cannot delete {target!r}: no such file or directory")
        for p in doomed:
            del current[p]

    attributes_text = files.get(".gitattributes", parent.gitattributes if parent else None)
    attributes = GitAttributes((attributes_text or b"").decode("utf-8", errors="replace"))
    paths = [check_repo_path(p) for p in files]
    blobs: list[bytes] = []
    infos: list[LfsInfo | None] = []
    for path in paths:
        data = files[path]
        pointer = parse_lfs_pointer(data)
        if pointer is not None:  # an LFS pointer committed as such: keep it
            blobs.append(data)
            infos.append(LfsInfo(pointer[0], pointer[1], len(data)))
        elif attributes.is_lfs(path) or len(data) > LFS_SIZE_THRESHOLD:
            sha256 = lfs.store(data)
            pointer_bytes = lfs_pointer(sha256, len(data))
            blobs.append(pointer_bytes)
            infos.append(LfsInfo(sha256, len(data), len(pointer_bytes)))
        else:
            blobs.append(data)
            infos.append(None)
    for path, oid, data, info in zip(paths, repo.hash_objects(blobs), blobs, infos):
        current[path] = FileEntry(path, oid, info.size if info else len(data), info)

    dirs: dict[str, list[tuple[str, str, str, str]]] = {"": []}
    for path in current:
        parts = path.split("/")
        for i in range(1, len(parts)):
            dirs.setdefault("/".join(parts[:i]), [])
    for path, entry in current.items():
        if path in dirs:
            raise ValueError(f"{path!r} is both a file and a directory")
        parent_dir, _, name = path.rpartition("/")
        dirs[parent_dir].append(("100644", "blob", entry.oid, name))
    tree_ids: dict[str, str] = {}
    for d in sorted(dirs, key=lambda d: -d.count("/") if d else 1):  # deepest first, root last
        tree_ids[d] = repo.mktree(dirs[d])
        if d:
            parent_dir, _, name = d.rpartition("/")
            dirs[parent_dir].append(("040000", "tree", tree_ids[d], name))

    sha = repo.commit_tree(tree_ids[""], [parent.commit.sha] if parent else [], message,
                           author=author, timestamp=timestamp)
    title, body = _split_message(message)
    entries: list[FileEntry | DirEntry] = [*current.values(), *(DirEntry(d, tree_ids[d]) for d in dirs if d)]
    entries.sort(key=lambda e: git_sort_key(e.path, isinstance(e, DirEntry)))
    readme = files.get("README.md", parent.readme if parent else None) if "README.md" in current else None
    return Snapshot(
        CommitInfo(sha, tree_ids[""], (parent.commit.sha,) if parent else (), author, timestamp, title, body),
        tuple(entries),
        readme,
        attributes_text if ".gitattributes" in current else None,
    )
