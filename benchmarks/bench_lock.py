"""Lock 200 models from the local hub with 50 ms injected latency per request.

Side by side, in one run:
  baseline  a plain sequential huggingface_hub loop: model_info(id, files_metadata=True) per model
  ptmlock   `python -m ptmlock lock` (interpreter start included), concurrent resolution
  no-op     `python -m ptmlock lock` again on the unchanged project: zero hub requests

Usage: python benchmarks/bench_lock.py [--models 200] [--latency 0.05]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ptmlock.testing import LocalHub


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, LocalHub(Path(tmp) / "hub") as hub:
        ids = [f"bench/model-{i:03d}" for i in range(args.models)]
        for i, model_id in enumerate(ids):
            hub.commit(model_id, {"config.json": f'{{"i": {i}}}'.encode(), "model.safetensors": os.urandom(256)})
        project = Path(tmp) / "project"
        project.mkdir()
        (project / "ptm.toml").write_text(
            '[project]\nname = "bench"\n' + "".join(f'\n[models."{m}"]\nrole = "pool"\n' for m in ids)
        )
        env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HUB_DISABLE_TELEMETRY": "1",
               "HF_HOME": str(Path(tmp) / "hf")}
        os.environ.update({"HF_ENDPOINT": hub.endpoint, "HF_HOME": str(Path(tmp) / "hf")})
        hub.latency = args.latency

        from huggingface_hub import HfApi

        api = HfApi(endpoint=hub.endpoint)
        hub.reset_requests()
        t0 = time.perf_counter()
        for model_id in ids:
            api.model_info(model_id, files_metadata=True)
        baseline = time.perf_counter() - t0
        baseline_requests = len(hub.requests)

        hub.reset_requests()
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ptmlock", "lock"], cwd=project, env=env, check=True,
                       capture_output=True)
        full = time.perf_counter() - t0
        full_requests = len(hub.requests)

        hub.reset_requests()
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ptmlock", "lock"], cwd=project, env=env, check=True,
                       capture_output=True)
        noop = time.perf_counter() - t0
        noop_requests = len(hub.requests)

    print(f"lock of {args.models} models, {args.latency * 1000:.0f} ms latency per request")
    print(f"{'':34} {'wall s':>8} {'requests':>9}")
    print(f"{'sequential huggingface_hub loop':34} {baseline:8.2f} {baseline_requests:9d}")
    print(f"{'ptmlock lock (full)':34} {full:8.2f} {full_requests:9d}   {baseline / full:5.1f}x faster (target >= 8x)")
    print(f"{'ptmlock lock (no-op re-lock)':34} {noop:8.2f} {noop_requests:9d}   target < 0.5 s, 0 requests")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
