"""Fixtures for the OCI tests: the real CNCF distribution registry on 127.0.0.1 (issue 15)."""
from __future__ import annotations

import pytest

from ptmlock.testing.oci_registry import OciRegistry, registry_available


def need_registry() -> None:
    reason = registry_available()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def registry(tmp_path):
    """An anonymous registry (plain HTTP on 127.0.0.1, so `oci+http://` is allowed)."""
    need_registry()
    with OciRegistry(tmp_path / "registry") as reg:
        yield reg


@pytest.fixture(autouse=True)
def _isolated_registry_env(tmp_path, monkeypatch):
    """No Docker credentials of the machine's user; a stopped server is reported in seconds."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setenv("PTMLOCK_HUB_DEADLINE", "3")
