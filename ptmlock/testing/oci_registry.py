"""A real CNCF distribution registry (`docker-registry` from Debian) on 127.0.0.1, for tests and
benchmarks of `ptmlock publish` and registry sources (issue 15).

    with OciRegistry(tmp_path / "registry") as reg:          # anonymous
        ...  # oci+http://{reg.host}/models
    with OciRegistry(root, htpasswd=("alice", "s3cret")):    # HTTP basic auth
    with OciRegistry(root, token=TokenAuth(realm, service, issuer, cert_pem)):  # bearer tokens

It writes the registry's config, starts it on a free port, and waits until `/v2/` answers.
`blob_path(digest)` is where the filesystem driver keeps a blob, so a test can tamper with it.
`served_bytes()` sums the bytes of blob GETs from the access log.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REGISTRY_BINARY = "/usr/bin/docker-registry"
_BLOB_GET = re.compile(r'"GET /v2/\S+/blobs/sha256:[0-9a-f]{64} HTTP/[\d.]+" 200 (\d+)')


@dataclass(frozen=True)
class TokenAuth:
    """The registry's `auth.token` settings: tokens from `realm`, signed by the key of `cert_pem`."""

    realm: str
    service: str
    issuer: str
    cert_pem: bytes


def registry_available() -> str | None:
    """None when the registry binary is installed, else why not (a pytest skip reason)."""
    if os.path.exists(REGISTRY_BINARY):
        return None
    return (f"{REGISTRY_BINARY} is not installed: `apt-get install -y docker-registry apache2-utils` "
            "(the CNCF distribution registry; CI installs it)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OciRegistry:
    """The real distribution registry, storing under `root`, on 127.0.0.1:`port`."""

    def __init__(self, root: str | os.PathLike[str], *, htpasswd: tuple[str, str] | None = None,
                 token: TokenAuth | None = None) -> None:
        self.root = Path(root)
        self.htpasswd = htpasswd
        self.token = token
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`."""
        return f"127.0.0.1:{self.port}"

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    @property
    def log(self) -> Path:
        return self.root / "registry.log"

    def blob_path(self, digest: str) -> Path:
        """Where the filesystem driver stores blob `digest` (`sha256:<hex>`)."""
        hexd = digest.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"

    def served_bytes(self) -> int:
        """Bytes of blob bodies served so far (200 GETs in the access log)."""
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return 0
        return sum(int(m.group(1)) for m in _BLOB_GET.finditer(text))

    def _config(self) -> dict[str, object]:
        config: dict[str, object] = {
            "version": 0.1,
            "log": {"level": "error", "accesslog": {"disabled": False}},
            "storage": {"filesystem": {"rootdirectory": str(self.storage)}, "delete": {"enabled": True},
                        "maintenance": {"uploadpurging": {"enabled": False}}},
            "http": {"addr": self.host, "secret": os.urandom(16).hex()},
        }
        if self.htpasswd is not None:
            user, password = self.htpasswd
            path = self.root / "htpasswd"
            line = subprocess.run(["htpasswd", "-Bbn", user, password], capture_output=True, check=True, text=True)
            path.write_text(line.stdout.strip() + "\n")
            config["auth"] = {"htpasswd": {"realm": "ptmlock-test", "path": str(path)}}
        elif self.token is not None:
            bundle = self.root / "token-ca.pem"
            bundle.write_bytes(self.token.cert_pem)
            config["auth"] = {"token": {"realm": self.token.realm, "service": self.token.service,
                                        "issuer": self.token.issuer, "rootcertbundle": str(bundle)}}
        return config

    def start(self) -> OciRegistry:
        """Write the config, start the registry and wait for it (at most 30 s)."""
        if self.htpasswd is not None and shutil.which("htpasswd") is None:
            raise RuntimeError("htpasswd (apache2-utils) is needed for a registry with basic auth")
        self.root.mkdir(parents=True, exist_ok=True)
        for _ in range(5):  # another process may take the free port before the registry binds it
            self.port = _free_port()
            config = self.root / "config.yml"
            config.write_text(json.dumps(self._config(), indent=2))  # JSON is YAML
            with open(self.log, "ab") as log:
                self._proc = subprocess.Popen([REGISTRY_BINARY, "serve", str(config)], stdout=log, stderr=log,
                                              stdin=subprocess.DEVNULL)
            if self._wait():
                return self
            self.stop()
        raise RuntimeError(f"the registry did not start; see {self.log}")

    def _wait(self) -> bool:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2):
                    return True
            except urllib.error.HTTPError as e:
                if e.code == 401:
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Stop the registry (its storage stays)."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def __enter__(self) -> OciRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
