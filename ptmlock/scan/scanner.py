"""Find model loads in Python source, statically: the code is parsed with `ast`, never run.

`scan_source(path, text)` is pure: one file's text in, its findings out. `scan_paths(paths)`
walks directories, skips files a substring test rules out, answers unchanged files from a
content-addressed cache, and parses the rest on all cores. What counts as a load, how model ids
are resolved, and the JSON shape of a finding are documented in docs/scan.md.
"""
from __future__ import annotations

import ast
import codecs
import contextlib
import errno
import fnmatch
import hashlib
import io
import os
import re
import tokenize
import warnings
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ptmlock.scan.analyze import analyze_module
from ptmlock.scan.cache import Cache as _Cache
from ptmlock.scan.loaders import may_contain_load, quick_bytes_test
from ptmlock.scan.reading import read_regular
from ptmlock.scan.sources import (
    CONFIG,
    KINDS,
    NOTEBOOK,
    PYTHON,
    SHELL,
    kind_of,
    scan_config,
    scan_notebook,
    scan_shell,
)
from ptmlock.scan.types import Finding, ScanStats
from ptmlock.scan.wrappers import Wrapper, calls_to_wrappers

__all__ = ["Finding", "ScanStats", "default_cache_dir", "iter_python_files", "scan_paths", "scan_source"]

# Bump when the findings for the same bytes change, so that old cache entries are not reused.
_CACHE_PERSON = b"ptmlock-scan"

SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", "__pycache__", "node_modules", "site-packages", "dist-packages",
    ".venv", "venv", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".eggs",
})
_MIN_FILES_FOR_POOL = 16
# the pre-filter for configs and shell scripts: every pattern of `scan.sources` needs one of these
_OTHER_NEEDLES = re.compile(rb"--model|model_name|model_id|base_model|tokenizer_name|download|from_pretrained")

_FILTERED, _PARSED, _SYNTAX_ERROR = "filtered", "parsed", "syntax_error"

_WorkItem = tuple[int, str, str, bytes, str]          # (index, path, cache key, bytes, source kind)
_WorkResult = tuple[int, list[Finding], str, list[Wrapper]]  # (index, findings, status, wrappers)


def scan_source(path: str, text: str) -> list[Finding]:
    """The model loads in one file's source text, in source order. Pure: no I/O.

    `path` is only copied into the findings. A file that does not parse (a syntax error, a
    null byte) gives an empty list; nothing is raised. Use `scan_paths` to also count those.
    """
    return _scan_text(path, text)[0]


def _scan_text(path: str, text: str, kind: str = PYTHON) -> tuple[list[Finding], str, list[Wrapper]]:
    if text.startswith("\ufeff"):
        text = text[1:]
    if kind == NOTEBOOK:
        return scan_notebook(path, text, scan_source), _PARSED, []
    if kind == CONFIG:
        return scan_config(path, text), _PARSED, []
    if kind == SHELL:
        return scan_shell(path, text), _PARSED, []
    if not may_contain_load(text):
        return [], _FILTERED, []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes etc. are the scanned code's business
            tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return [], _SYNTAX_ERROR, []
    try:
        return _analyzed(tree, text, path)
    except RecursionError:  # absurdly nested expressions: give up on this file, not the scan
        return [], _PARSED, []


def _analyzed(tree: ast.Module, text: str, path: str) -> tuple[list[Finding], str, list[Wrapper]]:
    findings, wrappers = analyze_module(tree, text, path)
    return findings, _PARSED, wrappers


def decode_source(data: bytes) -> str:
    """Bytes of a Python file as text: UTF-8, a BOM, or a PEP 263 `coding:` cookie; never raises
    (undecodable bytes become U+FFFD, which cannot hide a load)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", "replace")
    head = data[:400].split(b"\n", 2)[:2]
    if not any(b"coding" in line for line in head):
        with contextlib.suppress(UnicodeDecodeError):
            return data.decode("utf-8")
    try:
        encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
        return data.decode(encoding, "replace")
    except (SyntaxError, LookupError):
        return data.decode("utf-8", "replace")


def default_cache_dir() -> str:
    """`<user cache dir>/ptmlock/scan` (platformdirs), where `scan_paths` keeps its cache."""
    import platformdirs

    return os.path.join(platformdirs.user_cache_dir("ptmlock"), "scan")


def iter_source_files(paths: Iterable[str | os.PathLike[str]], kinds: Collection[str] = KINDS,
                      exclude: Sequence[str] = ()) -> list[tuple[str, str]]:
    """The files `scan_paths` reads, with their source kind (`scan.sources.kind_of`): every file
    of one of `kinds` under each directory, and each file given explicitly (one of no known kind
    is read as Python). Skips VCS, cache, `node_modules`, `site-packages` and virtual-environment
    directories (any directory holding `pyvenv.cfg`) met while walking, and paths matching an
    `exclude` pattern (gitignore-like globs, relative to the walked directory); a directory
    given explicitly is always walked. Raises `FileNotFoundError` for a missing path.
    """
    return [(p, kind) for p, kind, _ in _walk(paths, kinds, exclude)]


def _walk(paths: Iterable[str | os.PathLike[str]], kinds: Collection[str],
          exclude: Sequence[str]) -> list[tuple[str, str, str]]:
    """`iter_source_files`, each file with its root: the walked directory (or, for a file given
    explicitly, its own directory), inside which a symbolic link may point (`scan.reading`)."""
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()

    def add(p: str, kind: str, root: str) -> None:
        key = os.path.normcase(os.path.abspath(p))
        if key not in seen:
            seen.add(key)
            out.append((p, kind, root))

    for given in paths:
        p = os.path.normpath(os.fspath(given))
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                rel_root = os.path.relpath(root, p)
                dirs[:] = sorted(d for d in dirs if not _skip_dir(root, d)
                                 and not excluded(os.path.join(rel_root, d), exclude))
                for name in sorted(files):
                    kind = kind_of(name)
                    if kind is not None and kind in kinds and not excluded(os.path.join(rel_root, name), exclude):
                        add(os.path.normpath(os.path.join(root, name)), kind, p)
        elif os.path.exists(p):
            add(p, kind_of(p) or PYTHON, _explicit_root(p))
        else:
            raise FileNotFoundError(errno.ENOENT, "no such file or directory", p)
    return out


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


def scan_paths(
    paths: Sequence[str | os.PathLike[str]],
    *,
    jobs: int | None = None,
    cache_dir: str | None = None,
    use_cache: bool = True,
    stats: ScanStats | None = None,
    kinds: Collection[str] = KINDS,
    exclude: Sequence[str] = (),
) -> list[Finding]:
    """The model loads in every source file under `paths` (Python, and the `kinds` of
    `scan.sources`: notebooks, configs, shell scripts), sorted by path, cell, line, column, loader.

    `jobs` caps the worker processes (default: all usable cores; few files are scanned
    in-process). Results are cached by the BLAKE2 hash of each file's bytes under `cache_dir`
    (default `default_cache_dir()`), so an unchanged file is never parsed twice; `use_cache=False`
    neither reads nor writes it. Pass a `ScanStats` to learn what was parsed, filtered or cached.
    Unreadable files are skipped (counted in `stats.unreadable`). Raises `FileNotFoundError`
    when a given path does not exist.
    """
    stats = stats if stats is not None else ScanStats()
    files = _walk(paths, kinds, exclude)
    stats.files = len(files)
    cache = _Cache(cache_dir or default_cache_dir()) if use_cache else None
    results: list[list[Finding]] = [[] for _ in files]
    wrappers: list[Wrapper] = []
    todo: list[_WorkItem] = []
    for i, (path, kind, root) in enumerate(files):
        data = read_regular(path, root)
        if data is None:  # a device, FIFO, link out of the project, unreadable, over the size cap
            stats.unreadable += 1
            continue
        stats.bytes += len(data)
        # hashing is cheaper than the substring test, so a warm scan only hashes
        key = hashlib.blake2b(data + kind.encode(), digest_size=20, person=_CACHE_PERSON).hexdigest()
        cached = cache.get(key, path) if cache is not None else None
        if cached is not None:
            stats.cache_hits += 1
            results[i] = [f.with_path(path) for f in cached[0]]
            wrappers.extend(cached[1])
        elif not (quick_bytes_test(data) if kind == PYTHON else kind == NOTEBOOK or _OTHER_NEEDLES.search(data)):
            stats.filtered += 1
            if cache is not None:
                cache.put(key, [], [])
        else:
            todo.append((i, path, key, data, kind))

    workers = _workers(jobs, todo)
    stats.workers = workers
    keys = {i: key for i, _, key, _, _ in todo}
    for i, findings, status, found in _run(todo, workers):
        results[i] = findings
        wrappers.extend(found)
        if cache is not None:
            cache.put(keys[i], findings, found)
        if status == _FILTERED:
            stats.filtered += 1
        else:
            stats.parsed += 1
            stats.syntax_errors += status == _SYNTAX_ERROR
    if cache is not None:
        cache.flush()
    if wrappers:
        results.append(_wrapper_calls([(p, r) for p, k, r in files if k == PYTHON], wrappers))
    out = sorted((f for found in results for f in found), key=Finding.sort_key)
    stats.findings = len(out)
    return out


def _workers(jobs: int | None, todo: list[_WorkItem]) -> int:
    if jobs is None:
        try:
            jobs = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            jobs = os.cpu_count() or 1
    if jobs <= 1 or len(todo) < _MIN_FILES_FOR_POOL:
        return 1
    return min(jobs, len(todo))


def _run(todo: list[_WorkItem], workers: int) -> list[_WorkResult]:
    if workers == 1:
        return _scan_batch(todo)
    # largest files first, dealt to the lightest batch: batches of even weight (LPT scheduling)
    batches: list[list[_WorkItem]] = [[] for _ in range(workers * 4)]
    weights = [0] * len(batches)
    for item in sorted(todo, key=lambda it: -len(it[3])):
        lightest = weights.index(min(weights))
        batches[lightest].append(item)
        weights[lightest] += len(item[3]) + 2000
    out: list[_WorkResult] = []
    try:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for done in pool.map(_scan_batch, [b for b in batches if b]):
                out.extend(done)
    except (OSError, BrokenProcessPool):  # no semaphores (some containers) or a killed worker
        return _scan_batch(todo)
    return out


def _scan_batch(batch: list[_WorkItem]) -> list[_WorkResult]:
    return [(i, *_scan_text(path, decode_source(data), kind)) for i, path, _, data, kind in batch]


def _wrapper_calls(paths: list[tuple[str, str]], wrappers: list[Wrapper]) -> list[Finding]:
    """Second pass (`scan.wrappers`): the calls of project functions that wrap a loader, in the
    Python files that import one of them (`from m import f`, or its module, then `m.f(`)."""
    names = {w.function for w in wrappers}
    modules = {w.module_parts[-1] for w in wrappers if w.module_parts}
    out: list[Finding] = []
    for path, root in paths:
        data = read_regular(path, root)
        if data is None:
            continue
        if _imports_a_wrapper(data, names, modules):
            out.extend(calls_to_wrappers(path, decode_source(data), wrappers))
    return out


_IMPORT = re.compile(rb"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)|import[ \t]+([^\n]*))", re.M)
_WORD = re.compile(r"\w+")


def _imports_a_wrapper(data: bytes, names: set[str], modules: set[str]) -> bool:
    """A cheap pre-filter: does the file import a wrapper by name, or a wrapper's module and call
    an attribute of that name?"""
    if not any(n.encode() in data for n in names):
        return False
    for m in _IMPORT.finditer(data):
        imported = set(_WORD.findall((m.group(2) or m.group(3) or b"").decode("utf-8", "replace")))
        if imported & names:
            return True
        dotted = set((m.group(1) or b"").decode("utf-8", "replace").split(".")) | imported
        if dotted & modules and any(b"." + n.encode() + b"(" in data for n in names):
            return True
    return False
