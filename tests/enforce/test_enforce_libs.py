"""The guard with each real ML library, on tiny generated models served by the local hub.

For every library: a listed load gets the pinned commit after the hub's `main` moved to other
weights (asserted on a weight value), an unlisted load warns in warn mode and is refused in
strict mode with zero hub requests for it, a contradicting revision is caught, and one load is
one report record. Each scenario is a fresh interpreter running a small program.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ptmlock.testing import LocalHub
from tinymodels import clean_environ, last_json, run_app, tiny, torchhub_commit, write_project  # noqa: F401

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.ml]  # real ML libraries

APP = """
import ptmlock.enforce, json, warnings
{imports}

{loaders}

out = {{}}
for lib, name, repo, rev in {cases!r}:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = LOADERS[lib](repo, rev)
        out[lib + ":" + name] = {{"value": value, "warnings": [str(w.message) for w in caught
                                                           if w.category is ptmlock.enforce.PtmlockWarning]}}
    except ptmlock.enforce.GuardError as e:
        out[lib + ":" + name] = {{"error": str(e)}}
print(json.dumps(out))
"""

# library -> (tiny model kind, imports, loader body, user-level loads per call)
LIBS = {
    "transformers": ("bert", "from transformers import AutoConfig, AutoModel, AutoTokenizer", """
    kw = {} if rev is None else {"revision": rev}
    AutoTokenizer.from_pretrained(repo, **kw)
    AutoConfig.from_pretrained(repo, **kw)
    return AutoModel.from_pretrained(repo, **kw).embeddings.LayerNorm.bias[0].item()""", 3),
    "sentence-transformers": ("st", "from sentence_transformers import SentenceTransformer", """
    model = SentenceTransformer(repo, revision=rev, device="cpu")
    return model[0].auto_model.embeddings.LayerNorm.bias[0].item()""", 1),
    "diffusers": ("ddpm", "from diffusers import DiffusionPipeline, UNet2DModel", """
    unet = UNet2DModel.from_pretrained(repo, subfolder="unet", revision=rev)
    pipe = DiffusionPipeline.from_pretrained(repo, revision=rev)
    assert unet.conv_out.bias[0].item() == pipe.unet.conv_out.bias[0].item()
    return pipe.unet.conv_out.bias[0].item()""", 2),
    "timm": ("timm", "import timm", """
    name = "hf-hub:" + repo + ("@" + rev if rev else "")
    return timm.create_model(name, pretrained=True).get_classifier().bias[0].item()""", 1),
    "peft": ("lora", "from peft import PeftModel", """
    model = PeftModel.from_pretrained(AutoModel.from_pretrained("org/base"), repo, revision=rev)
    return next(p for n, p in model.named_parameters() if "lora_B" in n)[0, 0].item()""", 1),
    "open_clip": ("clip", "import open_clip", """
    return open_clip.create_model("hf-hub:" + repo).text_projection[0, 0].item()""", 1),
}


def _program(cases):
    imports = "\n".join(spec[1] for spec in LIBS.values())
    loaders = "\n\n".join(f"def load_{n}(repo, rev):{spec[2]}" for n, spec in enumerate(LIBS.values()))
    loaders += "\n\nLOADERS = {" + ", ".join(f"{lib!r}: load_{n}" for n, lib in enumerate(LIBS)) + "}"
    return APP.format(imports=imports, loaders=loaders, cases=cases)


def _repos(lib):
    kind = LIBS[lib][0]
    return f"org/{kind}", f"org/other-{kind}"


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny):
    """One hub and one project for every library: org/<kind> locked at v1 (weight 1.0), then main
    moved to v2 (weight 2.0) with a `dev` branch there; org/other-<kind> not listed. One warn-mode
    program and one strict-mode program then load everything (a fresh interpreter each)."""
    root = tmp_path_factory.mktemp("libs")
    project = root / "proj"
    project.mkdir()
    with LocalHub(root / "hub") as hub:
        env = {**clean_environ(), "HF_ENDPOINT": hub.endpoint, "HF_HOME": str(root / "hf"), "HF_HUB_CACHE": str(root / "hf" / "hub"),
               "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
        hub.commit("org/base", tiny.files("bert", 1.0))
        lines = ['[project]\nname = "app"\n\n[models."org/base"]\n']
        for lib, (kind, *_rest) in LIBS.items():
            files = (lambda v: tiny.files("lora", v, "org/base")) if kind == "lora" else \
                (lambda v, kind=kind: tiny.files(kind, v))
            listed, unlisted = _repos(lib)
            hub.commit(listed, files(1.0))
            hub.commit(unlisted, files(1.0))
            lines.append(f'[models."{listed}"]\n')
        (project / "ptm.toml").write_text("\n".join(lines))
        lock = subprocess.run([sys.executable, "-m", "ptmlock", "lock"], cwd=project, capture_output=True, text=True,
                              env=env)
        assert lock.returncode == 0, lock.stderr
        for lib in LIBS:
            listed, _ = _repos(lib)
            kind = LIBS[lib][0]
            v2 = hub.commit(listed, tiny.files("lora", 2.0, "org/base") if kind == "lora" else tiny.files(kind, 2.0))
            hub.create_branch(listed, "dev", revision=v2)
        cases = []
        for lib in LIBS:
            listed, unlisted = _repos(lib)
            cases += [(lib, "listed", listed, None), (lib, "unlisted", unlisted, None)]
            if lib != "open_clip":  # open_clip has no revision parameter: nothing to contradict
                cases.append((lib, "contradicts", listed, "dev"))
        report = root / "loads.jsonl"
        warn = run_app(project, _program(cases), base=env, env={"PTMLOCK_REPORT": str(report)})
        hub.reset_requests()
        strict = run_app(project, _program([c for c in cases if c[1] != "listed"]), base=env,
                         env={"PTMLOCK_MODE": "strict"})
        strict_requests = [r.path for r in hub.requests]
    records = [r for r in map(json.loads, report.read_text().splitlines()) if r["event"] == "load"] \
        if report.exists() else []
    return {"warn": last_json(warn), "warn_stderr": warn.stderr, "strict": last_json(strict),
            "strict_requests": strict_requests, "records": records, "project": project}


@pytest.mark.parametrize("lib", list(LIBS))
def test_listed_load_gets_the_pinned_weights_after_main_moved(world, lib):
    assert world["warn"][f"{lib}:listed"] == {"value": 1.0, "warnings": []}, world["warn_stderr"][-3000:]


@pytest.mark.parametrize("lib", list(LIBS))
def test_unlisted_load_warns_in_warn_mode(world, lib):
    _, unlisted = _repos(lib)
    got = world["warn"][f"{lib}:unlisted"]
    assert got["value"] == 1.0
    assert any(f"model {unlisted!r} is not declared in ptm.toml" in w and "app.py:" in w
               and f"`ptmlock add {unlisted}`" in w for w in got["warnings"]), got


@pytest.mark.parametrize("lib", [lib for lib in LIBS if lib != "open_clip"])
def test_contradicting_revision_warns_and_loads_as_asked(world, lib):
    got = world["warn"][f"{lib}:contradicts"]
    assert got["value"] == 2.0
    assert any("but the code asks for revision 'dev'" in w for w in got["warnings"]), got


@pytest.mark.parametrize("lib", list(LIBS))
def test_strict_mode_refuses_with_zero_requests(world, lib):
    listed, unlisted = _repos(lib)
    out = world["strict"]
    assert out[f"{lib}:unlisted"]["error"].startswith(f"ptmlock refused to load {unlisted!r} (strict mode) at "), out
    assert not [p for p in world["strict_requests"] if unlisted in p]
    if lib != "open_clip":
        assert out[f"{lib}:contradicts"]["error"].startswith(f"ptmlock refused to load {listed!r}"), out
        assert not [p for p in world["strict_requests"] if listed in p and "/dev" in p]


@pytest.mark.parametrize("lib", list(LIBS))
def test_one_report_record_per_load_with_the_library_and_call_site(world, lib):
    listed, unlisted = _repos(lib)
    calls = LIBS[lib][3]
    mine = [r for r in world["records"] if r["library"] == lib and r["model"] != "org/base"]
    expected = {(listed, "pinned"): calls, (unlisted, "unlisted"): calls}
    if lib != "open_clip":
        expected[(listed, "contradicts")] = calls
    assert Counter((r["model"], r["verdict"]) for r in mine) == expected, mine
    assert all(r["call_site"].startswith(str(world["project"] / "app.py")) for r in mine)


def _bert_project(hub, tiny, project):
    hub.commit("org/bert", tiny.files("bert", 1.0))
    hub.commit("org/other-bert", tiny.files("bert", 1.0))
    write_project(project, {"org/bert": {}})
    hub.commit("org/bert", tiny.files("bert", 2.0))
    hub.reset_requests()
    return "org/bert", "org/other-bert"


def test_transformers_pipeline_and_local_paths(hub, tiny, project):
    listed, _ = _bert_project(hub, tiny, project)
    local = project / "local-bert"
    local.mkdir()
    for path, data in tiny.files("bert", 3.0).items():
        (local / path).write_bytes(data)
    proc = run_app(project, f"""
        import ptmlock.enforce, json
        from transformers import AutoModel, pipeline
        pipe = pipeline("feature-extraction", model={listed!r})
        print(json.dumps([pipe.model.embeddings.LayerNorm.bias[0].item(),
                          AutoModel.from_pretrained("local-bert").embeddings.LayerNorm.bias[0].item(),
                          AutoModel.from_pretrained({str(local)!r}).embeddings.LayerNorm.bias[0].item()]))
    """, env={"PTMLOCK_MODE": "strict"})
    assert last_json(proc) == [1.0, 3.0, 3.0], proc.stderr


def test_transformers_imported_before_the_guard(hub, tiny, project):
    listed, unlisted = _bert_project(hub, tiny, project)
    proc = run_app(project, f"""
        import json
        from transformers import AutoModel
        import ptmlock.enforce
        value = AutoModel.from_pretrained({listed!r}).embeddings.LayerNorm.bias[0].item()
        try:
            AutoModel.from_pretrained({unlisted!r})
            refused = False
        except ptmlock.enforce.GuardError:
            refused = True
        print(json.dumps([value, refused]))
    """, env={"PTMLOCK_MODE": "strict"})
    assert last_json(proc) == [1.0, True], proc.stderr
    assert hub.count(path_contains=unlisted) == 0


# --- torch.hub ------------------------------------------------------------------------------------
# torch.hub downloads `https://github.com/<owner>/<repo>/zipball/<ref>` (`torch.hub._git_archive_link`).
# The program points that link at a local server that answers with `git archive` of a real local
# git repository; the guard's rewrite of `owner/repo` to `owner/repo:<locked commit>` happens
# before, in `_get_cache_or_reload`, exactly as it would for GitHub.


class _GitArchiveServer:
    def __init__(self, repos):
        self.repos = repos  # "owner/repo" -> local git repo path
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # /<owner>/<repo>/zipball/<ref>
                server.requests.append(self.path)
                owner, repo, _, ref = self.path.strip("/").split("/", 3)
                path = server.repos.get(f"{owner}/{repo}")
                if path is None:
                    self.send_error(404)
                    return
                sha = subprocess.run(["git", "-C", str(path), "rev-parse", ref], capture_output=True,
                                     text=True).stdout.strip()
                if not sha:
                    self.send_error(404)
                    return
                data = subprocess.run(["git", "-C", str(path), "archive", "--format=zip",
                                       f"--prefix={owner}-{repo}-{sha[:7]}/", sha], capture_output=True,
                                      check=True).stdout
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


TORCH_APP = """
import ptmlock.enforce, json, os, torch.hub, warnings
torch.hub._git_archive_link = lambda owner, name, ref: f"{{os.environ['GIT_SERVER']}}/{{owner}}/{{name}}/zipball/{{ref}}"
out = {{}}
for name, repo in {cases!r}:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            layer = torch.hub.load(repo, "tiny", trust_repo=True, skip_validation=True, verbose=False)
        out[name] = {{"value": layer.bias[0].item(), "warnings": [str(w.message) for w in caught
                     if w.category is ptmlock.enforce.PtmlockWarning]}}
    except ptmlock.enforce.GuardError as e:
        out[name] = {{"error": str(e)}}
print(json.dumps(out))
"""


@pytest.fixture
def torchhub_project(project, tmp_path):
    """owner/tiny locked at v1 (hub = "torchhub"; written with the lock API, as `ptmlock lock`
    resolves Hugging Face models only), main moved to v2 and a `dev` branch; other/tiny unlisted."""
    from ptmlock.lockfile.model import Lock, LockedModel, manifest_hash
    from ptmlock.lockfile.write import dumps
    from ptmlock.manifest.parse import load_manifest

    repos = {"owner/tiny": tmp_path / "git" / "tiny", "other/tiny": tmp_path / "git" / "other"}
    v1 = torchhub_commit(repos["owner/tiny"], 1.0)
    torchhub_commit(repos["other/tiny"], 1.0)
    (project / "ptm.toml").write_text('[project]\nname = "app"\n\n[models."owner/tiny"]\nhub = "torchhub"\n')
    manifest = load_manifest(project / "ptm.toml")
    lock = Lock(manifest_hash=manifest_hash(manifest), models=(LockedModel(id="owner/tiny", commit=v1, hub="torchhub"),))
    (project / "ptm.lock").write_text(dumps(lock))
    v2 = torchhub_commit(repos["owner/tiny"], 2.0)
    subprocess.run(["git", "-C", str(repos["owner/tiny"]), "branch", "dev", v2], check=True)
    server = _GitArchiveServer(repos)
    yield project, server, v1
    server.close()


@pytest.mark.parametrize("mode", ["warn", "strict"])
def test_torch_hub_load_is_pinned_and_checked(torchhub_project, tmp_path, mode):
    project, server, v1 = torchhub_project
    # (the unlisted repo names its ref: with none, torch.hub would probe github.com for the default branch)
    cases = [("listed", "owner/tiny"), ("unlisted", "other/tiny:main"), ("contradicts", "owner/tiny:dev")]
    proc = run_app(project, TORCH_APP.format(cases=cases),
                   env={"PTMLOCK_MODE": mode, "GIT_SERVER": server.url, "TORCH_HOME": str(tmp_path / "torch")})
    out = last_json(proc)
    assert out["listed"] == {"value": 1.0, "warnings": []}, proc.stderr
    assert f"/owner/tiny/zipball/{v1}" in server.requests
    if mode == "warn":
        assert out["unlisted"]["value"] == 1.0 and "torch.hub repo 'other/tiny' is not declared" in \
            out["unlisted"]["warnings"][0] and "`ptmlock add other/tiny:main --hub torchhub`" in out["unlisted"]["warnings"][0]
        assert out["contradicts"]["value"] == 2.0 and "asks for revision 'dev'" in out["contradicts"]["warnings"][0]
    else:
        assert out["unlisted"]["error"].startswith("ptmlock refused to load 'other/tiny' (strict mode)")
        assert out["contradicts"]["error"].startswith("ptmlock refused to load 'owner/tiny' (strict mode)")
        assert server.requests == [f"/owner/tiny/zipball/{v1}"]  # nothing else left the process


def test_every_adapter_hooks_the_installed_libraries(tmp_path):
    proc = run_app(tmp_path, """
        import importlib, json, warnings
        warnings.simplefilter("ignore")
        import ptmlock.enforce
        from ptmlock.enforce import _adapters, _hooks
        tables = {}
        for adapter in _adapters.ADAPTER_NAMES:
            for name in importlib.import_module("ptmlock.enforce." + adapter).PATCHES:
                tables[name] = adapter
        for name in tables:
            importlib.import_module(name)
        print(json.dumps({"same": tables == _adapters.TARGETS, "modules": len(tables), "failures": _hooks.failures()}))
    """)
    out = last_json(proc)
    assert out["same"] and out["failures"] == [] and out["modules"] >= 30, out
