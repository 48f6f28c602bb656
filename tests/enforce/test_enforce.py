"""The runtime guard through huggingface_hub: real programs in fresh interpreters against the local hub."""
from __future__ import annotations

import json
import sys

import huggingface_hub
import pytest

from tinymodels import last_json, run_app, write_project

pytestmark = pytest.mark.torchfree  # needs no torch: .ci/run also runs it with transformers 4.x


def files(tag: str) -> dict[str, bytes]:
    return {"config.json": json.dumps({"tag": tag}).encode(), "weights.bin": tag.encode() * 100}


@pytest.fixture
def moved(hub, project):
    """org/m locked at v1, then main moved to v2; returns (v1 sha, v2 sha)."""
    v1 = hub.commit("org/m", files("v1"))
    write_project(project, {"org/m": {}})
    v2 = hub.commit("org/m", files("v2"))
    hub.commit("org/other", files("other"))
    hub.reset_requests()
    return v1, v2


LOAD = """
    import json
    {before}
    from huggingface_hub import hf_hub_download, snapshot_download, HfApi
    {after}
    p = hf_hub_download("org/m", "config.json")
    s = snapshot_download("org/m")
    a = HfApi().hf_hub_download("org/m", "config.json")
    print(json.dumps({{"tag": json.load(open(p))["tag"], "path": p, "snapshot": s, "api": a}}))
"""


@pytest.mark.parametrize("order", ["guard-first", "guard-last"])
def test_listed_load_gets_locked_commit_after_main_moves(moved, project, order):
    v1, _ = moved
    guard = "import ptmlock.enforce"
    # guard-last: the library is imported and its names copied (`from ... import`) before the guard
    src = LOAD.format(before=guard if order == "guard-first" else "", after=guard if order == "guard-last" else "")
    out = last_json(run_app(project, src))
    assert out["tag"] == "v1"
    assert f"/snapshots/{v1}/" in out["path"] and out["snapshot"].endswith(v1) and f"/{v1}/" in out["api"]


def test_unguarded_program_gets_the_moved_main(moved, project):
    out = last_json(run_app(project, LOAD.format(before="", after="")))
    assert out["tag"] == "v2"


def test_unlisted_load_warns_with_call_site_and_fix(moved, project):
    proc = run_app(project, """
        import ptmlock.enforce
        from huggingface_hub import hf_hub_download
        hf_hub_download("org/other", "config.json")
        print('{"ok": true}')
    """)
    assert last_json(proc) == {"ok": True}, proc.stderr
    assert "app.py:4: PtmlockWarning: model 'org/other' is not declared in ptm.toml." in proc.stderr, proc.stderr
    assert "`ptmlock add org/other`" in proc.stderr and "load at " in proc.stderr, proc.stderr


def test_strict_refuses_unlisted_before_any_request(moved, hub, project):
    proc = run_app(project, """
        import ptmlock.enforce, json
        from huggingface_hub import hf_hub_download, snapshot_download
        errors = []
        for fn in (lambda: hf_hub_download("org/other", "config.json"), lambda: snapshot_download("org/other")):
            try:
                fn()
            except ptmlock.enforce.GuardError as e:
                errors.append(str(e))
        print(json.dumps({"errors": errors}))
    """, env={"PTMLOCK_MODE": "strict"})
    errors = last_json(proc)["errors"]
    assert len(errors) == 2
    assert errors[0].startswith("ptmlock refused to load 'org/other' (strict mode) at ")
    assert "app.py:5" in errors[0] and "`ptmlock add org/other`" in errors[0]
    assert hub.count(path_contains="org/other") == 0


def test_manifest_policy_sets_the_mode_and_env_overrides_it(hub, project):
    hub.commit("org/m", files("v1"))
    hub.commit("org/other", files("other"))
    write_project(project, {"org/m": {}}, policy="strict")
    src = """
        import ptmlock.enforce, json
        from huggingface_hub import hf_hub_download
        try:
            hf_hub_download("org/other", "config.json")
            print(json.dumps({"mode": ptmlock.enforce.mode(), "refused": False}))
        except ptmlock.enforce.GuardError:
            print(json.dumps({"mode": ptmlock.enforce.mode(), "refused": True}))
    """
    assert last_json(run_app(project, src)) == {"mode": "strict", "refused": True}
    assert last_json(run_app(project, src, env={"PTMLOCK_MODE": "warn"})) == {"mode": "warn", "refused": False}
    off = run_app(project, src, env={"PTMLOCK_MODE": "off"})
    assert last_json(off) == {"mode": "off", "refused": False} and "PtmlockWarning" not in off.stderr, off.stderr


@pytest.mark.parametrize("mode", ["warn", "strict"])
def test_contradicting_revision_is_caught(moved, hub, project, mode):
    _, v2 = moved
    hub.create_branch("org/m", "dev", revision=v2)
    hub.reset_requests()
    proc = run_app(project, f"""
        import ptmlock.enforce, json
        from huggingface_hub import hf_hub_download
        out = {{}}
        for rev in ("dev", "{v2}"):
            try:
                out[rev] = json.load(open(hf_hub_download("org/m", "config.json", revision=rev)))["tag"]
            except ptmlock.enforce.GuardError as e:
                out[rev] = str(e)
        print(json.dumps(out))
    """, env={"PTMLOCK_MODE": mode})
    out = last_json(proc)
    if mode == "warn":
        assert out == {"dev": "v2", v2: "v2"}  # loaded as asked, with a warning each
        assert proc.stderr.count("PtmlockWarning") == 2, proc.stderr
        assert "but the code asks for revision 'dev'" in proc.stderr, proc.stderr
    else:
        assert all(v.startswith("ptmlock refused to load 'org/m'") for v in out.values())
        assert "is locked at" in out["dev"] and "`ptmlock add org/m@dev`" in out["dev"]
        assert hub.count() == 0


def test_locked_sha_full_or_prefix_and_declared_ref_are_allowed(hub, project):
    v1 = hub.commit("org/m", files("v1"))
    hub.create_branch("org/m", "stable", revision=v1)
    write_project(project, {"org/m": {"revision": "stable"}})
    v2 = hub.commit("org/m", files("v2"))
    hub.move_branch("org/m", "stable", v2)
    proc = run_app(project, f"""
        import ptmlock.enforce, json
        from huggingface_hub import hf_hub_download
        tag = lambda rev: json.load(open(hf_hub_download("org/m", "config.json", revision=rev)))["tag"]
        print(json.dumps([tag("{v1}"), tag("{v1[:10]}"), tag("stable"), tag(None)]))
    """, env={"PTMLOCK_MODE": "strict"})
    assert last_json(proc) == ["v1", "v1", "v1", "v1"], proc.stderr


@pytest.mark.skipif(not hasattr(huggingface_hub, "resolve_revision"), reason="huggingface_hub 0.x has no resolve_revision")
def test_snapshot_and_resolve_revision_are_pinned_without_a_request(moved, hub, project):
    v1, _ = moved
    proc = run_app(project, """
        import ptmlock.enforce, json
        import huggingface_hub
        from huggingface_hub import HfApi, resolve_revision
        revs = [resolve_revision("org/m"), HfApi().resolve_revision("org/m"), huggingface_hub.resolve_revision("org/m")]
        print(json.dumps([r.resolved for r in revs]))
    """)
    assert last_json(proc) == [v1, v1, v1], proc.stderr
    assert hub.count() == 0


def test_offline_load_works_from_the_cache_by_sha(moved, hub, project):
    v1, _ = moved
    src = """
        import ptmlock.enforce, json
        from huggingface_hub import hf_hub_download
        print(json.dumps({"tag": json.load(open(hf_hub_download("org/m", "config.json")))["tag"]}))
    """
    assert last_json(run_app(project, src)) == {"tag": "v1"}
    hub.reset_requests()
    assert last_json(run_app(project, src, env={"HF_HUB_OFFLINE": "1"})) == {"tag": "v1"}
    assert hub.count() == 0


def test_threads_loading_concurrently_are_each_pinned_and_reported(moved, project):
    v1, _ = moved
    report = project / "loads.jsonl"
    proc = run_app(project, """
        import ptmlock.enforce, json, warnings
        from concurrent.futures import ThreadPoolExecutor
        from huggingface_hub import hf_hub_download
        warnings.simplefilter("always")
        def load(i):
            repo = "org/m" if i % 2 else "org/other"
            return json.load(open(hf_hub_download(repo, "config.json")))["tag"]
        with ThreadPoolExecutor(8) as pool:
            tags = list(pool.map(load, range(32)))
        print(json.dumps({"tags": sorted(set(tags))}))
    """, env={"PTMLOCK_REPORT": str(report)})
    assert last_json(proc) == {"tags": ["other", "v1"]}, proc.stderr
    records = [r for r in map(json.loads, report.read_text().splitlines()) if r["event"] == "load"]
    assert len(records) == 32
    assert sum(r["verdict"] == "pinned" and r["revision"] == v1 for r in records) == 16
    assert sum(r["verdict"] == "unlisted" for r in records) == 16


def test_report_has_one_record_per_load_with_call_site(moved, project):
    v1, _ = moved
    report = project / "loads.jsonl"
    proc = run_app(project, """
        import ptmlock.enforce
        from huggingface_hub import hf_hub_download, snapshot_download
        snapshot_download("org/m")
        hf_hub_download("org/other", "config.json")
        print("{}")
    """, env={"PTMLOCK_REPORT": str(report)})
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in report.read_text().splitlines()]
    (process,) = [r for r in records if r["event"] == "guard-on"]
    assert process["pid"] > 0 and process["argv"][-1] == "app.py" and process["lock"] == str(project / "ptm.lock")
    pinned, unlisted = [r for r in records if r["event"] == "load"]
    assert pinned == {
        "event": "load", "action": "rewrite", "call_site": f"{project / 'app.py'}:4", "declared": "org/m", "hub": "huggingface",
        "library": "huggingface_hub", "locked": v1, "mode": "warn", "model": "org/m", "repo_type": "model",
        "requested": None, "revision": v1, "verdict": "pinned",
    }
    assert unlisted["verdict"] == "unlisted" and unlisted["action"] == "warn" and unlisted["locked"] is None
    assert unlisted["call_site"].endswith("app.py:5")


def test_disable_and_disabled_turn_the_guard_off(moved, hub, project):
    proc = run_app(project, """
        import ptmlock.enforce, json, threading
        from huggingface_hub import hf_hub_download
        tag = lambda repo: json.load(open(hf_hub_download(repo, "config.json")))["tag"]
        out = {}
        with ptmlock.enforce.disabled():
            out["block"] = [tag("org/other"), tag("org/m"), ptmlock.enforce.is_enabled()]
        seen = []
        with ptmlock.enforce.disabled():  # only this thread: another thread is still checked
            t = threading.Thread(target=lambda: seen.append(ptmlock.enforce.is_enabled()))
            t.start(); t.join()
        out["other_thread"] = seen
        try:
            tag("org/other")
        except ptmlock.enforce.GuardError:
            out["after"] = "refused"
        ptmlock.enforce.disable()
        out["disabled"] = [tag("org/other"), ptmlock.enforce.is_enabled()]
        ptmlock.enforce.enable()
        out["enabled"] = tag("org/m")
        print(json.dumps(out))
    """, env={"PTMLOCK_MODE": "strict"})
    assert last_json(proc) == {"block": ["other", "v2", False], "other_thread": [True], "after": "refused",
                               "disabled": ["other", False], "enabled": "v1"}, proc.stderr


def test_no_lock_warns_once_and_strict_refuses_to_start(hub, tmp_path):
    hub.commit("org/m", files("v1"))
    src = """
        import ptmlock.enforce
        from huggingface_hub import hf_hub_download
        hf_hub_download("org/m", "config.json")
        hf_hub_download("org/m", "weights.bin")
        print("{}")
    """
    proc = run_app(tmp_path, src)
    assert proc.returncode == 0 and proc.stderr.count("PtmlockWarning") == 1, proc.stderr
    assert f"ptmlock runtime guard checks nothing: no ptm.lock in {tmp_path} or any parent directory" in proc.stderr, proc.stderr
    strict = run_app(tmp_path, src, env={"PTMLOCK_MODE": "strict"})
    assert strict.returncode == 1 and "GuardError: ptmlock runtime guard (strict): no ptm.lock in" in strict.stderr, strict.stderr
    missing = run_app(tmp_path, src, env={"PTMLOCK_MODE": "strict", "PTMLOCK_LOCKFILE": str(tmp_path / "x.lock")})
    assert f"PTMLOCK_LOCKFILE={tmp_path / 'x.lock'} does not exist" in missing.stderr, missing.stderr


def test_lockfile_env_var_and_walking_up_find_the_lock(moved, project):
    v1, _ = moved
    sub = project / "src" / "pkg"
    sub.mkdir(parents=True)
    src = """
        import ptmlock.enforce, json
        from huggingface_hub import hf_hub_download
        print(json.dumps({"tag": json.load(open(hf_hub_download("org/m", "config.json")))["tag"]}))
    """
    assert last_json(run_app(sub, src)) == {"tag": "v1"}
    elsewhere = project.parent / "elsewhere"
    elsewhere.mkdir()
    assert last_json(run_app(elsewhere, src, env={"PTMLOCK_LOCKFILE": str(project / "ptm.lock")})) == {"tag": "v1"}


def test_stale_lock_entry_is_flagged(hub, project):
    hub.commit("org/m", files("v1"))
    hub.commit("org/new", files("new"))
    write_project(project, {"org/m": {}})
    text = (project / "ptm.toml").read_text().replace('[models."org/m"]\n', '[models."org/m"]\nrevision = "main"\n')
    (project / "ptm.toml").write_text(text + '\n[models."org/new"]\n')  # edited after `ptmlock lock`
    proc = run_app(project, """
        import ptmlock.enforce
        from huggingface_hub import hf_hub_download
        hf_hub_download("org/new", "config.json")
        hf_hub_download("org/m", "config.json")
        print("{}")
    """)
    assert "'org/new' is declared in ptm.toml but not pinned in ptm.lock (the lock is stale). Run `ptmlock lock`." \
        in proc.stderr, proc.stderr
    assert "ptm.lock is stale for 'org/m': revision is 'main' in ptm.toml but unset in ptm.lock." in proc.stderr, proc.stderr


def test_legacy_and_renamed_ids_match_their_pin(hub, project):
    old = hub.commit("bert-base-uncased", files("legacy"))
    hub.rename("bert-base-uncased", "google-bert/bert-base-uncased")
    hub.commit("org/old", files("old"))
    hub.rename("org/old", "org/new")
    write_project(project, {"google-bert/bert-base-uncased": {}, "org/old": {}})
    hub.commit("google-bert/bert-base-uncased", files("moved"))
    proc = run_app(project, """
        import ptmlock.enforce, json
        from huggingface_hub import hf_hub_download
        tag = lambda repo: json.load(open(hf_hub_download(repo, "config.json")))["tag"]
        print(json.dumps([tag("bert-base-uncased"), tag("google-bert/bert-base-uncased"), tag("org/new")]))
    """, env={"PTMLOCK_MODE": "strict"})
    assert last_json(proc) == ["legacy", "legacy", "old"], proc.stderr
    assert old


def test_importing_twice_is_harmless(moved, project):
    report = project / "loads.jsonl"
    proc = run_app(project, """
        import importlib, ptmlock.enforce
        import ptmlock.enforce as again
        importlib.reload(ptmlock.enforce)
        from huggingface_hub import hf_hub_download
        hf_hub_download("org/other", "config.json")
        print("{}")
    """, env={"PTMLOCK_REPORT": str(report)})
    assert proc.stderr.count("PtmlockWarning") == 1, proc.stderr
    assert [json.loads(line)["event"] for line in report.read_text().splitlines()] == ["guard-on", "load"]


def test_import_loads_no_ml_library_and_nothing_it_does_not_need(tmp_path):
    # issue 21: `import ptmlock.enforce` costs <= 5 ms over a bare interpreter (benchmarks/bench_enforce.py
    # measures it). Not timed here: which modules it loads, in an interpreter without site (-S), so
    # nothing a .pth file imported hides a cost. Beyond ptmlock's own modules, only these two:
    import os
    import subprocess

    import ptmlock

    code = ("import sys, os; before = set(sys.modules); import ptmlock.enforce; "  # site always loads os
            "print(sorted(set(sys.modules) - before))")
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(ptmlock.__file__))}
    r = subprocess.run([sys.executable, "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    others = [m for m in eval(r.stdout) if m.split(".")[0] != "ptmlock"]
    assert others == ["__future__", "_contextvars"], (
        f"import ptmlock.enforce loads {others}: import them inside the function that needs them")
    assert "ptmlock.enforce._runtime" in r.stdout, r.stderr  # the guard is on: this is the whole import


def test_a_hook_that_cannot_be_installed_warns_and_the_import_still_works(tmp_path):
    proc = run_app(tmp_path, """
        import ptmlock.enforce
        from ptmlock.enforce import _hooks
        def broken(module):
            raise AttributeError("no such function")
        _hooks.register({"json.tool": broken})
        import json.tool
        print("{}")
    """)
    assert last_json(proc) == {}, proc.stderr
    assert "PtmlockWarning: ptmlock could not hook json.tool (AttributeError: no such function)" in proc.stderr, proc.stderr
