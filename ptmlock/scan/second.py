"""The scan's second pass: the calls, in every Python file, of the project's functions that
wrap a loader (`scan.wrappers`), found by the first pass in any file.

With workers, what the first pass learnt stays in the worker that learnt it: the index of each
module it parsed (`keep_index`, up to _RETAIN_BYTES of source), which the second pass reuses
instead of parsing again (the pool sends the file back to that worker), and each file's import
lines (`hold_lines`), which that worker tests for the wrappers' names (`_select`).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os

from ptmlock.scan.cache import Cache as _Cache
from ptmlock.scan.imported import ProjectModules
from ptmlock.scan.index import ModuleIndex
from ptmlock.scan.pool import MIN_FILES_FOR_POOL, Pool, no_gc, shared
from ptmlock.scan.reading import decode_source, read_regular
from ptmlock.scan.sources import PYTHON
from ptmlock.scan.types import Finding
from ptmlock.scan.wrappers import Wrapper, WrapperImports, calls_to_wrappers

_WRAPPER_PERSON = b"ptmlock-wrapcall"
_RETAIN_BYTES = 32 * 1024 * 1024  # per worker: the source of the modules whose index it keeps
_retained: dict[int, ModuleIndex] = {}  # in a worker: file index -> the first pass's index of it
_retained_bytes: list[int] = [0]
_lines_kept: dict[int, bytes] = {}  # in a worker: file index -> its import lines


def keep_index(i: int, size: int, ix: ModuleIndex) -> None:
    """In a worker: keep file `i`'s index (`size` bytes of source) while under _RETAIN_BYTES."""
    if _retained_bytes[0] + size <= _RETAIN_BYTES:
        _retained[i] = ix
        _retained_bytes[0] += size


def forget_index(i: int) -> None:
    _retained.pop(i, None)


def hold_lines(i: int, lines: bytes) -> None:
    """In a worker: keep file `i`'s import lines for `_select` (the first pass then returns None)."""
    _lines_kept[i] = lines


def _selected(pool: Pool, wrappers: list[Wrapper], ran_by: dict[int, int], import_lines: list[bytes | None]
              ) -> tuple[set[int], set[int]]:
    """Ask each worker which of the files whose import lines it kept may import a wrapper
    (`WrapperImports.may_import`, run where the lines are): (the files a worker answered for, those
    that may). A file no worker answered for (its worker died) may."""
    held: dict[int, set[int]] = {}
    for i, worker in ran_by.items():
        if import_lines[i] is None:
            held.setdefault(worker, set()).add(i)
    workers = sorted(held)
    answers = pool.map(functools.partial(_select, wrappers=wrappers), [[w] for w in workers], pinned=workers)
    answered: set[int] = set()
    for worker, ran_on in zip(workers, pool.ran_on):
        if ran_on == worker:
            answered |= held[worker]
    return answered, set(answers)


def _select(batch: list[int], wrappers: list[Wrapper]) -> list[int]:
    """In a worker: the files whose import lines it kept that may import one of `wrappers`."""
    may = WrapperImports(wrappers).may_import
    return [i for i, lines in _lines_kept.items() if may(lines)]


_Call2 = tuple[int, str, str, bytes | None]  # (file index, path, root, bytes when kept)


def wrapper_calls(files: list[tuple[str, str, str]], keys: list[str | None], kept: list[bytes | None],
                   import_lines: list[bytes | None], wrappers: list[Wrapper], modules: ProjectModules,
                   cache: _Cache | None, pool: Pool, ran_by: dict[int, int], parsed: set[int]) -> list[Finding]:
    """Second pass (`scan.wrappers`): the calls of project functions that wrap a loader, in the
    Python files that import one of them (`from m import f`, or its module, then `m.f(`). Cached
    as one entry, keyed by the project's wrappers and the path and content of every Python source
    (a call may read constants imported from any other module, `scan.imported`), so an unchanged
    warm scan reads nothing; an edit re-runs this pass."""
    digest = hashlib.blake2b(json.dumps(sorted(json.dumps([w.path, w.to_dict()], sort_keys=True)
                                               for w in wrappers)).encode(), digest_size=20).digest()
    # a call may read constants of any other module (`scan.imported`): the key holds every source's content
    digest += hashlib.blake2b("\0".join(f"{p}\0{k}" for (p, kind, _), k in zip(files, keys) if kind == PYTHON and k)
                              .encode("utf-8", "surrogateescape"), digest_size=20).digest()
    # one entry for the whole pass: any edit changes the key of every file's part of it anyway
    pass_key = hashlib.blake2b(digest, digest_size=20, person=_WRAPPER_PERSON).hexdigest()
    cached = cache.get_findings(pass_key) if cache is not None else None
    if cached is not None:
        return cached
    imports_a_wrapper = WrapperImports(wrappers)
    answered, maybe = _selected(pool, wrappers, ran_by, import_lines)
    items: list[_Call2] = []
    for i, (path, kind, root) in enumerate(files):
        if kind != PYTHON or keys[i] is None:
            continue
        lines = import_lines[i]
        if (imports_a_wrapper.may_import(lines)) if lines is not None else (i not in answered or i in maybe):
            items.append((i, path, root, kept[i]))
    batches = pool.batches(items, _size, len(items) >= MIN_FILES_FOR_POOL)
    pinned: list[int | None] = [None] * len(batches)
    parsed_by = {i: w for i, w in ran_by.items() if i in parsed}
    if len(batches) > 1 and parsed_by:  # a file a worker parsed goes back to it (it kept the index)
        mine = [[n for n in b if items[n][0] in parsed_by] for b in batches]
        batches = [[n for n in b if items[n][0] not in parsed_by] for b in batches]
        by_worker: dict[int, list[int]] = {}
        for n in (n for b in mine for n in b):
            by_worker.setdefault(parsed_by[items[n][0]], []).append(n)
        batches += [b for _, b in sorted(by_worker.items())]
        pinned = [None] * (len(batches) - len(by_worker)) + sorted(by_worker)
        pinned = [w for b, w in zip(batches, pinned) if b]
        batches = [b for b in batches if b]
    found = pool.map(functools.partial(_second_pass, wrappers=wrappers, modules=None if pool.fork else modules),
                     [[items[n] if not pool.fork else (items[n][0], items[n][1], items[n][2], None) for n in b]
                      for b in batches], pinned)
    out = [finding for _, finding in found]
    if cache is not None:
        cache.put_findings(pass_key, out)
    return out


def _size(item: _Call2) -> int:
    """How much work a file of the second pass is, for even batches: its size (the big ones are parsed)."""
    if item[3] is not None:
        return len(item[3]) + 2000
    with contextlib.suppress(OSError):
        return os.path.getsize(item[1]) + 2000
    return 2000


def _second_pass(batch: list[_Call2], wrappers: list[Wrapper], modules: ProjectModules | None
                 ) -> list[tuple[int, Finding]]:
    project = modules if modules is not None else shared("modules")
    return no_gc(functools.partial(_calls_in, wrappers=wrappers, project=project))(batch)


def read_text(path: str, root: str) -> str | None:
    data = read_regular(path, root)
    return decode_source(data) if data is not None else None


def _calls_in(batch: list[_Call2], wrappers: list[Wrapper], project: ProjectModules) -> list[tuple[int, Finding]]:
    imports_a_wrapper = WrapperImports(wrappers)
    out: list[tuple[int, Finding]] = []
    for i, path, root, data in batch:
        kept = shared("kept")
        if data is None and kept is not None:
            data = kept[i]
        if data is None:
            data = read_regular(path, root)
        if data is not None and imports_a_wrapper(data):
            ix = _retained.get(i)
            out.extend((i, f) for f in calls_to_wrappers(path, decode_source(data) if ix is None else "", wrappers,
                                                          project, ix))
    return out
