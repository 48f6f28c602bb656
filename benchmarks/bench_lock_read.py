"""Reading ptm.lock through the one reader: what the canonical tokeniser buys over a TOML parser.

    python benchmarks/bench_lock_read.py [--models 1000] [--files 5] [--runs 7]

Side by side, in one process, best of --runs, for a lock of --models models (--files each):
  tomllib.loads          the TOML parser alone (the floor of any TOML-based reader, no validation)
  read, TOML path        tomllib.loads + lock_from_dict (what a hand-edited lock costs)
  read, canonical path   parse_lock: scan_canonical + lock_from_dict (what every generated lock costs)
  write                  dumps (validates, then emits)
The runtime guard pays "read, canonical path" once, on its first intercepted load.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import tomllib

from ptmlock.lockfile.model import Lock, LockedFile, LockedModel
from ptmlock.lockfile.read import lock_from_dict, parse_lock
from ptmlock.lockfile.write import dumps


def make_lock(models: int, files: int) -> Lock:
    names = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md",
             "special_tokens_map.json", "vocab.txt", "generation_config.json")
    locked = []
    for i in range(models):
        fs = tuple(LockedFile(f"{k // len(names)}/{names[k % len(names)]}" if k >= len(names) else names[k],
                              1000 + i, f"{i + k:040x}", f"{i + k:064x}" if k == 1 else None) for k in range(files))
        locked.append(LockedModel(id=f"org{i % 37}/model-{i:04d}", commit=f"{i:040x}", role=f"r{i % 100}",
                                  files=fs, license="mit", library="transformers"))
    return Lock(manifest_hash="sha256:" + "0" * 64, models=tuple(locked))


def best(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    lock = make_lock(args.models, args.files)
    text = dumps(lock)
    assert parse_lock(text) == lock_from_dict(tomllib.loads(text)) and parse_lock(text).to_dict() == lock.to_dict()
    rows = {
        "tomllib.loads": best(lambda: tomllib.loads(text), args.runs),
        "read, TOML path": best(lambda: lock_from_dict(tomllib.loads(text)), args.runs),
        "read, canonical path": best(lambda: parse_lock(text), args.runs),
        "write": best(lambda: dumps(lock), args.runs),
    }
    floor = rows["tomllib.loads"]
    print(f"lock: {args.models} models x {args.files} files, {len(text) / 1024:.0f} KiB; best of {args.runs}")
    for name, ms in rows.items():
        print(f"  {name:22s} {ms:8.1f} ms   {ms / floor:5.2f}x tomllib.loads")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
