"""issue 26: `lock` reads a torchhub repo's hubconf.py (and the modules it imports) for the weight
URLs its entry points download (the MiDaS pattern), and pins each as a `hub = "url"` dependency.

Real parts only: bare git repos served over dumb HTTP by `StaticServer` on 127.0.0.1 (with the
GitHub-style zipballs torch.hub downloads), weights written with `torch.save`, the real CLI, and
real torch.hub under the guard in a fresh interpreter (the infrastructure of
tests/hubs/test_torchhub_url.py).
"""
from __future__ import annotations

import hashlib
import os
import subprocess

import pytest
from gitupstream import Upstream, upstream, weights  # noqa: F401 (upstream: a fixture)
from lockhelpers import PY, model_entry, read_lock, write_manifest
from tinymodels import last_json, run_app


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REPO = "owner/midas"
V3 = "releases/download/v3"

# The MiDaS pattern: each entry point builds a model and, if pretrained, loads its weights by URL;
# `small` lives in an in-repo module hubconf.py imports, behind a download helper.
HUBCONF = '''dependencies = ["torch"]

import torch

from tinynet.models import small


def DPT_Large(pretrained=True, **kwargs):
    """MiDaS DPT-Large: bias = the checkpoint's w."""
    model = torch.nn.Linear(1, 1)
    if pretrained:
        checkpoint = (
            "{base}/{v3}/dpt_large_384.pt"
        )
        state_dict = torch.hub.load_state_dict_from_url(
            checkpoint, map_location=torch.device("cpu"), progress=False, check_hash=True
        )
        model.bias.data = state_dict["w"]
    return model


def DPT_Hybrid(pretrained=True, **kwargs):
    model = torch.nn.Linear(1, 1)
    if pretrained:
        checkpoint = "{base}/{v3}/dpt_hybrid_384.pt"
        model.bias.data = torch.hub.load_state_dict_from_url(checkpoint, progress=False)["w"]
    return model


def transforms():
    return None
'''

MODELS = '''import torch

BASE = "{base}/w"


def _load(url):
    return torch.hub.load_state_dict_from_url(url, progress=False)


def small(pretrained=True):
    model = torch.nn.Linear(1, 1)
    if pretrained:
        model.bias.data = _load(BASE + "/small.pt")["w"]
    return model
'''


def commit_files(up: Upstream, slug: str, files: dict[str, str | bytes]) -> str:
    """Commit `files` (path -> text or bytes) on the repo's main branch and publish it; its sha."""
    work = up.root / "work" / slug
    if not (work / ".git").exists():
        work.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    for path, data in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(data if isinstance(data, bytes) else data.encode())
    up.git(slug, "add", "-A")
    up.git(slug, "commit", "-q", "-m", "update")
    up.publish(slug)
    return up.git(slug, "rev-parse", "HEAD")


def midas(up: Upstream, **values: float) -> dict[str, bytes]:
    """Publish the MiDaS-like repo and its three weight files; the files' bytes by name."""
    data = {name: weights(values.get(name, v)) for name, v in
            (("dpt_large_384", 1.0), ("dpt_hybrid_384", 2.0), ("small", 3.0))}
    up.put(f"{V3}/dpt_large_384.pt", data["dpt_large_384"])
    up.put(f"{V3}/dpt_hybrid_384.pt", data["dpt_hybrid_384"])
    up.put("w/small.pt", data["small"])
    commit_files(up, REPO, {"hubconf.py": HUBCONF.format(base=up.url, v3=V3),
                            "tinynet/__init__.py": "", "tinynet/models.py": MODELS.format(base=up.url)})
    return data


def _sub(project, *args, env=None):
    return subprocess.run([PY, "-m", "ptmlock", *args], cwd=project, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300)


def url_deps(lock: dict) -> dict[str, dict]:
    return {m["id"]: m for m in lock["model"] if m["hub"] == "url" and m.get("required-by")}


# --- lock ---------------------------------------------------------------------------------------


@pytest.mark.ml
def test_lock_pins_every_weight_url_of_hubconf_as_a_url_dependency(upstream, project, ptm):
    data = midas(upstream)
    write_manifest(project, {REPO: {"hub": "torchhub"}})
    r = ptm("lock")
    assert r.code == 0, r.err
    deps = url_deps(read_lock(project))  # read_lock validates against the schema
    base = upstream.url
    assert sorted(deps) == [f"{base}/{V3}/dpt_hybrid_384.pt", f"{base}/{V3}/dpt_large_384.pt", f"{base}/w/small.pt"]
    large = deps[f"{base}/{V3}/dpt_large_384.pt"]
    sha = hashlib.sha256(data["dpt_large_384"]).hexdigest()
    assert large["commit"] == sha and large["required-by"] == [REPO]
    assert large["files"] == [{"path": "dpt_large_384.pt", "size": len(data["dpt_large_384"]), "sha256": sha}]
    assert large["reason"] == "weights of torch.hub entry DPT_Large (hubconf.py:15)"
    assert deps[f"{base}/{V3}/dpt_hybrid_384.pt"]["reason"] == "weights of torch.hub entry DPT_Hybrid (hubconf.py:26)"
    # the URL behind a helper of an imported module: the load site, in that module
    assert deps[f"{base}/w/small.pt"]["reason"] == "weights of torch.hub entry small (tinynet/models.py:13)"
    first = (project / "ptm.lock").read_text()
    # deterministic, and an unchanged manifest makes no request at all
    (project / "ptm.lock").unlink()
    assert ptm("lock").code == 0 and (project / "ptm.lock").read_text() == first
    upstream.server.reset_requests()
    r = ptm("lock")
    assert r.code == 0 and upstream.server.requests == [], r.err
    assert ptm("lock", "--check").code == 0


@pytest.mark.ml
def test_a_moved_repo_rereads_hubconf_and_downloads_only_new_urls(upstream, project, ptm):
    midas(upstream)
    write_manifest(project, {REPO: {"hub": "torchhub", "revision": "main"}})
    assert ptm("lock").code == 0
    before = url_deps(read_lock(project))
    hubconf = HUBCONF.format(base=upstream.url, v3=V3) + (
        '\n\ndef DPT_Next():\n    return torch.hub.load_state_dict_from_url("' + upstream.url + '/w/next.pt")\n')
    upstream.put("w/next.pt", weights(4.0))
    v2 = commit_files(upstream, REPO, {"hubconf.py": hubconf})
    upstream.server.reset_requests()
    r = ptm("lock", "--upgrade", REPO)
    assert r.code == 0, r.err
    after = url_deps(read_lock(project))
    assert model_entry(read_lock(project), REPO)["commit"] == v2
    assert sorted(after) == sorted([*before, f"{upstream.url}/w/next.pt"])
    assert all(after[u] == before[u] for u in before)
    # --upgrade re-hashes the URLs of the model it names; a branch that moves under a changed entry does not
    assert upstream.server.count("dpt_large_384.pt") == 1 and upstream.server.count("/w/next.pt") == 1
    v3 = commit_files(upstream, REPO, {"README.md": "v3"})
    upstream.server.reset_requests()
    write_manifest(project, {REPO: {"hub": "torchhub", "revision": v3}})
    r = ptm("lock")
    assert r.code == 0 and model_entry(read_lock(project), REPO)["commit"] == v3, r.err
    assert url_deps(read_lock(project)) == after
    assert [q.path for q in upstream.server.requests if not q.path.startswith(f"/{REPO}.git/")] == []


@pytest.mark.ml
def test_entries_narrow_the_urls_lock_fetches_and_lock_check_sees_a_change(upstream, project, ptm):
    midas(upstream)
    write_manifest(project, {REPO: {"hub": "torchhub", "entries": ["DPT_Large"]}})
    r = ptm("lock")
    assert r.code == 0, r.err
    lock = read_lock(project)
    assert list(url_deps(lock)) == [f"{upstream.url}/{V3}/dpt_large_384.pt"]
    assert model_entry(lock, REPO)["entries"] == ["DPT_Large"]
    assert upstream.server.count("dpt_hybrid") == 0 and upstream.server.count("small.pt") == 0
    assert ptm("lock", "--check").code == 0
    write_manifest(project, {REPO: {"hub": "torchhub", "entries": ["DPT_Hybrid", "small"]}})
    r = ptm("lock", "--check")
    assert r.code == 1 and "entries is [DPT_Hybrid, small] in ptm.toml but [DPT_Large] in ptm.lock" in r.err, r.err
    r = ptm("lock")
    assert r.code == 0, r.err
    assert sorted(url_deps(read_lock(project))) == [f"{upstream.url}/{V3}/dpt_hybrid_384.pt",
                                                     f"{upstream.url}/w/small.pt"]
    # `entries = []`: hubconf.py is not even fetched
    write_manifest(project, {REPO: {"hub": "torchhub", "entries": []}})
    upstream.server.reset_requests()
    assert ptm("lock").code == 0 and url_deps(read_lock(project)) == {}
    assert upstream.server.count("/objects/") == 0


@pytest.mark.ml
def test_a_mistyped_or_misplaced_entries_key_is_a_clear_manifest_error(upstream, project):
    midas(upstream)
    url = upstream.put("w/x.pt", weights(1.0))
    for models, want in [
        ({REPO: {"hub": "torchhub", "entries": ["DPT_Lrage"]}},
         "ptm.toml names entry point 'DPT_Lrage' of torchhub repo 'owner/midas' at commit "),
        ({url: {"hub": "url", "entries": ["x"]}}, "'entries' names torch.hub entry points; it needs hub = \"torchhub\""),
        ({REPO: {"hub": "torchhub", "entries": "DPT_Large"}}, "entries must be a list of hubconf.py entry point names"),
    ]:
        write_manifest(project, models)
        r = _sub(project, "lock")
        assert r.returncode == 3 and want in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert not (project / "ptm.lock").exists(), r.stderr
    write_manifest(project, {REPO: {"hub": "torchhub", "entries": ["DPT_Lrage"]}})
    r = _sub(project, "lock")
    assert "(did you mean 'DPT_Large'?)" in r.stderr and "Entry points: DPT_Hybrid, DPT_Large, small, transforms" \
        in r.stderr, r.stderr


def test_a_hubconf_without_urls_adds_no_dependency(upstream, project, ptm):
    v1 = upstream.commit("owner/tiny", 1.0)  # entry point `tiny` builds a layer, downloads nothing
    write_manifest(project, {"owner/tiny": {"hub": "torchhub"}})
    r = ptm("lock")
    assert r.code == 0, r.err
    assert [(m["id"], m["commit"]) for m in read_lock(project)["model"]] == [("owner/tiny", v1)]


@pytest.mark.parametrize("case", ["huge", "too-many-urls", "ftp-url", "file-url", "binary-junk", "no-hubconf",
                                  "symlink", "url-404"])
def test_hostile_hubconfs_give_a_clear_error_or_are_ignored(upstream, project, case):
    huge = "# padding\n" * 110_000 + 'import torch\ntorch.hub.load_state_dict_from_url("http://127.0.0.1:1/w.pt")\n'
    files: dict[str, str | bytes] = {
        "huge": {"hubconf.py": huge},
        "too-many-urls": {"hubconf.py": "import torch\ndef m():\n" + "".join(
            f'    torch.hub.load_state_dict_from_url("{upstream.url}/w/{i}.pt")\n' for i in range(300))},
        "ftp-url": {"hubconf.py": 'import torch\ndef m():\n    torch.hub.load_state_dict_from_url("ftp://h/w/m.pt")\n'},
        "file-url": {"hubconf.py": 'import torch\ndef m():\n'
                                   '    torch.hub.load_state_dict_from_url("file:///etc/passwd.pt")\n'},
        "binary-junk": {"hubconf.py": os.urandom(4096) + b"\x00torch.hub.load_state_dict_from_url('http://x/y.pt')"},
        "no-hubconf": {"README.md": "nothing here"},
        "symlink": {"README.md": "x"},
        "url-404": {"hubconf.py": f'import torch\ndef m():\n    torch.hub.load_state_dict_from_url("{upstream.url}/w/gone.pt")\n'},
    }[case]
    commit_files(upstream, "owner/bad", files)
    if case == "symlink":  # hubconf.py is a link to a file outside the repo: not read
        work = upstream.root / "work" / "owner/bad"
        os.symlink("/etc/passwd", work / "hubconf.py")
        commit_files(upstream, "owner/bad", {})
    write_manifest(project, {"owner/bad": {"hub": "torchhub"}})
    r = _sub(project, "lock", env={"PTMLOCK_HUB_DEADLINE": "5"})
    assert "Traceback" not in r.stderr and r.returncode != 70, r.stderr
    if case == "huge":
        assert r.returncode == 5, r.stderr
        assert "hubconf.py of torchhub repo 'owner/bad' at commit " in r.stderr and "Set `entries = []`" in r.stderr, r.stderr
        assert not (project / "ptm.lock").exists(), r.stderr
        write_manifest(project, {"owner/bad": {"hub": "torchhub", "entries": []}})  # the way out it names
        r = _sub(project, "lock")
        assert r.returncode == 0, r.stderr
    elif case == "too-many-urls":
        assert r.returncode == 5 and "download 300 weight URLs, more than the 256" in r.stderr, r.stderr
        assert "`entries = [...]`" in r.stderr and upstream.server.count("/w/") == 0, r.stderr
    elif case == "url-404":
        assert r.returncode == 4, r.stderr
        assert (f"'owner/bad' needs the weight file '{upstream.url}/w/gone.pt' (weights of torch.hub entry m "
                "(hubconf.py:3)), and it could not be fetched: the server has no such file (HTTP 404 or 410).") \
            in r.stderr, r.stderr
        assert "`entries = [...]`" in r.stderr, r.stderr
        assert not (project / "ptm.lock").exists(), r.stderr
    else:
        assert r.returncode == 0, r.stderr
        assert [m["id"] for m in read_lock(project)["model"]] == ["owner/bad"], r.stderr
    if case in ("binary-junk", "no-hubconf"):  # an entry point asked of a hubconf that cannot have it
        write_manifest(project, {"owner/bad": {"hub": "torchhub", "entries": ["m"]}})
        r = _sub(project, "lock")
        why = "has a Python syntax error in its" if case == "binary-junk" else "has no"
        assert r.returncode == 3 and f"ptm.toml names entry point 'm' of torchhub repo 'owner/bad' at commit " \
            in r.stderr and f"which {why} hubconf.py." in r.stderr, r.stderr


# --- sync, verify, the guard --------------------------------------------------------------------

GUARDED = """
import ptmlock.enforce, json, os, warnings
import torch.hub
torch.hub._git_archive_link = lambda owner, name, ref: f"{os.environ['GIT_SERVER']}/{owner}/{name}/zipball/{ref}"
out = {}
for entry in os.environ["ENTRIES"].split(","):
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = torch.hub.load("owner/midas", entry, trust_repo=True, skip_validation=True, verbose=False)
        out[entry] = {"value": model.bias[0].item(), "warnings": [str(w.message) for w in caught
                                                                   if w.category is ptmlock.enforce.PtmlockWarning]}
    except ptmlock.enforce.GuardError as e:
        out[entry] = {"error": str(e)}
print(json.dumps(out))
"""


@pytest.mark.ml
def test_strict_guard_loads_the_locked_hubconf_weights_and_refuses_changed_bytes(upstream, project, tmp_path):
    midas(upstream)
    write_manifest(project, {REPO: {"hub": "torchhub", "role": "depth"}})
    home = tmp_path / "torch"
    env = {"TORCH_HOME": str(home), "PTMLOCK_MODE": "strict", "GIT_SERVER": upstream.url}
    r = _sub(project, "lock", env=env)
    assert r.returncode == 0, r.stderr
    r = _sub(project, "sync", env=env)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (home / "hub" / "checkpoints").iterdir()) == [
        "dpt_hybrid_384.pt", "dpt_large_384.pt", "small.pt"]
    r = _sub(project, "verify", env=env)
    assert r.returncode == 0, r.stderr
    # tree shows each URL under the torchhub model that needs it
    r = _sub(project, "tree", env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if REPO in line)
    assert any(f"{upstream.url}/{V3}/dpt_large_384.pt" in line for line in lines[at + 1:]), r.stdout
    r = _sub(project, "list", env=env)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "depth (single)" and lines[1].startswith(f"  * {REPO}  default branch @ "), r.stdout
    assert [line.split(" @ ")[0] for line in lines[2:]] == [
        f"      needs {upstream.url}/{V3}/dpt_hybrid_384.pt", f"      needs {upstream.url}/{V3}/dpt_large_384.pt",
        f"      needs {upstream.url}/w/small.pt"], r.stdout
    assert lines[3].endswith("(weights of torch.hub entry DPT_Large (hubconf.py:15))"), r.stdout

    upstream.server.reset_requests()
    proc = run_app(project, GUARDED, env={**env, "ENTRIES": "DPT_Large,DPT_Hybrid,small"})
    out = last_json(proc)
    assert out == {"DPT_Large": {"value": 1.0, "warnings": []}, "DPT_Hybrid": {"value": 2.0, "warnings": []},
                   "small": {"value": 3.0, "warnings": []}}, proc.stderr[-3000:]
    assert upstream.server.requests == [], proc.stderr[-3000:]  # the synced checkout and weights: no request

    # upstream replaces the bytes under the same URL: sync, verify and the guard hold to the lock
    url = upstream.put(f"{V3}/dpt_large_384.pt", weights(9.0))
    fresh = {**env, "TORCH_HOME": str(tmp_path / "fresh")}
    r = _sub(project, "sync", env=fresh)
    assert r.returncode == 5, r.stderr
    assert f"The file at {url} changed: ptm.lock pins" in r.stderr, r.stderr
    assert f"`ptmlock lock --upgrade {REPO}`" in r.stderr, r.stderr
    assert not (tmp_path / "fresh" / "hub" / "checkpoints" / "dpt_large_384.pt").exists(), r.stderr
    proc = run_app(project, GUARDED, env={**fresh, "ENTRIES": "DPT_Large"})
    out = last_json(proc)
    assert out["DPT_Large"]["error"].startswith(f"ptmlock refused to load {url!r} (strict mode)"), out
    assert "the server sent other bytes" in out["DPT_Large"]["error"], out
    assert f"re-pin them with `ptmlock lock --upgrade {REPO}`" in out["DPT_Large"]["error"], out
    # an altered synced file is reported by verify
    (home / "hub" / "checkpoints" / "dpt_large_384.pt").write_bytes(weights(9.0))
    r = _sub(project, "verify", env=env)
    assert r.returncode == 1 and "dpt_large_384.pt" in r.stdout + r.stderr, r.stderr
    # the new bytes are intended: --upgrade of the torchhub model re-pins its URLs
    r = _sub(project, "lock", "--upgrade", REPO, env=env)
    assert r.returncode == 0, r.stderr
    assert url_deps(read_lock(project))[url]["commit"] == hashlib.sha256(weights(9.0)).hexdigest()


# --- which entry point reaches which URL (pure: sources in, URLs out) ---------------------------------


def test_entry_points_reach_urls_through_helpers_classes_module_aliases_and_module_level_loads():
    from ptmlock.deps.hubconf import HUBCONF, _url_loads, parse, public_entries, weight_urls

    hubconf = """import torch
import tinynet.models as tm
from tinynet import extra
from tinynet.models import Net as NetAlias

torch.hub.load_state_dict_from_url("https://h/everyone.pt")

def _load(url):
    return torch.hub.load_state_dict_from_url(url)

def a(pretrained=True):
    return _load("https://h/a.pt")

def b():
    return tm.build()

class C:
    def __init__(self):
        torch.hub.download_url_to_file("https://h/c.bin", "/tmp/c.bin")

def d():
    return extra.make()

def _private():
    torch.hub.load_state_dict_from_url("https://h/private.pt")
"""
    models = """import torch

def build():
    return torch.hub.load_state_dict_from_url("https://h/b.pt")

class Net:
    def __init__(self):
        torch.hub.load_state_dict_from_url("https://h/net.pt")

def unused():
    torch.hub.load_state_dict_from_url("https://h/unused.pt")
"""
    extra = 'import torch\ndef make():\n    return torch.hub.load_state_dict_from_url("https://h/extra.pt")\n'
    texts = {HUBCONF: hubconf, "tinynet/models.py": models, "tinynet/extra.py": extra}
    top = parse(HUBCONF, hubconf)
    assert top is not None
    modules = {"tinynet.models": parse("tinynet/models.py", models), "tinynet.extra": parse("tinynet/extra.py", extra)}
    assert public_entries(top, modules) == ["C", "NetAlias", "a", "b", "d"]

    def reached(entries):
        return {w.url.rsplit("/", 1)[1]: w.entries for w in weight_urls(top, modules, entries, _url_loads, texts)}

    every = ("C", "NetAlias", "a", "b", "d")
    assert reached(None) == {"everyone.pt": every, "a.pt": ("a",), "b.pt": ("b",), "c.bin": ("C",),
                             "extra.pt": ("d",), "net.pt": ("NetAlias",)}
    assert reached(("b",)) == {"everyone.pt": ("b",), "b.pt": ("b",)}
    assert reached(("_private",)) == {"everyone.pt": ("_private",), "private.pt": ("_private",)}  # named: loadable
    assert reached(()) == {}


@pytest.mark.ml
def test_init_from_code_writes_the_entry_points_the_code_loads(upstream, project, ptm):
    midas(upstream)
    (project / "src").mkdir()
    (project / "src" / "app.py").write_text(
        "import sys, torch\n"
        "depth = torch.hub.load('owner/midas', 'DPT_Large', trust_repo=True)\n"
        "small = torch.hub.load(repo_or_dir='owner/midas', model='small')\n"
        "other = torch.hub.load('other/net', sys.argv[1])\n")
    r = ptm("init", "--from-code", "src")
    assert r.code == 0, r.err
    text = (project / "ptm.toml").read_text()
    assert '[models."owner/midas"]\nhub = "torchhub"\nentries = ["DPT_Large", "small"]\n' in text, text
    assert '[models."other/net"]\nhub = "torchhub"\n\n' in text or text.endswith('[models."other/net"]\nhub = "torchhub"\n'), text
    # a computed entry point: no `entries`, so every entry point's URLs count
    text = text.replace('[models."other/net"]\nhub = "torchhub"\n', "")
    (project / "ptm.toml").write_text(text)
    r = ptm("lock")
    assert r.code == 0, r.err
    assert sorted(url_deps(read_lock(project))) == [f"{upstream.url}/{V3}/dpt_large_384.pt", f"{upstream.url}/w/small.pt"]


def test_the_lock_reader_and_schema_hold_entries_to_one_form():
    import json as _json

    import jsonschema
    from lockhelpers import SCHEMA

    from ptmlock.errors import LockfileError
    from ptmlock.lockfile.model import Lock, LockedModel
    from ptmlock.lockfile.read import lock_from_dict
    from ptmlock.lockfile.write import check_writable

    good = Lock(manifest_hash="sha256:" + "0" * 64, models=(
        LockedModel(id="owner/midas", commit="a" * 40, hub="torchhub", entries=("DPT_Large", "small")),))
    check_writable(good)
    data = _json.loads(_json.dumps(good.to_dict()))
    jsonschema.validate(data, SCHEMA)
    assert lock_from_dict(data).models[0].entries == ("DPT_Large", "small")
    for bad_entries, hub in ((["small", "DPT_Large"], "torchhub"), (["not an id"], "torchhub"), (["x"], "huggingface")):
        broken = _json.loads(_json.dumps(data))
        broken["model"][0].update(entries=bad_entries, hub=hub, id="owner/midas")
        with pytest.raises(LockfileError, match=r"Invalid value in 'model\[0\]\.entries'"):
            lock_from_dict(broken)
        if hub != "torchhub":
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate(broken, SCHEMA)
