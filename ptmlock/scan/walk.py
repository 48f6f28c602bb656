"""Which files `scan_paths` reads: a walk of the given paths by source kind, skipping VCS, cache,
dependency and virtual-environment directories and `exclude` patterns (docs/scan.md)."""
from __future__ import annotations

import errno
import fnmatch
import os
from collections.abc import Collection, Iterable, Iterator, Sequence

from ptmlock.scan.sources import KINDS, PYTHON, kind_of

SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", "__pycache__", "node_modules", "site-packages", "dist-packages",
    ".venv", "venv", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".eggs",
})


def iter_source_files(paths: Iterable[str | os.PathLike[str]], kinds: Collection[str] = KINDS,
                      exclude: Sequence[str] = ()) -> list[tuple[str, str]]:
    """The files `scan_paths` reads, with their source kind (`scan.sources.kind_of`): every file
    of one of `kinds` under each directory, and each file given explicitly (one of no known kind
    is read as Python). Skips VCS, cache, `node_modules`, `site-packages` and virtual-environment
    directories (any directory holding `pyvenv.cfg`) met while walking, and paths matching an
    `exclude` pattern (gitignore-like globs, relative to the walked directory); a directory
    given explicitly is always walked. Raises `FileNotFoundError` for a missing path.
    """
    return [(p, kind) for p, kind, _ in walk_sources(paths, kinds, exclude)]


def walk_sources(paths: Iterable[str | os.PathLike[str]], kinds: Collection[str],
                 exclude: Sequence[str]) -> list[tuple[str, str, str]]:
    """`iter_source_files`, each file with its root: the walked directory (or, for a file given
    explicitly, its own directory), inside which a symbolic link may point (`scan.reading`)."""
    return list(iter_walk(paths, kinds, exclude))


def iter_walk(paths: Iterable[str | os.PathLike[str]], kinds: Collection[str],
              exclude: Sequence[str]) -> Iterator[tuple[str, str, str]]:
    """`walk_sources`, one file at a time (a cold scan starts its workers on the first ones)."""
    seen: set[str] = set()
    for given in paths:
        p = os.path.normpath(os.fspath(given))
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                rel_root = os.path.relpath(root, p) if exclude else ""  # only patterns need it
                dirs[:] = sorted(d for d in dirs if not _skip_dir(root, d)
                                 and not (exclude and excluded(os.path.join(rel_root, d), exclude)))
                for name in sorted(files):
                    kind = kind_of(name)
                    if kind is not None and kind in kinds and not (
                            exclude and excluded(os.path.join(rel_root, name), exclude)):
                        path = os.path.normpath(os.path.join(root, name))
                        key = os.path.normcase(os.path.abspath(path))
                        if key not in seen:
                            seen.add(key)
                            yield path, kind, p
        elif os.path.exists(p):
            key = os.path.normcase(os.path.abspath(p))
            if key not in seen:
                seen.add(key)
                yield p, kind_of(p) or PYTHON, _explicit_root(p)
        else:
            raise FileNotFoundError(errno.ENOENT, "no such file or directory", p)


def _explicit_root(path: str) -> str:
    """Where a file given explicitly may link to: the current directory when the file is in it
    (the project a pre-commit hook runs in), else the file's own directory."""
    here = os.getcwd()
    try:
        inside = os.path.commonpath([os.path.abspath(path), here]) == here
    except ValueError:  # another drive
        inside = False
    return here if inside else (os.path.dirname(path) or ".")


def iter_python_files(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """The Python files under `paths` (see `iter_source_files`)."""
    return [p for p, _ in iter_source_files(paths, kinds=(PYTHON,))]


def excluded(rel: str, patterns: Sequence[str]) -> bool:
    """Whether the relative path `rel` matches one of the gitignore-like `patterns`: a pattern
    with a slash matches from the root (`data/*.json`), one without matches any path component
    or file name (`notebooks`, `*.ipynb`); a trailing slash is ignored."""
    rel = rel.replace(os.sep, "/").removeprefix("./")
    parts = rel.split("/")
    for pattern in patterns:
        pat = pattern.strip().rstrip("/")
        if not pat or pat.startswith("#"):
            continue
        if "/" in pat.lstrip("/"):
            if fnmatch.fnmatchcase(rel, pat.lstrip("/")) or fnmatch.fnmatchcase(rel, pat.lstrip("/") + "/*"):
                return True
        elif any(fnmatch.fnmatchcase(part, pat) for part in parts):
            return True
    return False


def _skip_dir(root: str, name: str) -> bool:
    return (name in SKIP_DIRS or name.endswith(".egg-info")
            or os.path.exists(os.path.join(root, name, "pyvenv.cfg")))
