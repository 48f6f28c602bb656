"""Time `ptmlock verify` and `ptmlock sync` against the tools people would use instead.

One run builds, on the local hub, a model with one large file (2 GiB), one with 500 files of
1 MiB, one with 1,000 small files, and a 500 MiB model in shards; locks them and syncs the
first three into a fresh Hugging Face cache with `ptmlock sync`. Then, wall clock per command
(interpreter start included; best of --repeat after one warm-up, page cache warm):

  large      ptmlock verify --deep  vs  openssl dgst -sha256, sha256sum, hf cache verify
  small      ptmlock verify --deep --jobs N  vs  openssl dgst -sha256 over the 500 files in one
             sequential run, openssl once per file, sha256sum, hf cache verify
  cached     ptmlock verify of the 1,000 files again (nothing changed: no file is read)
  sync       ptmlock sync of the sharded model  vs  huggingface_hub.snapshot_download of the same
             revision, each into a fresh cache
  plus `verify()` timed inside an interpreter that has already imported ptmlock (the library's
  own time, without the ~0.1 s of interpreter start and imports every CLI run pays).

Targets: large >= 0.9x openssl; small >= 1.4x openssl (2 cores); cached < 0.3 s;
sync >= 0.95x snapshot_download while checking every byte (issue 17).

PYTHONDONTWRITEBYTECODE is dropped and bytecode goes to a private PYTHONPYCACHEPREFIX, as for
an installed package (otherwise every ptmlock run would compile its sources again).

Usage: python benchmarks/bench_verify.py [--large-mib 2048] [--small-count 500] [--small-mib 1]
       [--cached-count 1000] [--sync-mib 500] [--sync-shards 4] [--jobs 2] [--repeat 3] [--strict]
       [--no-warmup] [--baselines all|openssl]
Every size flag also reads PTMLOCK_BENCH_<FLAG> (e.g. PTMLOCK_BENCH_LARGE_MIB=8) for smoke runs.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ptmlock.testing import LocalHub

MIB = 1024 * 1024


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(f"PTMLOCK_BENCH_{name.upper()}", default))


def _data(size: int, rng: random.Random) -> bytes:
    out = bytearray()
    while len(out) < size:
        out += rng.randbytes(min(64 * MIB, size - len(out)))
    return bytes(out)


def _timed(fn: Callable[[], float | None]) -> float:
    """Wall time of `fn()`, or the time it reports itself when it returns one."""
    t0 = time.perf_counter()
    reported = fn()
    return reported if reported is not None else time.perf_counter() - t0


def _pair(a: Callable[[], float | None], b: Callable[[], float | None], repeat: int,
          warmup: bool = True) -> tuple[float, float]:
    """Best time of `a` and of `b`, run alternately (after one warm-up of each) so that load
    from other processes falls on both alike."""
    if warmup:
        a(), b()
    ta, tb = [], []
    for _ in range(repeat):
        ta.append(_timed(a))
        tb.append(_timed(b))
    return min(ta), min(tb)


# `verify()` called in an interpreter that has already imported ptmlock: the library's own time,
# without interpreter start-up and imports (which `ptmlock verify` pays on every run).
_IN_PROCESS = """
import sys, time
from pathlib import Path
from ptmlock.install.verify import verify_project
t0 = time.perf_counter()
report = verify_project(Path("ptm.toml"), model_ids=[sys.argv[1]], deep=True, jobs=int(sys.argv[2]))
assert report.ok
print(time.perf_counter() - t0)
"""


def _run(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
    proc = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:6])}... failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")


def _reported(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}... failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return float(proc.stdout.split()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large-mib", type=int, default=_env_int("large_mib", 2048))
    parser.add_argument("--small-count", type=int, default=_env_int("small_count", 500))
    parser.add_argument("--small-mib", type=int, default=_env_int("small_mib", 1))
    parser.add_argument("--cached-count", type=int, default=_env_int("cached_count", 1000))
    parser.add_argument("--sync-mib", type=int, default=_env_int("sync_mib", 500))
    parser.add_argument("--sync-shards", type=int, default=_env_int("sync_shards", 4))
    parser.add_argument("--jobs", type=int, default=_env_int("jobs", 2), help="verify threads for the small files")
    parser.add_argument("--repeat", type=int, default=_env_int("repeat", 3))
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--baselines", choices=("all", "openssl"), default="all",
                        help="openssl: only the targets and the in-process rows (smoke tests)")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false", help="skip warm-up runs (smoke tests)")
    args = parser.parse_args()
    rng = random.Random(4)
    py = sys.executable
    hf = str(Path(py).with_name("hf"))

    with tempfile.TemporaryDirectory(prefix="ptmlock-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with LocalHub(tmp / "hub") as hub:
            t0 = time.perf_counter()
            commits = {
                "bench/large": hub.commit("bench/large", {"model.safetensors": _data(args.large_mib * MIB, rng)}),
                "bench/small": hub.commit("bench/small", {f"part-{i:04d}.bin": _data(args.small_mib * MIB, rng)
                                                          for i in range(args.small_count)}),
                "bench/many": hub.commit("bench/many", {f"f{i:05d}.json": b'{"i": %d}\n' % i
                                                        for i in range(args.cached_count)}),
            }
            shard = args.sync_mib * MIB // args.sync_shards
            n = args.sync_shards
            commits["bench/sync"] = hub.commit("bench/sync", {
                "config.json": b'{"model_type": "bert"}',
                **{f"model-{i + 1:05d}-of-{n:05d}.safetensors": _data(shard, rng) for i in range(n)}})
            print(f"built the hub in {time.perf_counter() - t0:.1f}s", file=sys.stderr)

            project = tmp / "project"
            project.mkdir()
            (project / "ptm.toml").write_text('[project]\nname = "bench"\n' + "".join(
                f'\n[models."{m}"]\nrole = "{m.split("/")[1]}"\n' for m in commits))
            cache = tmp / "hf-cache"
            env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
                   "PYTHONPYCACHEPREFIX": str(tmp / "pycache"), "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(tmp / "hf-home"),
                   "HF_HUB_CACHE": str(cache), "XDG_CACHE_HOME": str(tmp / "xdg"), "HF_HUB_DISABLE_TELEMETRY": "1",
                   "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_XET": "1", "NO_COLOR": "1"}
            ptm = [py, "-m", "ptmlock"]
            _run([*ptm, "lock"], env, project)
            t0 = time.perf_counter()
            _run([*ptm, "sync", "--quiet", "--role", "large", "--role", "small", "--role", "many"], env, project)
            print(f"synced the verify fixtures in {time.perf_counter() - t0:.1f}s", file=sys.stderr)

            def blobs(repo: str) -> list[str]:
                snap = cache / f"models--{repo.replace('/', '--')}" / "snapshots" / commits[repo]
                return sorted(os.path.realpath(p) for p in snap.iterdir())

            def hf_verify(repo: str) -> list[str]:
                return [hf, "cache", "verify", repo, "--revision", commits[repo], "--cache-dir", str(cache), "--quiet"]

            rows: list[tuple[str, str, float, str, float, str]] = []

            def compare(case: str, ours: list[str], name: str, cmd: list[str], target: str = "",
                        label: str = "ptmlock verify") -> None:
                if args.baselines == "openssl" and not target and ours[1] != "-c":  # in-process rows always run
                    return
                if ours[1] == "-c":  # times itself
                    run_ours: Callable[[], float | None] = lambda: _reported(ours, env, project)
                else:
                    run_ours = lambda: _run(ours, env, project)
                t_ours, t_base = _pair(run_ours, lambda: _run(cmd, env, project), args.repeat, args.warmup)
                rows.append((case, label, t_ours, name, t_base, target))

            large = blobs("bench/large")
            ours = [*ptm, "verify", "--deep", "--model", "bench/large"]
            compare("large", ours, "openssl dgst -sha256", ["openssl", "dgst", "-sha256", *large], ">= 0.9x")
            compare("large", ours, "sha256sum", ["sha256sum", *large])
            compare("large", ours, "hf cache verify", hf_verify("bench/large"))
            compare("large", [py, "-c", _IN_PROCESS, "bench/large", "1"], "openssl dgst -sha256",
                    ["openssl", "dgst", "-sha256", *large], label="verify() in-process")

            small = blobs("bench/small")
            ours = [*ptm, "verify", "--deep", "--jobs", str(args.jobs), "--model", "bench/small"]
            openssl_seq = ["openssl", "dgst", "-sha256", *small]
            compare("small", ours, "openssl dgst -sha256 (sequential)", openssl_seq, ">= 1.4x")
            compare("small", ours, "openssl dgst -sha256, one per file", ["sh", "-c", 'for f in "$@"; do '
                    'openssl dgst -sha256 "$f"; done', "sh", *small])
            compare("small", ours, "sha256sum", ["sha256sum", *small])
            compare("small", ours, "hf cache verify", hf_verify("bench/small"))
            compare("small", [py, "-c", _IN_PROCESS, "bench/small", str(args.jobs)],
                    "openssl dgst -sha256 (sequential)", openssl_seq, label="verify() in-process")

            _run([*ptm, "verify", "--model", "bench/many"], env, project)  # records the hashes
            ours = [*ptm, "verify", "--model", "bench/many"]
            # the baseline here is only for scale: the target is the absolute time
            compare("cached", ours, "ptmlock verify --deep", [*ptm, "verify", "--deep", "--model", "bench/many"],
                    "< 0.3 s")
            compare("cached", ours, "hf cache verify", hf_verify("bench/many"))

            sync_ours: list[float] = []
            sync_hf: list[float] = []
            script = ("import sys\nfrom huggingface_hub import snapshot_download\n"
                      "snapshot_download('bench/sync', revision=sys.argv[1])\n")
            first = 0 if args.warmup else 1
            for i in range(first, args.repeat + 1):  # alternate; round 0 is the warm-up
                fresh = tmp / f"sync-{i}"
                t0 = time.perf_counter()
                _run([*ptm, "sync", "--quiet", "--role", "sync"], {**env, "HF_HUB_CACHE": str(fresh / "a")}, project)
                t1 = time.perf_counter()
                _run([py, "-c", script, commits["bench/sync"]], {**env, "HF_HUB_CACHE": str(fresh / "b")})
                t2 = time.perf_counter()
                if i:
                    sync_ours.append(t1 - t0)
                    sync_hf.append(t2 - t1)
                shutil.rmtree(fresh)
            rows.append(("sync", "ptmlock sync", min(sync_ours), "snapshot_download", min(sync_hf), ">= 0.95x"))

    print(f"\nverify/sync benchmark: large {args.large_mib} MiB, small {args.small_count} x {args.small_mib} MiB "
          f"(--jobs {args.jobs}), cached {args.cached_count} files, sync {args.sync_mib} MiB in {args.sync_shards} "
          f"shards; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; best of {args.repeat}, "
          "alternating with each baseline\n")
    print(f"{'case':<7} {'ptmlock':<20} {'time':>8}  {'baseline':<36} {'time':>8} {'speed-up':>9}  target")
    print("(speed-up = baseline time / ptmlock time)")
    missed = 0
    for case, label, t_ours, name, base, target in rows:
        ratio = base / t_ours
        ok = ""
        if target.startswith(">="):
            ok = "ok" if ratio >= float(target.split()[1].rstrip("x")) else "MISSED"
        elif target.startswith("<"):
            ok = "ok" if t_ours < float(target.split()[1]) else "MISSED"
        missed += ok == "MISSED"
        print(f"{case:<7} {label:<20} {t_ours:>7.3f}s  {name:<36} {base:>7.3f}s {ratio:>8.2f}x  {target} {ok}")
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
