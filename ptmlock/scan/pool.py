"""The scan's worker processes: one pool for both passes of `scan_paths`, started on first use.

Where the platform forks (Linux), the workers inherit the sources already read (copy-on-write)
through `share(...)`, set before the first fork, and only batches of indices are sent to them;
elsewhere each batch carries its data. If no pool can start (no semaphores in some containers)
or a worker dies, the work runs in-process.
"""
from __future__ import annotations

import functools
import gc
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_shared: dict[str, Any] = {}


def shared(name: str) -> Any:
    """What `Pool(..., name=value)` shared with forked workers (None where nothing is shared)."""
    return _shared.get(name)


def no_gc(fn: Callable[[list[Any]], list[R]]) -> Callable[[list[Any]], list[R]]:
    """Run a batch with the cyclic garbage collector paused: parsing builds hundreds of thousands
    of acyclic AST nodes, and the collector's passes over them cost ~20% of a cold scan."""
    @functools.wraps(fn)
    def run(batch: list[Any]) -> list[R]:
        enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(batch)
        finally:
            if enabled:
                gc.enable()
    return run


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Pool:
    """Up to `jobs` worker processes (default: the usable cores), each batch of work in one call."""

    def __init__(self, jobs: int | None, **share: Any) -> None:
        self.jobs = usable_cores() if jobs is None else jobs
        self.fork = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
        self.used = 1
        self._executor: ProcessPoolExecutor | None = None
        self._broken = False
        _shared.clear()
        if self.fork:
            _shared.update(share)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._executor is not None:
            self._executor.shutdown()
        _shared.clear()

    def batches(self, items: Sequence[T], weight: Callable[[T], int], parallel: bool
                ) -> list[list[int]]:
        """Indices of `items` in even batches (largest first, dealt to the lightest batch): one
        batch when the work is to stay in this process."""
        if not parallel or self.jobs <= 1:
            return [list(range(len(items)))] if items else []
        out: list[list[int]] = [[] for _ in range(min(self.jobs * 4, len(items)))]
        weights = [0] * len(out)
        for n in sorted(range(len(items)), key=lambda n: -weight(items[n])):
            lightest = weights.index(min(weights))
            out[lightest].append(n)
            weights[lightest] += weight(items[n])
        return [b for b in out if b]

    def map(self, fn: Callable[[list[Any]], list[R]], batches: list[list[Any]]) -> list[R]:
        """`fn` on each batch (in the workers when there is more than one batch), results in order."""
        if len(batches) > 1 and self.jobs > 1 and not self._broken:
            try:
                if self._executor is None:
                    context = multiprocessing.get_context("fork") if self.fork else None
                    self._executor = ProcessPoolExecutor(max_workers=self.jobs, mp_context=context)
                    self.used = self.jobs
                return [r for done in self._executor.map(fn, batches) for r in done]
            except (OSError, BrokenProcessPool):  # no semaphores (some containers) or a killed worker
                self._broken = True
        return [r for batch in batches for r in fn(batch)]
