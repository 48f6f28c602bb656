"""Fixtures of the guard's tests."""
from __future__ import annotations

import pytest


@pytest.fixture
def project(tmp_path):
    """An empty project directory (not made the current directory: guarded programs run in it)."""
    p = tmp_path / "proj"
    p.mkdir()
    return p
