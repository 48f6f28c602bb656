"""How long a registry client takes to report a failure: oras-py against ptmlock's own client.

This is the measurement behind the choice of client in docs/oci.md (issue 15). Against the real
distribution registry with htpasswd basic auth on 127.0.0.1, time until each client raises for
  wrong password   a manifest GET with a wrong password (oras-py: its basic and token backends)
  stopped          a manifest GET to a registry that has stopped (connection refused)
ptmlock runs with PTMLOCK_HUB_DEADLINE as set (default 60 s); oras-py has no such setting.

Usage: python benchmarks/bench_oci_client_failures.py
Needs /usr/bin/docker-registry and htpasswd (`apt-get install -y docker-registry apache2-utils`)
and oras-py (the test extra).
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ptmlock.oci.auth import Credentials
from ptmlock.oci.client import RegistryClient
from ptmlock.oci.layout import parse_registry_url
from ptmlock.testing.oci_registry import OciRegistry, registry_available


def _time(fn: Callable[[], object]) -> str:
    t0 = time.perf_counter()
    try:
        fn()
        outcome = "no error"
    except Exception as e:  # whatever the client raises is the point
        outcome = type(e).__name__
    return f"{time.perf_counter() - t0:7.1f}s  {outcome}"


def main() -> int:
    missing = registry_available()
    if missing:
        raise SystemExit(missing)
    import oras.provider

    logging.disable(logging.CRITICAL)  # oras logs each retry
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="ptmlock-bench-oras-") as tmp:
        reg = OciRegistry(Path(tmp) / "registry", htpasswd=("alice", "right")).start()
        host = reg.host
        url = parse_registry_url(f"oci+http://{host}/models")
        wrong = Credentials(origin="bench", username="alice", password="wrong")
        os.environ["ORAS_USER"], os.environ["ORAS_PASS"] = "alice", "wrong"
        for backend in ("basic", "token"):
            client = oras.provider.Registry(hostname=host, insecure=True, auth_backend=backend)
            rows.append(("wrong password", f"oras-py ({backend} backend)",
                         _time(lambda c=client: c.get_manifest(f"{host}/models/x:y"))))
        ours = RegistryClient(url, credentials=wrong)
        rows.append(("wrong password", "ptmlock", _time(lambda: ours.get_manifest("models/x", "y"))))
        reg.stop()
        client = oras.provider.Registry(hostname=host, insecure=True)
        rows.append(("stopped", "oras-py (token backend)", _time(lambda: client.get_manifest(f"{host}/models/x:y"))))
        ours = RegistryClient(url, credentials=wrong)
        rows.append(("stopped", "ptmlock", _time(lambda: ours.get_manifest("models/x", "y"))))
    deadline = os.environ.get("PTMLOCK_HUB_DEADLINE", "60 (default)")
    print(f"time to report a failure (PTMLOCK_HUB_DEADLINE={deadline}); load average {os.getloadavg()[0]:.1f}")
    for case, who, result in rows:
        print(f"{case:<16} {who:<28} {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
