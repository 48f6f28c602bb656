"""Git repos and files served over HTTP by `StaticServer`, the way torch.hub reaches GitHub:
bare repos for git's "dumb HTTP" protocol plus the zipballs torch.hub downloads."""
from __future__ import annotations

import io
import subprocess

import pytest
from tinymodels import torchhub_commit

from ptmlock.testing._static import StaticServer


class Upstream:
    """Git repos (work trees published as bare repos for dumb HTTP, with GitHub-style zipballs)
    and weight files, all served by one StaticServer."""

    def __init__(self, root, server):
        self.root, self.server, self.srv = root, server, server.root
        self.url = server.url

    def commit(self, slug: str, version: float) -> str:
        """Commit hubconf.py (bias = version) on the repo's main branch and publish it."""
        sha = torchhub_commit(self.root / "work" / slug, version)
        self.publish(slug)
        return sha

    def git(self, slug: str, *args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", "-C",
                               str(self.root / "work" / slug), *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    def publish(self, slug: str) -> None:
        bare = self.srv / f"{slug}.git"
        if not bare.exists():
            subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
        self.git(slug, "push", "-q", "--mirror", str(bare))
        subprocess.run(["git", "-C", str(bare), "symbolic-ref", "HEAD", "refs/heads/main"], check=True)
        subprocess.run(["git", "-C", str(bare), "update-server-info"], check=True)
        zipballs = self.srv / slug / "zipball"
        zipballs.mkdir(parents=True, exist_ok=True)
        for sha in self.git(slug, "rev-list", "--all").split():  # what github.com/<slug>/zipball/<sha> serves
            prefix = f"{slug.replace('/', '-')}-{sha[:7]}/"
            self.git(slug, "archive", "--format=zip", f"--prefix={prefix}", "-o", str(zipballs / sha), sha)

    def put(self, path: str, data: bytes) -> str:
        (self.srv / path).parent.mkdir(parents=True, exist_ok=True)
        (self.srv / path).write_bytes(data)
        return f"{self.url}/{path}"


def weights(value: float) -> bytes:
    """A real torch checkpoint: {"w": tensor([value])}."""
    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.tensor([value])}, buf)
    return buf.getvalue()


@pytest.fixture
def upstream(tmp_path, monkeypatch):
    with StaticServer(tmp_path / "srv") as server:
        monkeypatch.setenv("PTMLOCK_TORCHHUB_URL", server.url)
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-lock"))
        yield Upstream(tmp_path, server)
