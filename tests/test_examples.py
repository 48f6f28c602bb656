"""The README's main job: the offline demo and the guarded example app run end to end."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def _run(script: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PTMLOCK_"))}
    env.update(HF_HOME=str(tmp_path / "hf"), XDG_CACHE_HOME=str(tmp_path / "cache"), TMPDIR=str(tmp_path))
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


def test_offline_demo_runs_every_step(tmp_path):
    r = _run(ROOT / "examples" / "demo.py", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    for step in ("$ ptmlock init", "$ ptmlock lock --check", "ptm.lock is up to date", "(the hub saw 0 requests",
                 "(exit code 1, as expected)", "$ ptmlock sync", "intact", "Demo finished."):
        assert step in out, step
    assert '"moved": true' not in out  # the guarded program kept the pinned config
    assert "Traceback" not in out + r.stderr, r.stderr


def test_guarded_app_example_runs(tmp_path):
    r = _run(ROOT / "examples" / "guarded_app" / "run_example.py", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "a swap outside the role is refused" in r.stdout, r.stderr
    assert "refused: ptmlock refused to load 'demo/not-declared'" in r.stdout, r.stderr
