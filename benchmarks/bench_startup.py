"""Start-up time of the read-only verbs, next to `python -c pass` (issue 17).

Builds a small project on the local hub (one model of 8 files, locked and synced, and two
Python files that load it), then times, wall clock per command with the interpreter start
included (best of --repeat, commands alternated so that machine load falls on all alike):

  python -c pass                   the floor: the interpreter alone
  ptmlock --version
  ptmlock lock --check
  ptmlock verify
  ptmlock check

and the CPU time (user + system, which a busy machine hardly changes) and the import time
`-X importtime` reports (sum of self times, best of 5) of each. With
`--baseline-src DIR` (a checkout of another ptmlock revision, e.g. `git archive 821c6ab`), the
same commands run from that tree too, side by side.

Bytecode is compiled once up front into a private cache (PYTHONPYCACHEPREFIX) and
PYTHONDONTWRITEBYTECODE is dropped, as for an installed package; otherwise every run would
compile ptmlock's sources again.

Usage: python benchmarks/bench_startup.py [--repeat 20] [--baseline-src DIR]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ptmlock.testing import LocalHub

COMMANDS: list[tuple[str, list[str]]] = [
    ("python -c pass", ["-c", "pass"]),
    ("ptmlock --version", ["-m", "ptmlock", "--version"]),
    ("ptmlock lock --check", ["-m", "ptmlock", "lock", "--check"]),
    ("ptmlock verify", ["-m", "ptmlock", "verify"]),
    ("ptmlock check", ["-m", "ptmlock", "check"]),
]


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+system) of one run. CPU time hardly depends on what else
    the machine runs, so it still compares two trees on a busy machine; wall time is what a user
    waits."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *argv], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err.decode()[-1500:]}")
    return elapsed, usage.ru_utime + usage.ru_stime


def _import_ms(argv: list[str], env: dict[str, str], cwd: Path, runs: int = 5) -> float:
    """The sum of the self times `-X importtime` reports, best of `runs`."""
    best = float("inf")
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-X", "importtime", *argv], env=env, cwd=cwd, capture_output=True,
                              text=True, check=False)
        total = 0
        for line in proc.stderr.splitlines():
            if line.startswith("import time:") and "|" in line:
                field = line.split("|")[0].split(":")[1].strip()
                if field.isdigit():
                    total += int(field)
        best = min(best, total / 1000)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--baseline-src", type=Path, default=None,
                        help="another ptmlock source tree to time side by side")
    args = parser.parse_args()
    here = Path(__file__).resolve().parent.parent
    trees = [("this tree", here)] + ([("baseline", args.baseline_src.resolve())] if args.baseline_src else [])

    with tempfile.TemporaryDirectory(prefix="ptmlock-bench-startup-") as tmp_name:
        tmp = Path(tmp_name)
        with LocalHub(tmp / "hub") as hub:
            hub.commit("bench/tiny", {f"part-{i}.bin": os.urandom(4096) for i in range(6)}
                       | {"config.json": b'{"model_type": "bert"}'})
            project = tmp / "project"
            project.mkdir()
            (project / "ptm.toml").write_text('[project]\nname = "bench"\n\n[models."bench/tiny"]\nrole = "text"\n')
            for name in ("app.py", "train.py"):
                (project / name).write_text('from transformers import AutoModel\n'
                                            'AutoModel.from_pretrained("bench/tiny")\n')
            base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            base.update({"HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp / "hf-home"),
                         "XDG_CACHE_HOME": str(tmp / "xdg"), "HF_HUB_DISABLE_TELEMETRY": "1", "NO_COLOR": "1",
                         "PYTHONPYCACHEPREFIX": str(tmp / "pycache")})
            envs = {label: {**base, "PYTHONPATH": str(src)} for label, src in trees}
            first = envs[trees[0][0]]
            _run(["-m", "ptmlock", "lock"], first, project)
            _run(["-m", "ptmlock", "sync", "--quiet"], first, project)
            for label, src in trees:  # compile once, as an install does
                subprocess.run([sys.executable, "-m", "compileall", "-q", str(src / "ptmlock")], env=envs[label],
                               check=True, stdout=subprocess.DEVNULL)
                for _, argv in COMMANDS:
                    _run(argv, envs[label], project)  # warm-up: page cache, pycache, verified-hash cache
            times: dict[tuple[str, str], list[tuple[float, float]]] = {}
            for _ in range(args.repeat):
                for label, _src in trees:
                    for name, argv in COMMANDS:
                        times.setdefault((label, name), []).append(_run(argv, envs[label], project))
            imports = {(label, name): _import_ms(argv, envs[label], project)
                       for label, _src in trees for name, argv in COMMANDS}

    print(f"\nstart-up, interpreter included: best (median) of {args.repeat}, alternated; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; Python {sys.version.split()[0]}\n")
    header = f"{'command':<22}" + "".join(
        f" | {label + ': wall best (median)':>28} | {'CPU':>6} | {'imports':>8} | {'CPU - pass':>10}"
        for label, _ in trees)
    print(header)
    print("-" * len(header))
    for name, _ in COMMANDS:
        row = f"{name:<22}"
        for label, _ in trees:
            walls = [w for w, _ in times[(label, name)]]
            cpu = min(c for _, c in times[(label, name)])
            floor = min(c for _, c in times[(label, "python -c pass")])
            row += (f" | {min(walls) * 1000:>12.0f} ms ({statistics.median(walls) * 1000:>5.0f} ms)"
                    f" | {cpu * 1000:>3.0f} ms | {imports[(label, name)]:>5.1f} ms | {(cpu - floor) * 1000:>7.0f} ms")
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
