"""Peak memory of `ptmlock lock` against a hub that answers repo info with a huge JSON body (issue 11).

    python benchmarks/bench_hostile_answer.py [--mb 200] [--checkout DIR]...

A server of this script's own answers `GET /api/models/org/a` with `--mb` MiB of JSON and no
Content-Length (the body ends when the connection closes), and a small valid answer for
`org/small`. For each `--checkout` (default: this one), `ptmlock lock` runs in a fresh
interpreter with that checkout first on PYTHONPATH; the script prints its exit code, wall
time and peak RSS (ru_maxrss of the child), for the huge answer and for the small one, and the
ratio huge/small. Before issue 11 the huge answer was read whole (the issue measured 600 MiB
for 200 MB); with the answer cap (PTMLOCK_MAX_ANSWER_BYTES, 64 MiB) reading stops there.
"""
from __future__ import annotations

import argparse
import http.server
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

SHA = "a" * 40


class _Hub(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    mib = 200

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        try:
            if "/api/models/org/small" in self.path:
                self.wfile.write(b'{"id": "org/small", "sha": "' + SHA.encode() + b'", "siblings": []}')
                return
            self.wfile.write(b'{"sha": "' + SHA.encode() + b'", "padding": "')
            chunk = b"x" * (1 << 20)
            for _ in range(self.mib):
                self.wfile.write(chunk)
            self.wfile.write(b'"}')
        except OSError:
            pass

    def log_message(self, *args: object) -> None:
        pass


_CHILD = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
          "p = subprocess.run([sys.executable, '-m', 'ptmlock', 'lock'], capture_output=True, text=True); "
          "print(p.returncode, round(time.perf_counter() - t, 2), "
          "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def run(checkout: Path, endpoint: str, model: str) -> tuple[int, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "ptm.toml").write_text(f'[project]\nname = "b"\n\n[models."{model}"]\n')
        env = {**os.environ, "HF_ENDPOINT": endpoint, "PYTHONPATH": str(checkout), "HF_HOME": str(project / "hf"),
               "XDG_CACHE_HOME": str(project / "xdg"),
               # huggingface_hub's user agent otherwise imports torch to name its version (~400 MiB)
               "HF_HUB_DISABLE_TELEMETRY": "1"}
        out = subprocess.run([sys.executable, "-c", _CHILD], cwd=project, check=False, capture_output=True, text=True, env=env,
                             timeout=600).stdout.split()
        return int(out[0]), float(out[1]), int(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--checkout", action="append", type=Path)
    args = parser.parse_args()
    _Hub.mib = args.mb
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    checkouts = args.checkout or [Path(__file__).resolve().parent.parent]
    print(f"{'checkout':<28} {'answer':>9} {'exit':>4} {'seconds':>8} {'peak RSS':>10}  ratio huge/small")
    try:
        for checkout in checkouts:
            small = run(checkout, endpoint, "org/small")
            huge = run(checkout, endpoint, "org/a")
            for name, (code, secs, rss) in (("small", small), (f"{args.mb} MiB", huge)):
                print(f"{str(checkout)[-28:]:<28} {name:>9} {code:>4} {secs:>8.2f} {rss / 1024:>7.0f} MiB")
            print(f"{'':<28} {'':>9} {'':>4} {'':>8} {'':>10}  {huge[2] / small[2]:.2f}x")
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
