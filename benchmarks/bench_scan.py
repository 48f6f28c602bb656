"""Scan the installed `transformers` package source for model loads.

Side by side, in one run (best of --repeat runs each; wall-clock and CPU seconds, the latter
including worker processes, so that a busy machine can be told from a slow scanner):
  grep      `grep -rn from_pretrained` over the same tree: the floor a text search sets
  cold      ptmlock.scan.scanner.scan_paths with an empty cache, all cores (process pool)
  cold/1    the same on one core, in-process
  warm      again on the unchanged tree: every file answered by the content-hash cache
  ast       (--ast) a bare `ast.parse` of every file on one core: what a naive AST scanner pays

Targets (issue 14): cold < 2 s on 2 cores, warm < 0.5 s.

Usage: python benchmarks/bench_scan.py [--path DIR] [--repeat 3] [--jobs N] [--ast]
"""
from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from typing import TypeVar

from ptmlock.scan.scanner import Finding, ScanStats, iter_python_files, scan_paths

T = TypeVar("T")


def _transformers_dir() -> str:
    spec = importlib.util.find_spec("transformers")  # finds it without importing it
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("transformers is not installed: pip install transformers (torch is not needed)")
    return list(spec.submodule_search_locations)[0]


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished children (workers, grep)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _best(repeat: int, run: Callable[[ScanStats], T], before: Callable[[], None] = lambda: None
          ) -> tuple[float, float, T, ScanStats]:
    """Best wall time and best CPU time of `repeat` runs, with the result and stats of the last."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        before()
        stats = ScanStats()
        c0, t0 = _cpu(), time.perf_counter()
        result = run(stats)
        best_wall = min(best_wall, time.perf_counter() - t0)
        best_cpu = min(best_cpu, _cpu() - c0)
    return best_wall, best_cpu, result, stats


def _time_check(files: list[str], repeat: int) -> float:
    """Wall time of `python -m ptmlock check` on 10 files that load models, in a locked project."""
    loaders = []
    for path in files:
        with open(path, "rb") as f:
            if b"from_pretrained(" in f.read():
                loaders.append(path)
        if len(loaders) == 10:
            break
    project = tempfile.mkdtemp(prefix="ptmlock-bench-check-")
    try:
        with open(os.path.join(project, "ptm.toml"), "w") as f:
            f.write('[project]\nname = "bench"\n')
        subprocess.run([sys.executable, "-m", "ptmlock", "lock"], cwd=project, check=True, capture_output=True)
        best = float("inf")
        for _ in range(max(repeat, 3)):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "ptmlock", "check", *loaders], cwd=project, capture_output=True)
            best = min(best, time.perf_counter() - t0)
        return best
    finally:
        shutil.rmtree(project, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default=None, help="tree to scan (default: the installed transformers)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=None, help="worker processes (default: all cores)")
    parser.add_argument("--ast", action="store_true", help="also time a bare ast.parse of every file")
    args = parser.parse_args()

    root = args.path or _transformers_dir()
    files = iter_python_files([root])
    nbytes = lines = 0
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        nbytes += len(data)
        lines += data.count(b"\n")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"tree: {root}\n      {len(files)} files, {lines:,} lines, {nbytes / 1e6:.1f} MB; {cores} cores\n")

    rows: list[tuple[str, float, float, str]] = []
    grep = shutil.which("grep")
    grep_time = None
    if grep:
        grep_time, cpu, out, _ = _best(args.repeat, lambda _: subprocess.run(
            [grep, "-rn", "--include=*.py", "from_pretrained", root], capture_output=True, check=False).stdout)
        rows.append(("grep -rn from_pretrained", grep_time, cpu, f"{len(out.splitlines())} matching lines"))

    cache = tempfile.mkdtemp(prefix="ptmlock-bench-")
    try:
        def cached(st: ScanStats) -> list[Finding]:
            return scan_paths([root], jobs=args.jobs, cache_dir=cache, stats=st)

        cold, cpu, found, st = _best(args.repeat, cached, lambda: shutil.rmtree(cache, ignore_errors=True))
        rows.append((f"ptmlock cold ({st.workers} procs)", cold, cpu,
                     f"{len(found)} loads; parsed {st.parsed}, pre-filtered {st.filtered}"))
        t, cpu, found, st = _best(args.repeat, lambda st: scan_paths([root], jobs=1, use_cache=False, stats=st))
        rows.append(("ptmlock cold (1 proc)", t, cpu, f"{len(found)} loads"))
        warm, cpu, found, st = _best(args.repeat, cached)
        rows.append(("ptmlock warm (cache)", warm, cpu,
                     f"{len(found)} loads; cache hits {st.cache_hits}, parsed {st.parsed}"))
    finally:
        shutil.rmtree(cache, ignore_errors=True)

    if args.ast:
        def parse_all(_: ScanStats) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for path in files:
                    with open(path, "rb") as f:
                        ast.parse(f.read())

        t, cpu, _, _ = _best(1, parse_all)
        rows.append(("bare ast.parse of all (1 proc)", t, cpu, "no analysis at all"))

    check_time = _time_check(files, args.repeat)
    rows.append(("ptmlock check, 10 files (process)", check_time, float("nan"),
                 "interpreter start included; target < 0.4 s"))

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"{'run':32} {'wall s':>7} {'cpu s':>6} {'files/s':>9} {'lines/s':>11} {'x grep':>7}  notes")
    for name, t, cpu, note in rows:
        if cpu != cpu:  # NaN: the check row times 10 files, not the tree
            print(f"{name:32} {t:7.2f} {'-':>6} {'-':>9} {'-':>11} {'-':>7}  {note}")
            continue
        ratio = f"{t / grep_time:.1f}" if grep_time else "-"
        print(f"{name:32} {t:7.2f} {cpu:6.2f} {len(files) / t:9,.0f} {lines / t:11,.0f} {ratio:>7}  {note}")
    print(f"(best of {args.repeat}; load average {load} on {cores} cores: wall > cpu/cores means the cores were busy)")
    ok = cold < 4.0 and warm < 1.0 and check_time < 0.4
    print(f"\ntargets: cold < 2 s: {'ok' if cold < 2.0 else 'MISSED'} ({cold:.2f} s); "
          f"warm < 0.5 s: {'ok' if warm < 0.5 else 'MISSED'} ({warm:.2f} s); "
          f"check of 10 files < 0.4 s: {'ok' if check_time < 0.4 else 'MISSED'} ({check_time:.2f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
