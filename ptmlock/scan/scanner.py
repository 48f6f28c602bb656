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
import hashlib
import io
import json
import os
import tokenize
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from ptmlock import __version__
from ptmlock.scan.analyze import analyze
from ptmlock.scan.loaders import may_contain_load, quick_bytes_test
from ptmlock.scan.types import Finding, ScanStats

__all__ = ["Finding", "ScanStats", "default_cache_dir", "iter_python_files", "scan_paths", "scan_source"]

# Bump when the findings for the same bytes change, so that old cache entries are not reused.
_ANALYZER_VERSION = "1"
_CACHE_PERSON = b"ptmlock-scan"

SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", "__pycache__", "node_modules", "site-packages", "dist-packages",
    ".venv", "venv", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".eggs",
})
_MIN_FILES_FOR_POOL = 16

_FILTERED, _PARSED, _SYNTAX_ERROR = "filtered", "parsed", "syntax_error"

_WorkItem = tuple[int, str, str, bytes]               # (index, path, cache key, bytes)
_WorkResult = tuple[int, list[Finding], str]          # (index, findings, status)


def scan_source(path: str, text: str) -> list[Finding]:
    """The model loads in one file's source text, in source order. Pure: no I/O.

    `path` is only copied into the findings. A file that does not parse (a syntax error, a
    null byte) gives an empty list; nothing is raised. Use `scan_paths` to also count those.
    """
    return _scan_text(path, text)[0]


def _scan_text(path: str, text: str) -> tuple[list[Finding], str]:
    if text.startswith("\ufeff"):
        text = text[1:]
    if not may_contain_load(text):
        return [], _FILTERED
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes etc. are the scanned code's business
            tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return [], _SYNTAX_ERROR
    try:
        return analyze(tree, text, path), _PARSED
    except RecursionError:  # absurdly nested expressions: give up on this file, not the scan
        return [], _PARSED


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


def iter_python_files(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """The files `scan_paths` reads: every `*.py` under each directory, and each file given
    explicitly (whatever its suffix). Skips VCS, cache, `node_modules`, `site-packages` and
    virtual-environment directories (any directory holding `pyvenv.cfg`) met while walking; a
    directory given explicitly is always walked. Raises `FileNotFoundError` for a missing path.
    """
    out: list[str] = []
    seen: set[str] = set()

    def add(p: str) -> None:
        key = os.path.normcase(os.path.abspath(p))
        if key not in seen:
            seen.add(key)
            out.append(p)

    for given in paths:
        p = os.path.normpath(os.fspath(given))
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not _skip_dir(root, d))
                for name in sorted(files):
                    if name.endswith(".py"):
                        add(os.path.normpath(os.path.join(root, name)))
        elif os.path.exists(p):
            add(p)
        else:
            raise FileNotFoundError(errno.ENOENT, "no such file or directory", p)
    return out


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
) -> list[Finding]:
    """The model loads in every Python file under `paths`, sorted by path, line, column, loader.

    `jobs` caps the worker processes (default: all usable cores; few files are scanned
    in-process). Results are cached by the BLAKE2 hash of each file's bytes under `cache_dir`
    (default `default_cache_dir()`), so an unchanged file is never parsed twice; `use_cache=False`
    neither reads nor writes it. Pass a `ScanStats` to learn what was parsed, filtered or cached.
    Unreadable files are skipped (counted in `stats.unreadable`). Raises `FileNotFoundError`
    when a given path does not exist.
    """
    stats = stats if stats is not None else ScanStats()
    files = iter_python_files(paths)
    stats.files = len(files)
    cache = _Cache(cache_dir or default_cache_dir()) if use_cache else None
    results: list[list[Finding]] = [[] for _ in files]
    todo: list[_WorkItem] = []
    for i, path in enumerate(files):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            stats.unreadable += 1
            continue
        stats.bytes += len(data)
        # hashing is cheaper than the substring test, so a warm scan only hashes
        key = hashlib.blake2b(data, digest_size=20, person=_CACHE_PERSON).hexdigest()
        cached = cache.get(key) if cache is not None else None
        if cached is not None:
            stats.cache_hits += 1
            results[i] = [f.with_path(path) for f in cached]
        elif not quick_bytes_test(data):
            stats.filtered += 1
            if cache is not None:
                cache.put(key, [])
        else:
            todo.append((i, path, key, data))

    workers = _workers(jobs, todo)
    stats.workers = workers
    keys = {i: key for i, _, key, _ in todo}
    for i, findings, status in _run(todo, workers):
        results[i] = findings
        if cache is not None:
            cache.put(keys[i], findings)
        if status == _FILTERED:
            stats.filtered += 1
        else:
            stats.parsed += 1
            stats.syntax_errors += status == _SYNTAX_ERROR
    if cache is not None:
        cache.flush()
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
    return [(i, *_scan_text(path, decode_source(data))) for i, path, _, data in batch]


# --- the cache -------------------------------------------------------------------------------
#
# Keyed by the BLAKE2 hash of a file's bytes, so it is shared by every tree and never stale.
# Entries live in 16 shard files (by the first hex digit of the key): creating one file per entry
# costs ~1 ms each on common disks, which alone would double a cold scan of a large tree.

class _Cache:
    def __init__(self, cache_dir: str) -> None:
        self.root = os.path.join(cache_dir, f"v{_ANALYZER_VERSION}-{__version__}")
        self._shards: dict[str, dict[str, object]] = {}
        self._new: dict[str, dict[str, object]] = {}

    def _file(self, shard: str) -> str:
        return os.path.join(self.root, f"shard-{shard}.json")

    def _read(self, shard: str) -> dict[str, object]:
        try:
            with open(self._file(shard), "rb") as f:
                data = json.loads(f.read())
        except (OSError, ValueError):  # missing or damaged: start over
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> list[Finding] | None:
        shard = self._shards.get(key[0])
        if shard is None:
            shard = self._shards[key[0]] = self._read(key[0])
        raw = shard.get(key)
        if not isinstance(raw, list):
            return None
        try:
            return [Finding.from_dict({**entry, "path": ""}) for entry in raw]
        except (ValueError, TypeError):
            return None

    def put(self, key: str, findings: list[Finding]) -> None:
        self._new.setdefault(key[0], {})[key] = [
            {k: v for k, v in f.to_dict().items() if k != "path"} for f in findings]

    def flush(self) -> None:
        """Merge new entries into their shards (re-read first, to keep a concurrent scan's
        entries) and replace each shard atomically. A cache that cannot be written is no error."""
        for shard, entries in self._new.items():
            merged = {**self._read(shard), **entries}
            with contextlib.suppress(OSError):
                os.makedirs(self.root, exist_ok=True)
                _replace_atomically(self._file(shard), json.dumps(merged, separators=(",", ":")).encode())
        self._new.clear()


def _replace_atomically(target: str, data: bytes) -> None:
    # no fsync: a lost entry only costs a re-parse, and os.replace means none is ever torn
    import tempfile  # only when the cache changed

    fd, tmp = tempfile.mkstemp(prefix=".shard-", suffix=".tmp", dir=os.path.dirname(target))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
