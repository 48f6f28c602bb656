"""`[[source]]` tables and `sync --source`: fall-through, a tampered registry, a stopped one."""
from __future__ import annotations

import hashlib

import pytest
from lockhelpers import tiny_repo_files, write_manifest
from ocihelpers import locked_project, new_cache, sources_toml

from ptmlock.manifest.parse import parse_manifest

WEIGHTS = r"GET /org/{}/resolve/[0-9a-f]{{40}}/model\.safetensors"


def test_tampered_blob_is_exit_5_nothing_placed_and_the_source_dropped(hub, registry, project, ptm, tmp_path,
                                                                       monkeypatch):
    url = f"oci+http://{registry.host}/models"
    files = tiny_repo_files()
    sha = locked_project(hub, project, ptm, {"org/tiny": files}, sources=[("fleet", url), ("hf", "hub")])["org/tiny"]
    assert ptm("publish", url).code == 0
    digest = "sha256:" + hashlib.sha256(files["model.safetensors"]).hexdigest()
    blob = registry.blob_path(digest)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes
    blob.write_bytes(bytes(data))

    cache = new_cache(tmp_path, monkeypatch, "node")
    r = ptm("sync", "--source", "fleet")
    assert r.code == 5, r.err
    assert "model.safetensors from fleet" in r.err and "failed its integrity check" in r.err
    assert "nothing was placed" in r.err
    repo = cache / "models--org--tiny"
    assert not (repo / "snapshots" / sha / "model.safetensors").exists()
    assert not (repo / "blobs" / digest.split(":")[1]).exists()
    assert not list(repo.glob("blobs/*.incomplete")) and not (repo / "refs" / "main").exists()
    assert ptm("verify").code == 1

    # with the hub behind it: the tampered file still fails (exit 5), and the source is dropped
    # for the rest of the run, so every other file comes from the hub
    cache = new_cache(tmp_path, monkeypatch, "node2")
    hub.reset_requests()
    r = ptm("sync", "--jobs", "1")
    assert r.code == 5, r.err
    assert "fleet served bytes that do not match ptm.lock; it is not used again in this run" in r.err
    assert not (cache / "models--org--tiny" / "snapshots" / sha / "model.safetensors").exists()
    assert hub.count("GET", "/org/tiny/resolve/") >= 2  # README.md and config.json at least (smaller: later)
    assert hub.count("GET", "model.safetensors") == 0


def test_missing_artifact_falls_through_to_the_next_source_and_says_so(hub, registry, project, ptm, tmp_path,
                                                                       monkeypatch):
    url = f"oci+http://{registry.host}/models"
    repos = {"org/a": tiny_repo_files("a"), "org/b": tiny_repo_files("b")}
    shas = locked_project(hub, project, ptm, repos, sources=[("fleet", url), ("hf", "hub")])
    assert ptm("publish", url, "--model", "org/a").code == 0
    new_cache(tmp_path, monkeypatch, "node")
    hub.reset_requests()
    r = ptm("sync")
    assert r.code == 0, r.err
    assert (f"warning: fleet has no artifact {registry.host}/models/org/b:b-{shas['org/b'][:12]} for "
            f"org/b@{shas['org/b'][:12]}; trying hf.") in r.err
    assert hub.count("GET", "/org/a/resolve/") == 0  # every byte of org/a came from the registry
    assert hub.count("GET", "/org/b/resolve/") == 4
    assert ptm("verify", "--deep").code == 0


def test_missing_artifact_with_only_the_registry_is_exit_4_naming_the_fix(hub, registry, project, ptm, tmp_path,
                                                                          monkeypatch):
    url = f"oci+http://{registry.host}/models"
    locked_project(hub, project, ptm, {"org/tiny": tiny_repo_files()}, sources=[("fleet", url), ("hf", "hub")])
    new_cache(tmp_path, monkeypatch, "node")
    r = ptm("sync", "--source", "fleet")
    assert r.code == 4
    assert "no source has it (tried fleet)" in r.err and "ptmlock publish" in r.err


def test_stopped_registry_is_reported_and_the_hub_serves(hub, registry, project, ptm, tmp_path, monkeypatch):
    url = f"oci+http://{registry.host}/models"
    locked_project(hub, project, ptm, {"org/tiny": tiny_repo_files()}, sources=[("fleet", url), ("hf", "hub")])
    assert ptm("publish", url).code == 0
    registry.stop()
    new_cache(tmp_path, monkeypatch, "node")
    r = ptm("sync")
    assert r.code == 0, r.err
    assert "source fleet failed and is not used again in this run: The OCI registry" in r.err
    new_cache(tmp_path, monkeypatch, "node2")
    r = ptm("sync", "--source", "fleet")
    assert r.code == 4 and "did not answer" in r.err


def test_sync_source_hub_ignores_the_registries_and_unknown_source_is_exit_3(hub, registry, project, ptm):
    url = f"oci+http://{registry.host}/models"
    locked_project(hub, project, ptm, {"org/tiny": tiny_repo_files()}, sources=[("fleet", url)])
    r = ptm("sync", "--source", "nope")
    assert r.code == 3
    assert "ptm.toml declares no [[source]] named 'nope' (sources: fleet, hub)" in r.err


def test_sources_are_ordered_by_priority_then_file_order(project):
    text = ('[project]\nname = "t"\n' + sources_toml(("a", "hub"))
            + '\n[[source]]\nname = "b"\nurl = "oci+http://127.0.0.1:5000/m"\npriority = -1\n'
            + '\n[[source]]\nname = "c"\nurl = "oci://registry.example/models"\npriority = -1\n')
    m = parse_manifest(text)
    assert [s.name for s in m.sources] == ["b", "c", "a"]
    assert m.sources[2].is_hub and not m.sources[0].is_hub


@pytest.mark.parametrize(("table", "message"), [
    ('name = "r"\nurl = "oci+http://10.1.2.3:5000/models"',
     "ptm.toml:6:1: 'oci+http://10.1.2.3:5000/models' would send models and credentials over plain HTTP to "
     "10.1.2.3:5000, which is not this machine; use oci:// (HTTPS), or allow it explicitly with --insecure / "
     "insecure = true."),
    ('name = "r"\nurl = "oci://u:pw@r.example/models"',
     "ptm.toml:6:1: 'r.example/models': credentials do not belong in the URL (it is written to ptm.toml and "
     "printed); use `docker login`, DOCKER_CONFIG or PTMLOCK_OCI_USERNAME/PASSWORD."),
    ('name = "r"\nurl = "https://r.example/models"',
     "ptm.toml:6:1: 'https://r.example/models' is not an OCI registry URL; write oci://HOST[:PORT]/NAMESPACE."),
    ('name = "r"\nurl = "oci://r.example"',
     "ptm.toml:6:1: 'oci://r.example' needs a namespace of lowercase path components, e.g. "
     "oci://r.example/models."),
    ('name = "r"\nurl = "hub"\nprio = 1', "ptm.toml:7:1: unknown key 'prio' in [[source]]; known keys: "
                                          "credentials-env, insecure, models, name, priority, url."),
    ('url = "hub"', "ptm.toml:4:1: [[source]] needs a `name` of letters, digits, '-', '_', '.'."),
    ('name = "r"\nurl = "hub"\npriority = "high"',
     "ptm.toml:7:1: `priority` must be an integer (lower is tried first)."),
])
def test_invalid_source_tables_are_exit_3_with_file_line_col(project, ptm, table, message):
    write_manifest(project, {}, extra="\n[[source]]\n" + table + "\n")
    r = ptm("lock")
    assert r.code == 3
    assert r.err == f"error: {project}/{message}\n"


def test_two_sources_with_one_name_is_an_error(project, ptm):
    write_manifest(project, {}, extra=sources_toml(("r", "hub"), ("r", "hub")))
    r = ptm("lock")
    assert r.code == 3 and "two [[source]] tables are named 'r'" in r.err


def test_insecure_true_allows_plain_http_to_another_host(project):
    m = parse_manifest('[[source]]\nname = "lab"\nurl = "oci+http://10.0.0.5:5000/models"\ninsecure = true\n')
    assert m.sources[0].insecure


def _rewrite_manifest(registry, repo: str, reference: str, change) -> None:
    """Replace the manifest at repo:reference by `change(manifest)` (the registry's own PUT)."""
    import json

    import requests

    url = f"http://{registry.host}/v2/{repo}/manifests/{reference}"
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    manifest = requests.get(url, headers=accept, timeout=10).json()
    change(manifest)
    r = requests.put(url, data=json.dumps(manifest),
                     headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, timeout=10)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("attack", ["other-commit", "other-digest", "climbing-path"])
def test_hostile_manifest_is_exit_5_or_ignored_and_nothing_lands_outside_the_cache(
        hub, registry, project, ptm, tmp_path, monkeypatch, attack):
    url = f"oci+http://{registry.host}/models"
    sha = locked_project(hub, project, ptm, {"org/tiny": tiny_repo_files()}, sources=[("fleet", url)])["org/tiny"]
    assert ptm("publish", url).code == 0

    def change(manifest):
        by_path = {la["annotations"]["org.cncf.model.filepath"]: la for la in manifest["layers"]}
        if attack == "other-commit":
            manifest["annotations"]["dev.ptmlock.commit"] = "0" * 40
        elif attack == "other-digest":  # the weights layer points at the config's blob
            by_path["model.safetensors"]["digest"] = by_path["config.json"]["digest"]
        else:
            for la in manifest["layers"]:
                la["annotations"]["org.cncf.model.filepath"] = "../../../escaped-" + la["annotations"][
                    "org.cncf.model.filepath"]
    _rewrite_manifest(registry, "models/org/tiny", f"tiny-{sha[:12]}", change)
    (project / "ptm.oci.json").unlink()  # no recorded digest (issue 25): sync reads the rewritten tag
    cache = new_cache(tmp_path, monkeypatch, "node")
    r = ptm("sync", "--source", "fleet")
    assert "Traceback" not in r.err
    if attack == "climbing-path":  # the lock alone names paths: the registry just lacks every locked one
        assert r.code == 4 and "but no layer for model.safetensors" in r.err
    else:
        assert r.code == 5, r.err
        assert ("says it holds org/tiny@" + "0" * 40 if attack == "other-commit" else "ptm.lock pins") in r.err
    assert not list(tmp_path.rglob("escaped-*"))
    assert not (cache / "models--org--tiny" / "snapshots" / sha / "model.safetensors").exists()


def test_cli_subprocess_exit_codes_without_traceback(hub, registry, project, ptm):
    import os
    import subprocess
    import sys

    url = f"oci+http://{registry.host}/models"
    locked_project(hub, project, ptm, {"org/tiny": tiny_repo_files()}, sources=[("fleet", url)])
    fresh = {**os.environ, "HF_HUB_CACHE": str(project.parent / "fresh-cache")}

    def run(*args, env=None):
        return subprocess.run([sys.executable, "-m", "ptmlock", *args], cwd=project, capture_output=True, text=True,
                              env=env or os.environ, timeout=120, check=False)

    r = run("publish", url, env=fresh)  # nothing synced in that cache: nothing to publish
    assert r.returncode == 1 and "cannot be published. Run `ptmlock sync --model org/tiny` first." in r.stderr
    r = run("publish", url)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    registry.stop()
    r = run("sync", "--source", "fleet", env=fresh)
    assert r.returncode == 4 and "Traceback" not in r.stderr and "did not answer" in r.stderr
    r = run("publish", "not-a-url")
    assert r.returncode == 2 and "is not an OCI registry URL" in r.stderr


@pytest.mark.parametrize("where", ["partial", "blobs"])
def test_a_link_planted_where_the_registry_source_writes_is_refused_and_nothing_outside_changes(
        hub, registry, project, ptm, tmp_path, monkeypatch, where):
    url = f"oci+http://{registry.host}/models"
    files = tiny_repo_files()
    locked_project(hub, project, ptm, {"org/tiny": files}, sources=[("fleet", url)])
    assert ptm("publish", url).code == 0
    cache = new_cache(tmp_path, monkeypatch, "node")
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("keep me")
    blobs = cache / "models--org--tiny" / "blobs"
    if where == "partial":  # the file the download streams into is a link to a file outside the cache
        blobs.mkdir(parents=True)
        (blobs / (hashlib.sha256(files["model.safetensors"]).hexdigest() + ".incomplete")).symlink_to(victim)
    else:  # the blobs folder itself is a link to a folder outside the cache
        blobs.parent.mkdir(parents=True)
        blobs.symlink_to(outside, target_is_directory=True)
    r = ptm("sync", "--source", "fleet")
    assert r.code == 5, r.err
    assert "symbolic link" in r.err and "Traceback" not in r.err
    assert victim.read_text() == "keep me" and sorted(p.name for p in outside.iterdir()) == ["victim.txt"]


class _CuttingProxy:
    """A plain HTTP proxy in front of the registry that cuts the first answer for a blob path
    after `cut` bytes of its body, and records the `Range` header of every blob request. With
    `ignore_range` it drops that header, as a registry that does not do ranges (a 200, whole);
    with `lying_range` it also answers 206 to it, with the whole blob from byte 0 (hostile)."""

    def __init__(self, upstream: str, cut: int, *, ignore_range: bool = False, lying_range: bool = False) -> None:
        import http.client
        import http.server
        import threading

        self.ranges: list[str | None] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802 (http.server's name)
                conn = http.client.HTTPConnection(upstream, timeout=30)
                dropped = ("host", "connection", "range") if ignore_range or lying_range else ("host", "connection")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
                conn.request("GET", self.path, headers=headers)
                answer = conn.getresponse()
                body = answer.read()
                blob = "/blobs/sha256:" in self.path
                if blob:
                    proxy.ranges.append(self.headers.get("Range"))
                first_blob = blob and len(proxy.ranges) == 1 and answer.status == 200 and len(body) > cut
                self.send_response(206 if lying_range and self.headers.get("Range") else answer.status)
                for k, v in answer.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))  # the whole size, also when cut
                self.end_headers()
                self.wfile.write(body[:cut] if first_blob else body)
                self.wfile.flush()
                if first_blob:
                    self.close_connection = True
                conn.close()

            do_HEAD = do_GET

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # a client that drops a kept-alive connection is no error of the proxy's: print nothing
        # (the CLI under test runs in this process, and its stderr is what the tests read)
        self.server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("ignore_range", [False, True], ids=["range", "registry-ignores-range"])
def test_a_blob_cut_off_mid_stream_is_resumed_with_range(hub, registry, project, ptm, tmp_path, monkeypatch,
                                                         ignore_range):
    import os

    weights = os.urandom(3 * 1024 * 1024)
    files = {"model.safetensors": weights, "config.json": b"{}"}
    proxy = _CuttingProxy(registry.host, cut=2 * 1024 * 1024 + 12345, ignore_range=ignore_range)
    try:
        url = f"oci+http://{proxy.host}/models"
        sha = locked_project(hub, project, ptm, {"org/cut": files}, sources=[("fleet", url)])["org/cut"]
        assert ptm("publish", f"oci+http://{registry.host}/models").code == 0
        cache = new_cache(tmp_path, monkeypatch, "node")
        hub.reset_requests()
        r = ptm("sync", "--source", "fleet", "--jobs", "1")
        assert r.code == 0, r.err
        assert hub.count("GET", "/org/cut/resolve/") == 0  # every byte came from the registry
        assert (cache / "models--org--cut" / "snapshots" / sha / "model.safetensors").read_bytes() == weights
        resumed = [h for h in proxy.ranges if h is not None]
        assert len(resumed) == 1, proxy.ranges  # one cut, one resumed request
        start = int(resumed[0].removeprefix("bytes=").removesuffix("-"))
        assert 0 < start <= 2 * 1024 * 1024 + 12345  # only the rest was asked for (a 200 answer: all again)
        assert not list((cache / "models--org--cut").glob("blobs/*.incomplete"))
        assert ptm("verify", "--deep").code == 0
    finally:
        proxy.close()


def test_a_stale_partial_file_from_a_killed_run_is_not_kept_in_front_of_the_blob(hub, registry, project, ptm,
                                                                                   tmp_path, monkeypatch):
    files = tiny_repo_files()
    url = f"oci+http://{registry.host}/models"
    sha = locked_project(hub, project, ptm, {"org/tiny": files}, sources=[("fleet", url)])["org/tiny"]
    assert ptm("publish", url).code == 0
    cache = new_cache(tmp_path, monkeypatch, "node")
    blobs = cache / "models--org--tiny" / "blobs"
    blobs.mkdir(parents=True)
    digest = hashlib.sha256(files["model.safetensors"]).hexdigest()
    (blobs / f"{digest}.incomplete").write_bytes(b"left by a killed run" * 100)
    r = ptm("sync", "--source", "fleet")
    assert r.code == 0, r.err
    assert (cache / "models--org--tiny" / "snapshots" / sha / "model.safetensors").read_bytes() == \
        files["model.safetensors"]
    assert not list(blobs.glob("*.incomplete"))


def test_a_registry_that_answers_a_range_with_the_whole_blob_places_nothing(hub, registry, project, ptm,
                                                                            tmp_path, monkeypatch):
    """206 to `Range: bytes=N-`, but the bytes from 0: appended to what was kept, they overrun the
    pinned size. Exit 5 with a clear message, nothing placed, no partial file left."""
    import os

    weights = os.urandom(3 * 1024 * 1024)
    proxy = _CuttingProxy(registry.host, cut=2 * 1024 * 1024 + 12345, lying_range=True)
    try:
        url = f"oci+http://{proxy.host}/models"
        sha = locked_project(hub, project, ptm, {"org/cut": {"model.safetensors": weights, "config.json": b"{}"}},
                             sources=[("fleet", url)])["org/cut"]
        assert ptm("publish", f"oci+http://{registry.host}/models").code == 0
        cache = new_cache(tmp_path, monkeypatch, "node")
        r = ptm("sync", "--source", "fleet", "--jobs", "1")
        assert r.code == 5, r.err
        assert "model.safetensors from fleet" in r.err and "failed its integrity check" in r.err, r.err
        assert "Traceback" not in r.err
        assert any(h is not None for h in proxy.ranges)  # the resumed request was made, and lied to
        repo = cache / "models--org--cut"
        assert not (repo / "snapshots" / sha / "model.safetensors").exists()
        assert not (repo / "blobs" / hashlib.sha256(weights).hexdigest()).exists()
        assert not list(repo.glob("blobs/*.incomplete"))
    finally:
        proxy.close()
