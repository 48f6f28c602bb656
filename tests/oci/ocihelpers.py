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


def locked_project(hub, project, ptm, repos: dict[str, dict[str, bytes]], sources=(), extra: str = "",
                   fields: dict | None = None) -> dict[str, str]:
    """Commit `repos` to the hub, declare (with `fields`) and lock them, sync them from the hub.
    Returns commit SHAs."""
    shas = {repo: hub.commit(repo, files) for repo, files in repos.items()}
    write_manifest(project, {repo: dict(fields or {}) for repo in repos}, extra=sources_toml(*sources) + extra)
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


# --- artifacts laid out as other ModelPack tools write them (issue 25) ---

CNCF = "application/vnd.cncf.model"


def tar_bytes(entries, *, compress: str = "") -> bytes:
    """A tar of `entries` [(name, bytes | None for a folder | TarInfo-type tweak callable)], like Go's
    archive/tar writes it (ustar/PAX, mode, uid/gid, mtime), optionally gzip or zstd compressed."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, *tweak in entries:
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 1735689600, 1000, 1000, "builder", "builder"
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                continue
            info.size, info.mode = len(data), 0o644
            for t in tweak:
                t(info)
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    raw = buf.getvalue()
    if compress == "gzip":
        import gzip

        return gzip.compress(raw, mtime=0)
    if compress == "zstd":
        import zstandard

        return zstandard.ZstdCompressor().compress(raw)
    return raw


def file_metadata(name: str, data: bytes, *, mode: int = 0o644) -> str:
    """`org.cncf.model.file.metadata+json` as modctl and KitOps write it (Go's time.Time in RFC 3339)."""
    import json

    return json.dumps({"name": name, "mode": mode, "uid": 1000, "gid": 1000, "size": len(data),
                       "mtime": "2025-01-01T00:00:00Z", "typeflag": 48})


def push_artifact(registry, repo: str, reference: str, layers, *, config: bytes | None = None,
                  artifact_type: str = f"{CNCF}.manifest.v1+json", config_type: str = f"{CNCF}.config.v1+json",
                  annotations=None) -> str:
    """Push an OCI image manifest with `layers` [(media type, blob, annotations)] to the real
    registry with plain HTTP calls (as any client would); returns the manifest digest."""
    import hashlib
    import json

    import requests

    base = f"http://{registry.host}/v2/{repo}"

    def blob(data: bytes) -> dict:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        r = requests.post(f"{base}/blobs/uploads/", timeout=30)
        assert r.status_code == 202, r.text
        loc = r.headers["Location"]
        loc = loc if loc.startswith("http") else f"http://{registry.host}{loc}"
        r = requests.put(loc + ("&" if "?" in loc else "?") + f"digest={digest}", data=data,
                         headers={"Content-Type": "application/octet-stream"}, timeout=60)
        assert r.status_code == 201, r.text
        return {"digest": digest, "size": len(data)}

    config = config if config is not None else json.dumps(
        {"descriptor": {"name": repo}, "config": {}, "modelfs": {"type": "layers", "diffIds": []}}).encode()
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": config_type, **blob(config)},
                "layers": [{"mediaType": mt, **blob(data), **({"annotations": ann} if ann else {})}
                           for mt, data, ann in layers]}
    if artifact_type:
        manifest["artifactType"] = artifact_type
    if annotations:
        manifest["annotations"] = annotations
    body = json.dumps(manifest).encode()
    r = requests.put(f"{base}/manifests/{reference}", data=body,
                     headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, timeout=30)
    assert r.status_code == 201, r.text
    return "sha256:" + hashlib.sha256(body).hexdigest()
