"""Shared fixtures: every test is isolated from the user's HF cache, token and ptmlock settings."""
from __future__ import annotations

import importlib
import importlib.util
import os

import pytest
from huggingface_hub import constants

from ptmlock._hfcompat import close_session
from ptmlock.testing import LocalHub
from tinymodels import point_huggingface_hub_at


# The `ml` marker: tests that need the test-ml extra. Without those libraries they are skipped
# with the reason (a `pip install -e '.[test-core]'` venv); `pytest -m "not ml"` deselects them.
_ML_LIBRARIES = ("torch", "torchvision", "transformers", "diffusers", "sentence_transformers", "timm", "open_clip",
                 "peft")


def pytest_collection_modifyitems(config, items):
    missing = [name for name in _ML_LIBRARIES if importlib.util.find_spec(name) is None]
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"needs the test-ml extra ({', '.join(missing)} not installed): "
                                   "pip install -e '.[test-ml]'")
    for item in items:
        if "ml" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def isolate_env(tmp_path, monkeypatch):
    """A private HF home and cache per test; no token, endpoint, offline flag or PTMLOCK_* setting.

    huggingface_hub.constants reads the environment once at import, so the constants that the
    client reads at call time are patched as well.
    """
    for name in list(os.environ):
        if name.startswith("PTMLOCK_"):
            monkeypatch.delenv(name)
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_ENDPOINT", "HF_HUB_OFFLINE",
                 "TRANSFORMERS_OFFLINE", "HUGGINGFACE_HUB_CACHE", "HF_XET_CACHE", "HF_HUB_ETAG_TIMEOUT",
                 "HF_HUB_DOWNLOAD_TIMEOUT", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(name, raising=False)
    hf_home = tmp_path / "hf-home"
    env = {
        "HF_HOME": str(hf_home), "HF_HUB_CACHE": str(hf_home / "hub"), "NO_COLOR": "1", "COLUMNS": "80",
        "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        # platformdirs: ptmlock's caches (scan, verify, run locks) and crash log stay per test
        "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"), "XDG_STATE_HOME": str(tmp_path / "xdg-state"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name, value in {
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(hf_home / "hub"),
        "HUGGINGFACE_HUB_CACHE": str(hf_home / "hub"),
        "HF_ASSETS_CACHE": str(hf_home / "assets"),
        "HF_XET_CACHE": str(hf_home / "xet"),
        "HF_TOKEN_PATH": str(hf_home / "token"),
        "HF_STORED_TOKENS_PATH": str(hf_home / "stored_tokens"),
        "ENDPOINT": constants._HF_DEFAULT_ENDPOINT,
        "HUGGINGFACE_CO_URL_TEMPLATE": constants._HF_DEFAULT_ENDPOINT + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_PROGRESS_BARS": True,
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": False,
        "HF_HUB_DISABLE_UPDATE_CHECK": True,
        "HF_HUB_ETAG_TIMEOUT": constants.DEFAULT_ETAG_TIMEOUT,
        "HF_HUB_DOWNLOAD_TIMEOUT": constants.DEFAULT_DOWNLOAD_TIMEOUT,
    }.items():
        if hasattr(constants, name):  # huggingface_hub 0.x has no update check
            monkeypatch.setattr(constants, name, value)
    # utils/tqdm.py imported this one by name (the module, not the `tqdm` class utils re-exports)
    monkeypatch.setattr(importlib.import_module("huggingface_hub.utils.tqdm"), "HF_HUB_DISABLE_PROGRESS_BARS", True)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A started `LocalHub` under tmp_path, with huggingface_hub (and subprocesses) pointed at it."""
    with LocalHub(tmp_path / "hub") as local_hub:
        point_huggingface_hub_at(monkeypatch, local_hub.endpoint)
        yield local_hub
    close_session()  # drop keep-alive connections to the stopped server


@pytest.fixture
def project(tmp_path, monkeypatch):
    """An empty project directory, made the current directory."""
    p = tmp_path / "proj"
    p.mkdir()
    monkeypatch.chdir(p)
    return p


@pytest.fixture
def ptm(project, capsys):
    """Run the real CLI in-process in `project`: `ptm("lock", "--check") -> Result(code, out, err)`."""
    from lockhelpers import Result
    from ptmlock.cli import main

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run
