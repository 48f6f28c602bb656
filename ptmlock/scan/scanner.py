"""Find model loads in Python source, statically: the code is parsed with `ast`, never run.

`scan_source(path, text)` is pure: one file's text in, its findings out. `scan_paths(paths)`
walks directories, skips files a substring test rules out, answers unchanged files from a
content-addressed cache, and parses the rest on all cores. What counts as a load, how model ids
are resolved, and the JSON shape of a finding are documented in docs/scan.md.
"""
from __future__ import annotations

import ast
import hashlib
import functools
import itertools
import os
import re
import warnings
from collections.abc import Collection, Iterator, Sequence

from ptmlock.scan.analyze import analyze_module
from ptmlock.scan.cache import Cache as _Cache
from ptmlock.scan.imported import ProjectModules
from ptmlock.scan.prefilter import code_bytes_test, may_contain_load, quick_bytes_scan, quick_bytes_test
from ptmlock.scan.pool import MIN_FILES_FOR_POOL, Pool, gc_paused, in_worker, no_gc, shared, usable_cores
from ptmlock.scan.reading import decode_source, read_regular
from ptmlock.scan.second import forget_index, hold_lines, keep_index, read_text, wrapper_calls
from ptmlock.scan.sources import (
    CONFIG,
    KINDS,
    NOTEBOOK,
    PYTHON,
    SHELL,
    scan_config,
    scan_notebook,
    scan_shell,
)
from ptmlock.scan.types import Finding, ScanStats
from ptmlock.scan.walk import SKIP_DIRS, excluded, iter_python_files, iter_source_files, iter_walk
from ptmlock.scan.wrappers import Wrapper

__all__ = ["SKIP_DIRS", "Finding", "ScanStats", "default_cache_dir", "excluded", "iter_python_files", "iter_source_files",
           "scan_paths", "scan_source"]

# Salts each file's cache key (with its source kind); the cache's directory names the analyzer
# version (`scan.cache.ANALYZER_VERSION`), which is bumped when the findings for the same bytes change.
_CACHE_PERSON = b"ptmlock-scan"
_KEEP_BYTES = 512 * 1024 * 1024  # sources kept in memory between the passes; beyond that, read again
_POOL_BYTES = 4 * 1024 * 1024  # less to scan than this: the pre-filter runs here, not in the pool

_COLD_BATCH = 128  # files per batch of a cold scan (sizes unknown: small batches even out the work)
_TAIL_BATCH = 16  # ... and per batch of its last 4 * _COLD_BATCH files at most
# the pre-filter for configs and shell scripts: every pattern of `scan.sources` needs one of these
_OTHER_NEEDLES = re.compile(rb"--model|model_name|model_id|base_model|tokenizer_name|download|from_pretrained")

_FILTERED, _PARSED, _SYNTAX_ERROR, _UNREADABLE = "filtered", "parsed", "syntax_error", "unreadable"

# (index, path, cache key, bytes, source kind, root): key and bytes None for a worker to read and hash
_WorkItem = tuple[int, str, "str | None", "bytes | None", str, str]
# (index, findings, status, wrappers, the import lines of a Python file (`prefilter.quick_bytes_scan`),
# cache key, size in bytes)
_WorkResult = tuple[int, list[Finding], str, list[Wrapper], "bytes | None", "str | None", int]


def scan_source(path: str, text: str) -> list[Finding]:
    """The model loads in one file's source text, in source order. Pure: no I/O.

    `path` is only copied into the findings. A file that does not parse (a syntax error, a
    null byte) gives an empty list; nothing is raised. Use `scan_paths` to also count those.
    """
    return _scan_text(path, text)[0]


def _scan_text(path: str, text: str, kind: str = PYTHON, prefiltered: bool = False, keep: int | None = None
               ) -> tuple[list[Finding], str, list[Wrapper]]:
    if text.startswith("\ufeff"):
        text = text[1:]
    if kind == NOTEBOOK:
        return scan_notebook(path, text, scan_source), _PARSED, []
    if kind == CONFIG:
        return scan_config(path, text), _PARSED, []
    if kind == SHELL:
        return scan_shell(path, text), _PARSED, []
    if not prefiltered and not may_contain_load(text):
        return [], _FILTERED, []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes etc. are the scanned code's business
            tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return [], _SYNTAX_ERROR, []
    try:
        return _analyzed(tree, text, path, keep)
    except RecursionError:  # absurdly nested expressions: give up on this file, not the scan
        if keep is not None:
            forget_index(keep)
        return [], _PARSED, []


def _analyzed(tree: ast.Module, text: str, path: str, keep: int | None = None
              ) -> tuple[list[Finding], str, list[Wrapper]]:
    """Analyse a parsed module; in a worker, keep its index as file `keep` (`scan.second`)."""
    retain = functools.partial(keep_index, keep, len(text)) if keep is not None and in_worker() else None
    findings, wrappers = analyze_module(tree, text, path, retain)
    return findings, _PARSED, wrappers


def default_cache_dir() -> str:
    """`<user cache dir>/ptmlock/scan` (platformdirs), where `scan_paths` keeps its cache."""
    import platformdirs

    return os.path.join(platformdirs.user_cache_dir("ptmlock"), "scan")


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
    in-process). Results are cached by the SHA-256 hash of each file's bytes under `cache_dir`
    (default `default_cache_dir()`), so an unchanged file is never parsed twice; `use_cache=False`
    neither reads nor writes it. Pass a `ScanStats` to learn what was parsed, filtered or cached.
    Unreadable files are skipped (counted in `stats.unreadable`). Raises `FileNotFoundError`
    when a given path does not exist.
    """
    stats = stats if stats is not None else ScanStats()
    with gc_paused():  # the objects of a big scan would make the collector run many times, for nothing
        return _scan(paths, jobs, _Cache(cache_dir or default_cache_dir()) if use_cache else None, stats, kinds,
                     exclude)


def _scan(paths: Sequence[str | os.PathLike[str]], jobs: int | None, cache: _Cache | None, stats: ScanStats,
          kinds: Collection[str], exclude: Sequence[str]) -> list[Finding]:
    walk = iter_walk(paths, kinds, exclude)
    files = list(itertools.islice(walk, MIN_FILES_FOR_POOL * 4))
    # an empty cache and many files (a first scan): the workers read and hash them too, starting
    # on the first files while the walk goes on
    cold = (cache is None or cache.is_empty()) and len(files) >= MIN_FILES_FOR_POOL * 4 and usable_cores() > 1
    wrappers: list[Wrapper] = []
    todo: list[_WorkItem] = []
    kept: list[bytes | None] = []  # Python sources, for the second pass
    keys: list[str | None] = []  # each file's cache key (the hash of its bytes)
    done: list[tuple[int, list[Finding]]] = []  # (file, findings) answered by the cache
    if not cold:
        files.extend(walk)
        kept, keys = _read_all(files, cache, stats, todo, done, wrappers)
    with Pool(jobs, **({} if cold else {"todo": todo, "kept": kept})) as pool:
        if cold:
            first = pool.map(_first_pass, _cold_batches(files, walk))
            keys, kept = [None] * len(files), [None] * len(files)
        else:
            # little to do (a warm scan of a changed file): the pre-filter here, and the pool only
            # for many survivors; else everything in the workers, the pre-filter too
            parallel = sum(len(item[3] or b"") for item in todo) >= _POOL_BYTES or sum(
                _worth_parsing(item[3] or b"", item[4]) for item in todo) >= MIN_FILES_FOR_POOL
            batches = pool.batches(todo, lambda item: len(item[3] or b"") + 2000, parallel)
            first = pool.map(_first_pass, [b if pool.fork else [todo[n] for n in b] for b in batches])
        stats.files = len(files)
        ran_by = _ran_by(pool, first)  # must read `ran_on` before the pool runs anything else
        results: list[list[Finding]] = [[] for _ in files]
        for i, findings in done:
            results[i] = findings
        import_lines: list[bytes | None] = [None] * len(files)  # what the first pass saw of their imports
        parsed: set[int] = set()  # files the first pass parsed (a worker may keep their index)
        for i, findings, status, found, lines, read_key, size in first:
            if status == _UNREADABLE:
                stats.unreadable += 1
                continue
            results[i] = findings
            import_lines[i] = lines
            keys[i] = read_key
            stats.bytes += size if cold else 0
            wrappers.extend(found)
            if cache is not None:
                cache.put(_todo_key(keys, i), findings, found)
            if status == _FILTERED:
                stats.filtered += 1
            else:
                parsed.add(i)
                stats.parsed += 1
                stats.syntax_errors += status == _SYNTAX_ERROR
        if wrappers:
            # the project's modules (`scan.imported`), for the second pass: with workers, shared once
            modules = ProjectModules({os.path.normpath(p): root for p, kind, root in files if kind == PYTHON},
                                     read_text)
            pool.share(modules=modules)
            results.append(wrapper_calls(files, keys, kept, import_lines, wrappers,
                                          modules, cache, pool, ran_by, parsed))
        stats.workers = pool.used
    if cache is not None:
        cache.flush()
    out = sorted((f for found in results for f in found), key=Finding.sort_key)
    stats.findings = len(out)
    return out


def _read_all(files: list[tuple[str, str, str]], cache: _Cache | None, stats: ScanStats, todo: list[_WorkItem],
              done: list[tuple[int, list[Finding]]], wrappers: list[Wrapper]
              ) -> tuple[list[bytes | None], list[str | None]]:
    """Read and hash every file here (a warm scan: most are answered by the cache); what the
    cache does not answer goes to `todo`, with its bytes. Returns the Python sources kept for the
    second pass (up to _KEEP_BYTES) and every file's cache key."""
    kept: list[bytes | None] = [None] * len(files)
    keys: list[str | None] = [None] * len(files)
    kept_bytes = 0
    for i, (path, kind, root) in enumerate(files):
        data = read_regular(path, root)
        if data is None:  # a device, FIFO, link out of the project, unreadable, over the size cap
            stats.unreadable += 1
            continue
        stats.bytes += len(data)
        key = keys[i] = _key(data, kind)
        if kind == PYTHON and kept_bytes + len(data) <= _KEEP_BYTES:
            kept[i] = data
            kept_bytes += len(data)
        cached = cache.get(key, path) if cache is not None else None
        if cached is not None:
            stats.cache_hits += 1
            done.append((i, [f.with_path(path) for f in cached[0]]))
            wrappers.extend(cached[1])
        else:
            todo.append((i, path, key, data, kind, root))
    return kept, keys


def _cold_batches(files: list[tuple[str, str, str]], walk: Iterator[tuple[str, str, str]]
                  ) -> Iterator[list[_WorkItem]]:
    """The work of a cold scan in batches of _COLD_BATCH files (unread: the worker reads them),
    the first from `files`, the rest walked as the workers ask for more (a few batches ahead);
    `files` grows with them. The last files of the walk go in batches of _TAIL_BATCH, so that the
    workers end together (a worker already has its next batch when it asks for more)."""
    start, walked = 0, False
    while True:
        want = start + _COLD_BATCH * 4 - len(files)
        if not walked and want > 0:
            ahead = list(itertools.islice(walk, want))
            files.extend(ahead)
            walked = len(ahead) < want
        if start >= len(files):
            return
        end = min(start + (_TAIL_BATCH if walked else _COLD_BATCH), len(files))
        yield [(i, path, None, None, kind, root) for i, (path, kind, root) in enumerate(files[start:end], start)]
        start = end


def _ran_by(pool: Pool, first: list[_WorkResult]) -> dict[int, int]:
    """Which worker ran the first pass on each file (for the second pass to go back to it)."""
    workers = (worker for worker, n in zip(pool.ran_on, pool.counts) for _ in range(n))
    return {result[0]: worker for result, worker in zip(first, workers) if worker is not None}


def _key(data: bytes, kind: str) -> str:
    """The cache key of a file's bytes. Hashing is cheaper than the substring test, so a warm scan
    only hashes; SHA-256 (cut to 160 bits) runs in the CPU's SHA instructions where it has them,
    ~2x faster than BLAKE2b."""
    h = hashlib.sha256(_CACHE_PERSON + kind.encode() + b"\0")
    h.update(data)
    return h.hexdigest()[:40]


def _todo_key(keys: list[str | None], i: int) -> str:
    key = keys[i]
    assert key is not None  # every file sent to be scanned was read and hashed
    return key


def _worth_parsing(data: bytes, kind: str) -> bool:
    """The first stage of the pre-filter, on raw bytes: can this file hold a load at all?"""
    return quick_bytes_test(data) >= 0 if kind == PYTHON else kind == NOTEBOOK or bool(_OTHER_NEEDLES.search(data))


@no_gc
def _first_pass(batch: list[int] | list[_WorkItem]) -> list[_WorkResult]:
    """Pre-filter (both stages, on bytes), parse and analyse a batch (indices into the shared
    work list in a forked worker, else the items themselves)."""
    out: list[_WorkResult] = []
    for x in batch:
        i, path, key, data, kind, root = shared("todo")[x] if isinstance(x, int) else x
        if data is None:  # a cold scan: read and hash here
            data = read_regular(path, root)
            if data is None:  # a device, FIFO, link out of the project, unreadable, over the size cap
                out.append((i, [], _UNREADABLE, [], None, None, 0))
                continue
            key = _key(data, kind)
        rule, lines = quick_bytes_scan(data) if kind == PYTHON else (0, None)
        if lines is not None and in_worker():  # kept here: the wrapper pass asks this worker
            hold_lines(i, lines)
            lines = None
        if rule < 0 or not (code_bytes_test(data, rule) if kind == PYTHON else _worth_parsing(data, kind)):
            out.append((i, [], _FILTERED, [], lines, key, len(data)))
        else:
            out.append((i, *_scan_text(path, decode_source(data), kind, prefiltered=True, keep=i), lines, key,
                        len(data)))
    return out
