"""The scan's worker processes: one pool for both passes of `scan_paths`, started on first use.

Where the platform forks (Linux), the workers inherit the sources already read (copy-on-write)
through `share(...)`, set before the first fork, and only batches of indices are sent to them;
elsewhere each batch carries its data. A batch can be pinned to the worker that ran an earlier
one (`map(..., pinned=...)`): the second pass goes to the worker that already parsed the file.
If no worker can start or one dies, the work left runs in-process.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import ForkingPickler
from typing import Any, TypeVar, cast

T = TypeVar("T")
R = TypeVar("R")

MIN_FILES_FOR_POOL = 16  # fewer files than this to work on: no worker processes
_IN_FLIGHT = 2  # batches sent to a worker and not yet answered: the one it runs, and the next
_AHEAD_BYTES = 64 * 1024  # a next batch is sent ahead only if this small (it waits in the pipe)
_shared: dict[str, Any] = {}
_worker: list[int] = []  # in a worker process: its number


def shared(name: str) -> Any:
    """What `Pool(..., name=value)` shared with forked workers (None where nothing is shared)."""
    return _shared.get(name)


def in_worker() -> bool:
    """Is this a worker process of a `Pool` (where what a batch keeps lives until the pool ends)?"""
    return bool(_worker)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused (as it was, after): parsing builds hundreds of
    thousands of acyclic AST nodes, and the collector's passes over them, and over every index
    kept for the second pass, cost ~20% of a cold scan. A scan makes no reference cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def no_gc(fn: Callable[[list[Any]], list[R]]) -> Callable[[list[Any]], list[R]]:
    """`fn`, run with the collector paused (`gc_paused`)."""
    @functools.wraps(fn)
    def run(batch: list[Any]) -> list[R]:
        with gc_paused():
            return fn(batch)
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
        self.ran_on: list[int | None] = []  # per batch of the last `map`: the worker that ran it (None: here)
        self.counts: list[int] = []  # per batch of the last `map`: how many results it gave
        self._workers: list[tuple[Connection, Any]] = []
        self._broken = False
        _shared.clear()
        if self.fork:
            _shared.update(share)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, exc_type: object = None, *exc: object) -> None:
        # Ctrl-C, or a batch raised: the other workers' work is not wanted
        self._stop(terminate=exc_type is not None)
        _shared.clear()

    def _stop(self, terminate: bool) -> None:
        for conn, process in self._workers:
            if terminate:
                process.terminate()
                continue
            try:
                conn.send(None)
            except OSError:
                pass
        for conn, process in self._workers:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join()
            conn.close()
        self._workers = []

    def batches(self, items: Sequence[T], weight: Callable[[T], int], parallel: bool, per_job: int = 4
                ) -> list[list[int]]:
        """Indices of `items` in even batches (largest first, dealt to the lightest batch), `per_job`
        batches for each worker: one batch when the work is to stay in this process."""
        if not parallel or self.jobs <= 1:
            return [list(range(len(items)))] if items else []
        out: list[list[int]] = [[] for _ in range(min(self.jobs * per_job, len(items)))]
        weights = [0] * len(out)
        for n in sorted(range(len(items)), key=lambda n: -weight(items[n])):
            lightest = weights.index(min(weights))
            out[lightest].append(n)
            weights[lightest] += weight(items[n])
        return [b for b in out if b]

    def map(self, fn: Callable[[list[Any]], list[R]], batches: Iterable[list[Any]],
            pinned: Sequence[int | None] | None = None) -> list[R]:
        """`fn` on each batch (in the workers when there is more than one batch), results in order.
        `batches` may be a generator: a batch is taken from it when a worker is free to run it.
        `pinned[k]`, a worker's number from `ran_on`, sends batch k to that worker only."""
        source = iter(batches)
        taken: list[list[Any]] = []
        results: list[list[R] | None] = []
        self.ran_on = []

        def take() -> int | None:
            batch = next(source, None)
            if batch is None:
                return None
            taken.append(batch)
            results.append(None)
            self.ran_on.append(None)
            return len(taken) - 1

        if self.jobs > 1 and not self._broken:
            first = [k for k in (take(), take()) if k is not None]  # one batch only: it runs here
            if (len(first) > 1 or (pinned and self._workers)) and self._start():
                self._dispatch(fn, taken, take, first, pinned or (), results)
        while take() is not None:  # what no worker took (all of it, without workers) runs here
            pass
        for k, batch in enumerate(taken):
            if results[k] is None:
                results[k] = fn(batch)
        self.counts = [len(done or ()) for done in results]
        return [r for done in results for r in done or ()]

    def share(self, **values: Any) -> None:
        """Share more with the workers already started (each is sent `values` once), and with
        the work that runs in this process."""
        _shared.update(values)
        if self._workers and not self._broken:
            self.map(_install, [[values]] * len(self._workers), pinned=list(range(len(self._workers))))

    def _start(self) -> bool:
        if self._workers:
            return True
        context = multiprocessing.get_context("fork" if self.fork else None)
        try:
            for n in range(self.jobs):
                mine, theirs = context.Pipe()
                process = context.Process(target=_serve, args=(theirs, n), daemon=True)
                process.start()
                theirs.close()
                self._workers.append((mine, process))
        except OSError:  # no processes or pipes here (some sandboxes)
            self._broken = True
            self._stop(terminate=True)
            return False
        self.used = self.jobs
        return True

    def _dispatch(self, fn: Callable[[list[Any]], list[R]], taken: list[list[Any]], take: Callable[[], int | None],
                  first: list[int], pinned: Sequence[int | None], results: list[list[R] | None]) -> None:
        """Each worker takes its next pinned batch, else the next free one (from `take` when none
        is waiting), until none is left; a worker that dies (or cannot be written to) leaves its
        batches to this process. A worker is sent its next batch while it still runs one (when
        the message is small): it never waits for this process, which shares the cores with the
        workers and may be slow to wake for each answer."""
        own: dict[int, deque[int]] = {n: deque() for n in range(len(self._workers))}
        free: deque[int] = deque()
        ks: list[int | None] = list(first)
        while pinned and ks[-1] is not None:  # pinned batches are all known before any is sent
            ks.append(take())
        for k in ks:
            if k is not None:
                worker = pinned[k] if k < len(pinned) else None
                (own[worker] if worker in own else free).append(k)
        sent: dict[int, deque[int]] = {n: deque() for n in own}  # per worker, its batches in order
        by_conn = {self._workers[n][0]: n for n in own}
        alive = set(own)

        def give(worker: int) -> None:
            while worker in alive and len(sent[worker]) < _IN_FLIGHT:
                queue = own[worker] if own[worker] else free
                if not queue:
                    k = take()
                    if k is None:
                        return
                    free.append(k)
                k = queue.popleft()
                message = ForkingPickler.dumps((fn, taken[k]))
                if sent[worker] and len(message) > _AHEAD_BYTES:  # it might not fit in the pipe: later
                    queue.appendleft(k)
                    return
                try:
                    self._workers[worker][0].send_bytes(message)
                except (OSError, ValueError):
                    queue.appendleft(k)
                    lost(worker)
                    return
                sent[worker].append(k)

        def lost(worker: int) -> None:
            """Its batches sent and not answered run here (`map`); those pinned to it, anywhere."""
            alive.discard(worker)
            self._broken = True
            free.extend(own.pop(worker, ()))
            own[worker] = deque()
            sent[worker] = deque()

        for worker in list(alive):
            give(worker)
        while any(sent[w] for w in alive):
            for ready in wait([self._workers[w][0] for w in alive if sent[w]]):
                worker = by_conn[cast(Connection, ready)]
                try:
                    ok, value = cast(tuple[bool, Any], cast(Connection, ready).recv())
                except (EOFError, OSError):  # killed: its batches, and what was left for it, run here
                    lost(worker)
                    continue
                if not ok:
                    raise value
                k = sent[worker].popleft()
                results[k], self.ran_on[k] = value, worker
                give(worker)
            if not any(sent[w] for w in alive):  # a worker died with batches left: the others take them
                for worker in list(alive):
                    give(worker)


def _install(batch: list[dict[str, Any]]) -> list[None]:
    """In a worker: keep what `Pool.share` sent."""
    _shared.update(batch[0])
    return []


def _serve(conn: Connection, number: int) -> None:
    """A worker: run each `(fn, batch)` it is sent and send back `(True, result)` or
    `(False, exception)`, until it is sent None or the pool goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the scan in the parent, which ends the workers
    _worker.append(number)
    # No cyclic collector in a worker: it would run between batches, over every object the worker
    # keeps (the first pass's indices: millions of AST nodes), 50-150 ms each time; a scan makes
    # no reference cycles (tests/scan/test_scan.py), so nothing is left for it to free
    gc.disable()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        fn, batch = message
        try:
            reply: tuple[bool, Any] = (True, fn(batch))
        except Exception as e:
            reply = (False, e)
        try:
            conn.send(reply)
        except Exception as e:  # an exception or result that does not pickle
            conn.send((False, RuntimeError(f"a scan worker could not send its result: {e!r}")))
