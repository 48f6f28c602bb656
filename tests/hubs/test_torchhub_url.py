"""`hub = "torchhub"` and `hub = "url"` models: lock, sync into torch.hub's layout, and the guard.

Everything runs against real servers on 127.0.0.1: bare git repositories served by
`ptmlock.testing._static.StaticServer` over git's "dumb HTTP" protocol (plus the zipballs
torch.hub downloads from GitHub, made with `git archive`), and weight files written with
`torch.save`. Guarded programs run real torch.hub in a fresh interpreter.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest
from gitupstream import upstream, weights  # noqa: F401 (upstream: a fixture)
from lockhelpers import PY, model_entry, read_lock, write_manifest
from tinymodels import last_json, run_app

from ptmlock.testing._static import StaticServer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _sub(project, *args, env=None):
    return subprocess.run([PY, "-m", "ptmlock", *args], cwd=project, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


# --- lock ---------------------------------------------------------------------------------------


def test_lock_pins_torchhub_default_branch_branches_tags_and_commits(upstream, project, ptm):
    v0 = upstream.commit("owner/tiny", 0.5)
    v1 = upstream.commit("owner/tiny", 1.0)
    upstream.git("owner/tiny", "tag", "-a", "v1.0", "-m", "v1.0", v1)  # annotated: the lock peels it
    upstream.git("owner/tiny", "branch", "dev", v1)
    v2 = upstream.commit("owner/tiny", 2.0)
    cases = {None: v2, "main": v2, "dev": v1, "v1.0": v1, v1[:8]: v1, v1: v1, v0: v0}
    for rev, want in cases.items():
        write_manifest(project, {"owner/tiny": {"hub": "torchhub", **({"revision": rev} if rev else {})}})
        r = ptm("lock")
        assert r.code == 0, (rev, r.err)
        entry = model_entry(read_lock(project), "owner/tiny")
        assert (entry["commit"], entry.get("requested"), entry["files"]) == (want, rev, []), rev
    # the ref may also be part of the id, as torch.hub.load takes it
    write_manifest(project, {})
    r = ptm("add", "owner/tiny:dev", "--hub", "torchhub")
    assert r.code == 0 and f"locked at {v1[:12]}" in r.err, r.err
    assert model_entry(read_lock(project), "owner/tiny:dev")["commit"] == v1


@pytest.mark.ml
def test_add_url_downloads_once_and_pins_sha256_and_size(upstream, project, ptm, tmp_path):
    import hashlib

    data = weights(1.0)
    url = upstream.put("weights/resnet-tiny-0123abcd.pth", data)
    write_manifest(project, {})
    r = ptm("add", url, "--hub", "url")
    assert r.code == 0, r.err
    entry = model_entry(read_lock(project), url)
    sha = hashlib.sha256(data).hexdigest()
    assert entry["commit"] == sha and entry["hub"] == "url" and entry["pickle-only"] is True
    assert entry["files"] == [{"path": "resnet-tiny-0123abcd.pth", "size": len(data), "sha256": sha}]
    assert upstream.server.count("/weights/") == 1
    # the bytes just pinned are kept where torch.hub looks for them
    assert (tmp_path / "torch-lock" / "hub" / "checkpoints" / "resnet-tiny-0123abcd.pth").read_bytes() == data


@pytest.mark.ml
def test_add_of_a_url_needs_no_hub_flag(upstream, project, ptm):
    url = upstream.put("weights/plain-add.pth", weights(3.0))
    write_manifest(project, {})
    r = ptm("add", url)
    assert r.code == 0, r.err
    assert f'[models."{url}"]\nhub = "url"\n' in (project / "ptm.toml").read_text()
    assert model_entry(read_lock(project), url)["hub"] == "url"


@pytest.mark.ml
def test_lock_is_deterministic_and_reuses_pins_without_requests(upstream, project, ptm):
    v1 = upstream.commit("owner/tiny", 1.0)
    url = upstream.put("w/a.pth", weights(1.0))
    write_manifest(project, {"owner/tiny": {"hub": "torchhub"}, url: {"hub": "url"}})
    assert ptm("lock").code == 0
    first = (project / "ptm.lock").read_text()
    (project / "ptm.lock").unlink()
    assert ptm("lock").code == 0
    assert (project / "ptm.lock").read_text() == first  # same manifest, same upstream: same bytes
    # upstream moves: an unchanged manifest keeps its pins with no request at all
    v2 = upstream.commit("owner/tiny", 2.0)
    upstream.put("w/a.pth", weights(2.0))
    upstream.server.reset_requests()
    write_manifest(project, {"owner/tiny": {"hub": "torchhub", "role": "r"}, url: {"hub": "url"}})
    r = ptm("lock")
    assert r.code == 0 and "(0 resolved, 2 unchanged)" in r.err, r.err
    assert ptm("lock").code == 0 and upstream.server.requests == []
    assert model_entry(read_lock(project), "owner/tiny")["commit"] == v1
    r = ptm("lock", "--upgrade")
    assert r.code == 0, r.err
    lock = read_lock(project)
    assert model_entry(lock, "owner/tiny")["commit"] == v2
    assert model_entry(lock, url)["commit"] != model_entry(read_lock_text(first), url)["commit"]
    assert f"owner/tiny: {v1[:12]} -> {v2[:12]}" in r.err


@pytest.mark.ml
def test_tree_shows_torchhub_and_url_pins(upstream, project, ptm):
    v1 = upstream.commit("owner/tiny", 1.0)
    data = weights(1.0)
    url = upstream.put("w/resnet-tiny.pth", data)
    write_manifest(project, {"owner/tiny": {"hub": "torchhub", "role": "backbone"}, url: {"role": "backbone"}})
    (project / "ptm.toml").write_text((project / "ptm.toml").read_text().replace(
        f'[models."{url}"]\n', f'[models."{url}"]\nhub = "url"\n'))
    assert ptm("lock").code == 0
    r = ptm("tree")
    assert r.code == 0, r.err
    sha = model_entry(read_lock(project), url)["commit"]
    from ptmlock.output import human_size

    assert r.out.splitlines() == [
        "backbone (interchangeable, 2 models; no default)",
        f"├──   owner/tiny  default branch @ {v1[:12]}  0 files  0 B",
        f"└──   {url}  default branch @ {sha[:12]}  1 file  {human_size(len(data))}",
    ]
    models = json.dumps(json.loads(ptm("tree", "--json").out))
    assert v1 in models and sha in models


def read_lock_text(text):
    import tomllib

    return tomllib.loads(text)


# --- sync ---------------------------------------------------------------------------------------


def _sync(project, hub_dir, offline=False):
    from ptmlock.install.torch_cache import sync_torch
    from ptmlock.lockfile.read import load_lock

    return sync_torch(load_lock(project / "ptm.lock").models, hub_dir=hub_dir, offline=offline)


@pytest.mark.ml
def test_sync_writes_torch_hub_layout_and_a_second_sync_makes_no_request(upstream, project, ptm, tmp_path):
    v1 = upstream.commit("owner/tiny", 1.0)
    data = weights(1.0)
    url = upstream.put("w/resnet18-f37072fd.pth", data)
    write_manifest(project, {"owner/tiny:main": {"hub": "torchhub"}, url: {"hub": "url"}})
    assert ptm("lock").code == 0
    upstream.commit("owner/tiny", 2.0)  # the branch moves: sync still writes the pinned commit
    hub_dir = tmp_path / "torch" / "hub"
    report = _sync(project, hub_dir)
    assert report.exit_code == 0 and [(o.task.kind, o.action) for o in report.outcomes] == [
        ("checkpoint", "downloaded"), ("repo", "downloaded")]  # in lock order
    assert "VERSION = 1.0" in (hub_dir / f"owner_tiny_{v1}" / "hubconf.py").read_text()
    assert (hub_dir / "checkpoints" / "resnet18-f37072fd.pth").read_bytes() == data
    assert sorted(p.name for p in hub_dir.iterdir()) == ["checkpoints", f"owner_tiny_{v1}"]  # no temp left
    upstream.server.reset_requests()
    again = _sync(project, hub_dir)
    assert [o.action for o in again.outcomes] == ["present", "present"] and upstream.server.requests == []
    # offline: only checks; an altered file is reported, and the next sync restores it
    (hub_dir / "checkpoints" / "resnet18-f37072fd.pth").write_bytes(weights(3.0))
    offline = _sync(project, hub_dir, offline=True)
    assert offline.exit_code == 1 and offline.outcomes[0].message.endswith("resnet18-f37072fd.pth is altered")
    assert _sync(project, hub_dir).outcomes[0].action == "downloaded"
    assert (hub_dir / "checkpoints" / "resnet18-f37072fd.pth").read_bytes() == data


@pytest.mark.ml
@pytest.mark.parametrize("change", ["same-size", "longer", "shorter"])
def test_sync_refuses_url_bytes_changed_upstream_and_leaves_nothing(upstream, project, ptm, tmp_path, change):
    data = weights(1.0)
    url = upstream.put("w/m.pth", data)
    write_manifest(project, {url: {"hub": "url"}})
    assert ptm("lock").code == 0
    new = {"same-size": weights(2.0), "longer": data + b"x", "shorter": data[:-1]}[change]
    upstream.put("w/m.pth", new)
    hub_dir = tmp_path / "torch" / "hub"
    report = _sync(project, hub_dir)
    assert report.exit_code == 5
    message = str(report.failures[0].error)
    assert message.startswith(f"The file at {url} changed: ptm.lock pins {len(data)} bytes") and \
        f"`ptmlock lock --upgrade {url}`" in message, message
    assert list((hub_dir / "checkpoints").iterdir()) == []


# --- the guard, in real torch.hub -----------------------------------------------------------------

# Both guarded apps record, per attempt, the value loaded and the guard's warnings, or its refusal.
ATTEMPT = """
import ptmlock.enforce, json, os, warnings
import torch.hub
out = {}

def attempt(name, fn):
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = fn()
        out[name] = {"value": value, "warnings": [str(w.message) for w in caught
                                                  if w.category is ptmlock.enforce.PtmlockWarning]}
    except ptmlock.enforce.GuardError as e:
        out[name] = {"error": str(e)}
"""

TORCH_APP = ATTEMPT + """
torch.hub._git_archive_link = lambda owner, name, ref: f"{os.environ['GIT_SERVER']}/{owner}/{name}/zipball/{ref}"

def load(repo):
    return torch.hub.load(repo, "tiny", trust_repo=True, skip_validation=True, verbose=False).bias[0].item()

for name, repo in [("listed", "owner/tiny"), ("listed-main", "owner/tiny:main"), ("listed-ref-in-id", "other/pinned"),
                   ("unlisted", "stranger/tiny"), ("unlisted-ref", "stranger/tiny:main")]:
    attempt(name, lambda: load(repo))
torch.hub.set_dir(os.environ["FRESH_HUB"])  # not synced: torch downloads the zipball of the locked commit
attempt("listed-download", lambda: load("owner/tiny"))
print(json.dumps(out))
"""


@pytest.mark.ml
def test_guard_keeps_the_pinned_torchhub_commit_after_the_branch_moves(upstream, project, ptm, tmp_path):
    v1 = upstream.commit("owner/tiny", 1.0)
    upstream.commit("other/pinned", 1.0)
    upstream.commit("stranger/tiny", 1.0)
    write_manifest(project, {"owner/tiny": {"hub": "torchhub"}, "other/pinned:main": {"hub": "torchhub"}})
    assert ptm("lock").code == 0
    hub_dir = tmp_path / "torch" / "hub"
    assert _sync(project, hub_dir).exit_code == 0
    upstream.commit("owner/tiny", 2.0)  # main moves upstream after locking
    upstream.commit("other/pinned", 2.0)
    upstream.server.reset_requests()
    proc = run_app(project, TORCH_APP, env={"PTMLOCK_MODE": "strict", "GIT_SERVER": upstream.url,
                                            "TORCH_HOME": str(tmp_path / "torch"),
                                            "FRESH_HUB": str(tmp_path / "fresh")})
    out = last_json(proc)
    for name in ("listed", "listed-main", "listed-ref-in-id", "listed-download"):
        assert out[name] == {"value": 1.0, "warnings": []}, (name, proc.stderr[-2000:])
    for name in ("unlisted", "unlisted-ref"):
        assert out[name]["error"].startswith("ptmlock refused to load 'stranger/tiny' (strict mode)"), out[name]
        assert "`ptmlock add stranger/tiny" in out[name]["error"]
    # the synced checkouts needed no request; unlisted repos none either: only the fresh hub's zipball
    assert [r.path for r in upstream.server.requests] == [f"/owner/tiny/zipball/{v1}"]


URL_APP = ATTEMPT + """

def state(url):
    return torch.hub.load_state_dict_from_url(url, progress=False, weights_only=True)["w"][0].item()

url, synced, fresh = os.environ["URL"], os.environ["SYNCED"], os.environ["FRESH"]
torch.hub.set_dir(synced)
attempt("synced", lambda: state(url))  # the synced, intact file: loaded with no request
attempt("synced-again", lambda: state(url))  # the digest is cached: no re-read
torch.hub.set_dir(fresh)
attempt("changed-upstream", lambda: state(url))
out["fresh-files"] = sorted(os.listdir(os.path.join(fresh, "checkpoints")))
torch.hub.set_dir(synced)
with open(os.path.join(synced, "checkpoints", os.path.basename(url)), "wb") as f:
    f.write(open(os.environ["ALTERED"], "rb").read())
attempt("altered-cache", lambda: state(url))
attempt("unlisted", lambda: state(os.environ["UNLISTED"]))
dst = os.path.join(fresh, "direct.pth")
attempt("download-direct", lambda: torch.hub.download_url_to_file(url, dst, progress=False))
out["direct-left"] = os.path.exists(dst)
if os.environ.get("OPEN_CLIP"):
    from open_clip.pretrained import download_pretrained_from_url
    attempt("open_clip", lambda: download_pretrained_from_url(url, cache_dir=os.path.join(fresh, "clip")))
    out["open_clip-files"] = sorted(os.listdir(os.path.join(fresh, "clip")))
print(json.dumps(out))
"""


@pytest.mark.ml
@pytest.mark.parametrize("mode", ["warn", "strict"])
def test_guard_checks_url_weights_against_the_lock_on_load(upstream, project, ptm, tmp_path, mode):
    v1, v2 = weights(1.0), weights(2.0)
    url = upstream.put("w/resnet-tiny.pth", v1)
    unlisted = upstream.put("w/other.pth", v1)
    write_manifest(project, {url: {"hub": "url"}})
    assert ptm("lock").code == 0
    synced = tmp_path / "torch" / "hub"
    assert _sync(project, synced).exit_code == 0
    upstream.put("w/resnet-tiny.pth", v2)  # the bytes change upstream under the same URL
    (tmp_path / "altered.pth").write_bytes(v2)
    upstream.server.reset_requests()
    env = {"PTMLOCK_MODE": mode, "URL": url, "UNLISTED": unlisted, "SYNCED": str(synced),
           "FRESH": str(tmp_path / "fresh"), "ALTERED": str(tmp_path / "altered.pth"),
           "OPEN_CLIP": "1" if mode == "strict" else ""}
    proc = run_app(project, URL_APP, env=env)
    out = last_json(proc)
    assert out["synced"] == {"value": 1.0, "warnings": []}, proc.stderr[-2000:]
    assert out["synced-again"] == {"value": 1.0, "warnings": []}
    changed = "is not the file ptm.lock pins for" if mode == "warn" else "the server sent other bytes"
    if mode == "warn":
        for name in ("changed-upstream", "altered-cache"):
            assert out[name]["value"] == 2.0 and "Run `ptmlock sync` to restore the pinned bytes" in \
                out[name]["warnings"][0], out[name]
        assert out["unlisted"]["value"] == 1.0 and f"weight URL {unlisted!r} is not declared" in \
            out["unlisted"]["warnings"][0]
        assert out["fresh-files"] == ["resnet-tiny.pth"]
        assert changed in out["changed-upstream"]["warnings"][0]
    else:
        assert out["changed-upstream"]["error"].startswith(f"ptmlock refused to load {url!r} (strict mode)")
        assert changed in out["changed-upstream"]["error"]
        assert out["fresh-files"] == []  # torch discarded the bytes before they reached the checkpoint dir
        assert "is not the file ptm.lock pins" in out["altered-cache"]["error"]
        assert out["unlisted"]["error"].startswith(f"ptmlock refused to load {unlisted!r} (strict mode)")
        assert "error" in out["download-direct"] and out["direct-left"] is False
        assert "error" in out["open_clip"] and out["open_clip-files"] == []  # removed: nothing left behind
        assert upstream.server.count("/w/other.pth") == 0  # refused before any request
    assert upstream.server.count("/w/resnet-tiny.pth") == (2 if mode == "warn" else 3)


# --- errors through the CLI -----------------------------------------------------------------------


@pytest.mark.parametrize("case", ["unreachable-git", "unknown-repo", "unknown-ref", "unknown-commit",
                                  "url-404", "url-unreachable", "url-no-file-name"])
def test_errors_through_the_cli_are_clear_with_the_right_exit_code(upstream, project, case):
    upstream.commit("owner/tiny", 1.0)
    closed = _closed_port_url()
    args, env, code, want = {
        "unreachable-git": (["add", "owner/tiny", "--hub", "torchhub"], {"PTMLOCK_TORCHHUB_URL": closed}, 4,
                            f"The git remote {closed}/owner/tiny.git did not answer torchhub repo 'owner/tiny'"),
        "unknown-repo": (["add", "owner/nope", "--hub", "torchhub"], {}, 4,
                         f"torchhub repo 'owner/nope' was not found at {upstream.url}/owner/nope.git"),
        "unknown-ref": (["add", "owner/tiny:nope", "--hub", "torchhub"], {}, 4,
                        f"Ref 'nope' of torchhub repo 'owner/tiny' does not exist at {upstream.url}/owner/tiny.git "
                        "(branches: main). Use an existing branch, tag or full commit"),
        "unknown-commit": (["add", "owner/tiny:" + "ab" * 20, "--hub", "torchhub"], {}, 4,
                           f"Commit '{'ab' * 20}' of torchhub repo 'owner/tiny' does not exist at {upstream.url}/owner/tiny.git"),
        "url-404": (["add", f"{upstream.url}/w/nope.pth", "--hub", "url"], {}, 4,
                    f"url model '{upstream.url}/w/nope.pth' was not found (HTTP 404)"),
        "url-unreachable": (["add", f"{closed}/w.pth", "--hub", "url"], {}, 4,
                            f"{closed}/w.pth did not answer after 3 attempts"),
        "url-no-file-name": (["add", f"{upstream.url}/", "--hub", "url"], {}, 3,
                             f"The url model '{upstream.url}/' names no file"),
    }[case]
    write_manifest(project, {})
    before = (project / "ptm.toml").read_text()
    proc = _sub(project, *args, env={"PTMLOCK_HUB_DEADLINE": "5", **env})
    assert proc.returncode == code, proc.stderr
    assert want in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert (project / "ptm.toml").read_text() == before and not (project / "ptm.lock").exists()


def test_5xx_answers_of_git_remotes_and_urls_are_retried(upstream, project, ptm):
    v1 = upstream.commit("owner/tiny", 1.0)
    url = upstream.put("w/m.pth", b"weights")
    upstream.server.fail("/w/m.pth", status=503, times=2)
    upstream.server.fail("/owner/tiny.git/info/refs", status=502, times=2)
    # entries = []: hubconf.py is not fetched (issue 26), so only the ls-remote is counted
    write_manifest(project, {url: {"hub": "url"}, "owner/tiny": {"hub": "torchhub", "entries": []}})
    r = ptm("lock")
    assert r.code == 0, r.err
    assert upstream.server.count("/w/m.pth") == 3 and upstream.server.count("/owner/tiny.git/info/refs") == 3
    assert model_entry(read_lock(project), "owner/tiny")["commit"] == v1


# --- pure parts ---------------------------------------------------------------------------------


@pytest.mark.ml
def test_torch_hub_dir_is_computed_as_torch_does(monkeypatch, tmp_path):
    import torch.hub

    from ptmlock.install.torch_cache import torch_hub_dir

    for env in ({"TORCH_HOME": str(tmp_path / "th")}, {"XDG_CACHE_HOME": str(tmp_path / "xdg")},
                {"TORCH_HOME": "~/th"}, {}):
        monkeypatch.delenv("TORCH_HOME", raising=False)
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        assert str(torch_hub_dir()) == torch.hub.get_dir(), env


def test_pick_ref_prefers_branches_peels_tags_and_matches_unique_prefixes():
    from ptmlock.hubs.torchhub import pick_ref

    a, b, t = "a" * 40, "b" * 40, "c" * 40
    refs = {"HEAD": a, "refs/heads/main": a, "refs/heads/v1": b, "refs/tags/v1": t, "refs/tags/v1^{}": a,
            "refs/tags/v2": t, "refs/tags/v2^{}": b}
    assert pick_ref(refs, None) == a
    assert pick_ref(refs, "v1") == b  # a branch wins over a tag of the same name, as torch.hub assumes
    assert pick_ref(refs, "v2") == b  # annotated tag: the commit, not the tag object
    assert pick_ref(refs, "refs/tags/v1") == a
    assert pick_ref(refs, "bbbbbbb") == b
    assert pick_ref(refs, "nope") is None and pick_ref(refs, "ccccccc") is None


def test_static_server_refuses_paths_outside_its_root(tmp_path):
    import urllib.error
    import urllib.request

    (tmp_path / "secret").write_text("x")
    with StaticServer(tmp_path / "root") as server:
        for path in ("/../secret", "/%2e%2e/secret", "/"):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(server.url + path)
            assert e.value.code == 404
        assert server.count() == 3
