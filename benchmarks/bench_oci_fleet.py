"""A fleet, simulated: 8 nodes syncing one locked 500 MiB model from an OCI registry, against the
same 8 nodes downloading it from the hub with huggingface_hub (issue 15).

One run starts the local hub and the real CNCF distribution registry (`docker-registry`), commits
a model of --mib MiB in --shards safetensors shards plus a config, locks it, syncs it once from
the hub and publishes it once with `ptmlock publish`. Then, each side in turn (alternating over
--repeat rounds; the best round of each is reported):

  registry  --nodes concurrent `ptmlock sync --source fleet` processes, each into its own fresh
            HF cache (and its own verified-hash cache)
  hub       --nodes concurrent `huggingface_hub.snapshot_download` processes of the same revision
            from the local hub, each into its own fresh HF cache

  hub-sync  --nodes concurrent `ptmlock sync --source hf`: the hub only, through ptmlock
  down      the registry is stopped first, then --nodes concurrent `ptmlock sync` with both
            sources (fleet at priority 10, hf at 20): each node finds the registry down once
            and fails over to the hub for every file (issue 25); the registry is restarted after

It prints the wall time of each side (first process started to last one finished, interpreter
start included), the bytes each server sent (registry: its access log; hub: the bytes placed
in the caches, since each file is downloaded once per cache), and the ratios: registry / hub
(target <= 0.8, issue 25) and down / hub-sync (target <= 1.1: failing over costs almost
nothing). Every cache of every side is then checked with `ptmlock verify --deep`.

Usage: python benchmarks/bench_oci_fleet.py [--mib 500] [--shards 4] [--nodes 8] [--repeat 1] [--strict]
Each flag also reads PTMLOCK_BENCH_<FLAG> (e.g. PTMLOCK_BENCH_MIB=8) for smoke runs.
Needs /usr/bin/docker-registry (`apt-get install -y docker-registry`).
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
from pathlib import Path

from bench_verify import MIB, _data, _env_int  # the same sizes and random payloads as the sync benchmark
from ptmlock.testing import LocalHub
from ptmlock.testing.oci_registry import OciRegistry, registry_available

_HUB_SCRIPT = ("import sys\nfrom huggingface_hub import snapshot_download\n"
               "snapshot_download('bench/fleet', revision=sys.argv[1])\n")


def _node_env(base: dict[str, str], root: Path) -> dict[str, str]:
    return {**base, "HF_HOME": str(root), "HF_HUB_CACHE": str(root / "hub"), "XDG_CACHE_HOME": str(root / "xdg")}


def _fleet(cmds: list[tuple[list[str], dict[str, str]]], cwd: Path) -> float:
    """Start every command at once; wall time until the last one exits (each must succeed)."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for cmd, env in cmds]
    errors = [(p, p.communicate()[1]) for p in procs]
    elapsed = time.perf_counter() - t0
    for p, err in errors:
        if p.returncode != 0:
            raise SystemExit(f"a node failed ({p.returncode}): {err.decode()[-2000:]}")
    return elapsed


def _cache_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in (root / "hub").rglob("blobs/*") if p.is_file())


def _verify_all(roots: list[Path], env: dict[str, str], project: Path, py: str) -> bool:
    ok = True
    for root in roots:
        proc = subprocess.run([py, "-m", "ptmlock", "verify", "--deep"], env=_node_env(env, root), cwd=project,
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"verify --deep FAILED for {root}: {proc.stdout[-500:]}{proc.stderr[-500:]}", file=sys.stderr)
            ok = False
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=_env_int("mib", 500))
    parser.add_argument("--shards", type=int, default=_env_int("shards", 4))
    parser.add_argument("--nodes", type=int, default=_env_int("nodes", 8))
    parser.add_argument("--repeat", type=int, default=_env_int("repeat", 1))
    parser.add_argument("--sides", default="registry,hub,hub-sync,down",
                        help="which sides to run (comma-separated; a ratio is printed when both its sides ran)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed or a verify fails")
    args = parser.parse_args()
    missing = registry_available()
    if missing:
        raise SystemExit(missing)
    py = sys.executable
    rng = random.Random(15)
    with tempfile.TemporaryDirectory(prefix="ptmlock-bench-oci-") as tmp_name:
        tmp = Path(tmp_name)
        with LocalHub(tmp / "hub") as hub, OciRegistry(tmp / "registry") as registry:
            n, shard = args.shards, args.mib * MIB // args.shards
            sha = hub.commit("bench/fleet", {
                "config.json": b'{"model_type": "bert"}',
                **{f"model-{i + 1:05d}-of-{n:05d}.safetensors": _data(shard, rng) for i in range(n)}})
            project = tmp / "project"
            project.mkdir()
            url = f"oci+http://{registry.host}/models"

            def manifest(host: str) -> None:
                (project / "ptm.toml").write_text(
                    f'[project]\nname = "fleet"\n\n[models."bench/fleet"]\n\n[[source]]\nname = "fleet"\n'
                    f'url = "oci+http://{host}/models"\npriority = 10\n\n[[source]]\nname = "hf"\nurl = "hub"\n'
                    'priority = 20\n')

            manifest(registry.host)
            env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_TELEMETRY": "1",
                   "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_XET": "1", "NO_COLOR": "1"}
            publisher = _node_env(env, tmp / "publisher")
            ptm = [py, "-m", "ptmlock"]
            for step in (["lock"], ["sync", "--quiet", "--source", "hub"]):
                subprocess.run([*ptm, *step], env=publisher, cwd=project, check=True)
            t0 = time.perf_counter()
            subprocess.run([*ptm, "publish", url], env=publisher, cwd=project, check=True, stdout=subprocess.DEVNULL)
            print(f"published {args.mib} MiB once in {time.perf_counter() - t0:.1f}s", file=sys.stderr)

            best: dict[str, tuple[float, int]] = {}
            verified = True
            for round_ in range(args.repeat):
                for side in [x for x in ("registry", "hub", "hub-sync", "down") if x in args.sides.split(",")]:
                    roots = [tmp / f"{side}-{round_}-node{i}" for i in range(args.nodes)]
                    if side == "registry":
                        before = registry.served_bytes()
                        took = _fleet([([*ptm, "sync", "--quiet", "--source", "fleet"], _node_env(env, r))
                                       for r in roots], project)
                        served = registry.served_bytes() - before
                    elif side in ("hub-sync", "down"):
                        if side == "down":
                            registry.stop()
                        took = _fleet([([*ptm, "sync", "--quiet", *(["--source", "hf"] if side == "hub-sync" else [])],
                                        _node_env(env, r)) for r in roots], project)
                        served = sum(_cache_bytes(r) for r in roots)
                        if side == "down":
                            registry.start()  # on a new port: the next round's ptm.toml names it
                            manifest(registry.host)
                    else:
                        took = _fleet([([py, "-c", _HUB_SCRIPT, sha], _node_env(env, r)) for r in roots], project)
                        served = sum(_cache_bytes(r) for r in roots)
                    verified &= _verify_all(roots, env, project, py)
                    print(f"round {round_ + 1}: {side}: {took:.2f}s, {served / MIB:.0f} MiB", file=sys.stderr)
                    if side not in best or took < best[side][0]:
                        best[side] = (took, served)
                    for r in roots:
                        shutil.rmtree(r, ignore_errors=True)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{args.nodes} nodes x {args.mib} MiB ({args.shards} shards), best of {args.repeat}; "
          f"load average {load:.1f} on {os.cpu_count()} cores")
    print(f"{'side':<52} {'wall':>8} {'served':>12}")
    labels = {"registry": "registry: ptmlock sync --source fleet", "hub": "hub: huggingface_hub.snapshot_download",
              "hub-sync": "hub-sync: ptmlock sync --source hf",
              "down": "down: registry stopped, ptmlock sync (fleet, then hf)"}
    for side, (took, served) in best.items():
        print(f"{labels[side]:<52} {took:>7.2f}s {served / MIB:>8.0f} MiB")
    met = verified
    for num, den, target in (("registry", "hub", 0.8), ("down", "hub-sync", 1.1)):
        if num in best and den in best:
            ratio = best[num][0] / best[den][0]
            met &= ratio <= target
            print(f"ratio {num} / {den}: {ratio:.2f}x (target <= {target}x: {'met' if ratio <= target else 'MISSED'})")
    print(f"verify --deep on all {len(best) * args.nodes * args.repeat} caches: {'clean' if verified else 'FAILED'}")
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    raise SystemExit(main())
