"""The offline demo: a local Hugging Face compatible hub with tiny generated models, and a
project that declares, locks, checks, lists, syncs and verifies them with the real `ptmlock`
CLI, then runs a program under the runtime guard.

Run it with `python examples/demo.py`; it needs no network. Pass `--keep DIR` to keep the
project and hub in DIR afterwards.
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from ptmlock.testing import LocalHub, populate_demo


def run(project: Path, env: dict[str, str], *args: str, expect: int = 0) -> None:
    print(f"\n$ ptmlock {shlex.join(args)}", flush=True)
    r = subprocess.run([sys.executable, "-m", "ptmlock", *args], cwd=project, env=env, text=True,
                       capture_output=True)
    sys.stdout.write(r.stdout)
    sys.stdout.write(r.stderr)
    if r.returncode != expect:
        raise SystemExit(f"demo: `ptmlock {shlex.join(args)}` exited {r.returncode}, expected {expect}")
    if expect:
        print(f"(exit code {r.returncode}, as expected)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="keep the hub and project in this directory")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="ptmlock-demo-"))
    base.mkdir(parents=True, exist_ok=True)

    with LocalHub(base / "hub") as hub:
        populate_demo(hub)
        print(f"Local hub with tiny demo models at {hub.endpoint}")
        project = base / "project"
        project.mkdir(exist_ok=True)
        env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(base / "hf-home"),
               "HF_HUB_DISABLE_TELEMETRY": "1", "NO_COLOR": "1"}
        env.pop("HF_TOKEN", None)

        if not (project / "ptm.toml").exists():
            run(project, env, "init", "--name", "demo-app")
        run(project, env, "add", "demo/tiny-bert@main", "--role", "text-encoder")
        run(project, env, "add", "demo/tiny-roberta", "--role", "text-encoder")
        run(project, env, "add", "demo/tiny-whisper", "--role", "speech")
        run(project, env, "add", "demo/tiny-dataset", "--type", "dataset", "--no-lock")
        run(project, env, "lock")
        run(project, env, "lock", "--check")
        run(project, env, "list")

        print("\n# upstream pushes new weights to demo/tiny-bert's main branch ...")
        hub.commit("demo/tiny-bert", {"model.safetensors": os.urandom(1024)}, message="retrain")
        hub.reset_requests()
        run(project, env, "lock")
        print(f"(the hub saw {len(hub.requests)} requests: unchanged entries keep their pins)")
        run(project, env, "lock", "--upgrade", "demo/tiny-bert")

        print("\n# someone edits ptm.toml without re-locking ...")
        manifest = project / "ptm.toml"
        manifest.write_text(manifest.read_text().replace('[models."demo/tiny-whisper"]',
                                                         '[models."demo/tiny-whisper"]\nrevision = "v1.0"'))
        run(project, env, "lock", "--check", expect=1)
        run(project, env, "lock")
        run(project, env, "list", "--json")
        run(project, env, "tree")

        print("\n# fetch exactly the pinned bytes, then prove they are intact ...")
        run(project, env, "sync", "--quiet")
        run(project, env, "verify")

        print("\n# upstream moves main again; a program that loads by name still gets the pin ...")
        hub.commit("demo/tiny-bert", {"config.json": b'{"model_type": "bert", "moved": true}'}, message="move")
        loader = ("from huggingface_hub import hf_hub_download; "
                  "print(open(hf_hub_download('demo/tiny-bert', 'config.json')).read()[:60])")
        run(project, env, "run", "--", sys.executable, "-c", loader)
        run(project, env, "check")
        print(f"\nptm.lock ({(project / 'ptm.lock').stat().st_size} bytes) begins:")
        print("\n".join((project / "ptm.lock").read_text().splitlines()[:16]))
    if args.keep is None:
        import shutil

        shutil.rmtree(base, ignore_errors=True)
    print("\nDemo finished.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
