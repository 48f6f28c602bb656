"""Run the guarded app end to end, offline: a local hub with the demo models, `ptmlock lock`,
the app, a move of `main` upstream (the app keeps its pins), a role swap, a refused load, and
`ptmlock run` around a program that does not import ptmlock.

    python examples/guarded_app/run_example.py
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ptmlock.testing import LocalHub, populate_demo

HERE = Path(__file__).parent


def step(title: str, cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    print(f"\n## {title}\n$ {' '.join(cmd)}", flush=True)
    r = subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=True)
    sys.stdout.write(r.stdout + r.stderr)
    print(f"(exit code {r.returncode})")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="guarded-app-") as tmp:
        root = Path(tmp)
        app = root / "app"
        shutil.copytree(HERE, app, ignore=shutil.ignore_patterns("run_example.py", "ptm.lock", "__pycache__"))
        with LocalHub(root / "hub") as hub:
            populate_demo(hub)
            env = {**os.environ, "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(root / "hf"),
                   "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_XET": "1"}
            py = sys.executable
            step("lock the models", [py, "-m", "ptmlock", "lock"], app, env)
            step("run the app", [py, "app.py"], app, env)
            hub.commit("demo/tiny-whisper", {"config.json": b'{"model_type": "changed upstream"}'})
            step("main moved upstream: the app still loads its pins", [py, "app.py"], app, env)
            step("swap the text encoder inside its role",
                 [py, "app.py"], app, {**env, "PTMLOCK_ROLE_TEXT_ENCODER": "demo/tiny-roberta"})
            step("a swap outside the role is refused",
                 [py, "app.py"], app, {**env, "PTMLOCK_ROLE_TEXT_ENCODER": "demo/tiny-whisper"})
            step("an undeclared model is refused before any request", [py, "app.py", "--unlisted"], app, env)
            step("guard a program without editing it",
                 [py, "-m", "ptmlock", "run", "--report", "loads.jsonl", "--", py, "legacy_app.py"], app, env)
            print((app / "loads.jsonl").read_text())


if __name__ == "__main__":
    main()
