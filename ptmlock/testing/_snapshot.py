"""What the hub knows about one commit, and the LFS and .gitattributes rules behind it.

A `Snapshot` is everything the hub answers about one commit: its metadata and its files and
directories in git order, with LFS facts for pointer files. Commits are immutable, so a snapshot
is built once (while committing, or read back from git) and cached by commit id.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ptmlock.testing._card import parse_front_matter

LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
_LFS_VERSION = b"version https://git-lfs.github.com/spec/v1\n"
_LFS_POINTER_RE = re.compile(
    rb"version https://git-lfs\.github\.com/spec/v1\noid sha256:([0-9a-f]{64})\nsize (\d+)\n\Z")
MAX_POINTER_SIZE = 1024

# The .gitattributes huggingface.co writes into every new repo (models and datasets share it here).
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gguf", "*.gz", "*.h5", "*.joblib",
        "*.lfs.*", "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot", "*.parquet",
        "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors", "saved_model/**/*",
        "*.tar.*", "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip", "*.zst", "*tfevents*",
    )
)


def git_blob_id(data: bytes) -> str:
    """The git object id of a blob with this content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The LFS pointer file git stores in place of a file with this sha256 and size."""
    return _LFS_VERSION + f"oid sha256:{sha256}\nsize {size}\n".encode()


def parse_lfs_pointer(data: bytes) -> tuple[str, int] | None:
    """`(sha256, size)` if `data` is an LFS pointer file, else None."""
    if len(data) > MAX_POINTER_SIZE or not data.startswith(_LFS_VERSION):
        return None
    m = _LFS_POINTER_RE.match(data)
    return (m.group(1).decode(), int(m.group(2))) if m else None


def check_repo_path(path: str) -> str:
    """`path` if it is a safe relative file path inside a repo; raises ValueError otherwise."""
    parts = path.split("/")
    if (not path or path.startswith("/") or any(p in ("", ".", "..", ".git") for p in parts)
            or any(c in path for c in "\0\n\r\\")):
        raise ValueError(f"invalid path in repo: {path!r}")
    return path


def git_sort_key(path: str, is_dir: bool = False) -> tuple[bytes, ...]:
    """Sort key that reproduces git's recursive tree order (`ls-tree -r -t`).

    Within a tree git compares names byte-wise with directory names suffixed by '/'.
    """
    parts = path.split("/")
    return (*((p + "/").encode() for p in parts[:-1]), (parts[-1] + ("/" if is_dir else "")).encode())


# --- .gitattributes ------------------------------------------------------------------------------


def _glob_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1:end]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


class GitAttributes:
    """The `filter=lfs` rules of a `.gitattributes` file (the last matching line wins, as in git)."""

    def __init__(self, text: str) -> None:
        self._rules: list[tuple[re.Pattern[str], bool, bool]] = []
        for line in text.splitlines():
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            pattern, attrs = fields[0], fields[1:]
            lfs: bool | None = None
            for attr in attrs:
                if attr == "filter=lfs":
                    lfs = True
                elif attr.startswith("filter=") or attr in ("-filter", "!filter"):
                    lfs = False
            if lfs is None:
                continue
            anchored = "/" in pattern.rstrip("/")
            self._rules.append((_glob_regex(pattern.lstrip("/")), anchored, lfs))

    def is_lfs(self, path: str) -> bool:
        """Whether git-lfs would store `path`."""
        result = False
        for regex, anchored, lfs in self._rules:
            if regex.match(path if anchored else path.rsplit("/", 1)[-1]):
                result = lfs
        return result


# --- snapshots -----------------------------------------------------------------------------------


class LfsInfo(NamedTuple):
    """LFS facts of a file: the content's sha256 and size, and the size of its pointer blob."""

    sha256: str
    size: int
    pointer_size: int


class FileEntry(NamedTuple):
    """A file at a commit: `oid` is the git blob id (of the pointer, for LFS), `size` the real size."""

    path: str
    oid: str
    size: int
    lfs: LfsInfo | None = None


class DirEntry(NamedTuple):
    """A directory at a commit, with its git tree id."""

    path: str
    oid: str


class CommitInfo(NamedTuple):
    """A commit's metadata; `timestamp` is seconds since the epoch (UTC)."""

    sha: str
    tree: str
    parents: tuple[str, ...]
    author: str
    timestamp: int
    title: str
    message: str


@dataclass(frozen=True)
class Snapshot:
    """Everything served about one commit: its metadata and its files and directories in git order."""

    commit: CommitInfo
    entries: tuple[FileEntry | DirEntry, ...]
    readme: bytes | None
    gitattributes: bytes | None

    @functools.cached_property
    def files(self) -> dict[str, FileEntry]:
        return {e.path: e for e in self.entries if isinstance(e, FileEntry)}

    @functools.cached_property
    def dirs(self) -> dict[str, DirEntry]:
        return {e.path: e for e in self.entries if isinstance(e, DirEntry)}

    @functools.cached_property
    def card(self) -> dict[str, Any]:
        if self.readme is None:
            return {}
        return parse_front_matter(self.readme.decode("utf-8", errors="replace"))


# --- LFS object store ----------------------------------------------------------------------------


class LfsStore:
    """Content-addressed LFS objects under `<root>/objects/<aa>/<bb>/<sha256>`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / "objects" / sha256[:2] / sha256[2:4] / sha256

    def store(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        dest = self.path(sha256)
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, dest)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        return sha256
