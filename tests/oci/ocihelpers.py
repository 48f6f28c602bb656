"""Shared steps of the OCI tests: a locked, synced tiny model and the manifest's [[source]] tables."""
from __future__ import annotations

import os
import subprocess
import sys

from lockhelpers import write_manifest


def sources_toml(*sources: tuple[str, str]) -> str:
    """`[[source]]` tables, in the order given (priority = position)."""
    return "".join(f'\n[[source]]\nname = "{name}"\nurl = "{url}"\npriority = {n}\n'
                   for n, (name, url) in enumerate(sources))


def locked_project(hub, project, ptm, repos: dict[str, dict[str, bytes]], sources=()) -> dict[str, str]:
    """Commit `repos` to the hub, declare and lock them, sync them from the hub. Returns commit SHAs."""
    shas = {repo: hub.commit(repo, files) for repo, files in repos.items()}
    write_manifest(project, {repo: {} for repo in repos}, extra=sources_toml(*sources))
    r = ptm("lock")
    assert r.code == 0, r.err
    r = ptm("sync", "--source", "hub")
    assert r.code == 0, r.err
    return shas


def new_cache(tmp_path, monkeypatch, name: str):
    """Point the HF cache (and ptmlock's verified-hash cache) at fresh folders: a clean machine."""
    from huggingface_hub import constants

    hub_cache = tmp_path / name / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / name))
    monkeypatch.setenv("HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / name / "xdg"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(constants, "HF_HOME", str(tmp_path / name))
    return hub_cache


def run_python(script: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `script` in a fresh interpreter with the hub unreachable and HF_HUB_OFFLINE=1."""
    full = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9", "TRANSFORMERS_VERBOSITY": "error",
            **env}
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=full, timeout=300, check=False)
