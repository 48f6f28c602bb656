"""`ptmlock scan`, `ptmlock check` and `init --from-code` through the CLI, against real locks."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from lockhelpers import PY, tiny_repo_files, write_manifest
from ptmlock.manifest.parse import load_manifest


APP = textwrap.dedent('''\
    """Loads "org/in-docstring" nowhere."""
    import argparse
    from transformers import AutoModel, AutoTokenizer

    ENCODERS = {"small": "org/a", "large": "org/b"}


    def main():
        p = argparse.ArgumentParser()
        p.add_argument("--size", default="small", choices=list(ENCODERS))
        args = p.parse_args()
        model = AutoModel.from_pretrained(ENCODERS[args.size])
        tok = AutoTokenizer.from_pretrained("org/c", revision="v1")
        extra = AutoModel.from_pretrained("org/undeclared")
        quiet = AutoModel.from_pretrained("org/also-undeclared")  # ptmlock: ignore
        anything = AutoModel.from_pretrained(input())
        if args.size == "org/not-a-load":
            pass
        return model, tok, extra, quiet, anything
    ''')


def _locked_project(hub, project, ptm, c_revision="v1"):
    for repo in ("org/a", "org/b", "org/c"):
        sha = hub.commit(repo, tiny_repo_files(repo))
        hub.create_tag(repo, "v1", revision=sha)
    write_manifest(project, {"org/a": {"role": "enc"}, "org/b": {"role": "enc"}, "org/c": {"revision": c_revision}})
    assert ptm("lock").code == 0
    (project / "app.py").write_text(APP)


def test_scan_groups_findings_by_status(hub, project, ptm):
    _locked_project(hub, project, ptm)
    r = ptm("scan", "app.py")
    assert r.code == 0, r.err
    assert r.out.splitlines() == [
        "undeclared (2)",
        "  app.py:14:13  org/undeclared  (transformers.AutoModel.from_pretrained)",
        "  app.py:15:13  org/also-undeclared  (transformers.AutoModel.from_pretrained)  [ignored]",
        "declared (2)",
        "  app.py:12:13  org/a, org/b  (transformers.AutoModel.from_pretrained)",
        "  app.py:13:11  org/c @ v1  (transformers.AutoTokenizer.from_pretrained)",
        "dynamic (1)",
        "  app.py:16:16  <dynamic>  (transformers.AutoModel.from_pretrained)",
    ]


def test_scan_json_has_statuses_per_id(hub, project, ptm):
    _locked_project(hub, project, ptm)
    data = json.loads(ptm("scan", "--json", ".").out)
    by_line = {f["line"]: f for f in data["findings"]}
    assert by_line[12]["statuses"] == [{"model_id": "org/a", "status": "declared"},
                                       {"model_id": "org/b", "status": "declared"}]
    assert by_line[14]["status"] == "undeclared" and by_line[14]["model_ids"] == ["org/undeclared"]
    assert by_line[16]["status"] == "dynamic" and by_line[16]["model_ids"] is None
    assert set(by_line[12]) >= {"path", "line", "col", "loader", "library", "model_ids", "revision", "hub",
                                "repo_type", "ignored", "status", "statuses"}


def test_scan_without_manifest_reports_undeclared_and_says_so(project, ptm):
    (project / "app.py").write_text('from transformers import AutoModel\nAutoModel.from_pretrained("org/x")\n')
    r = ptm("scan")
    assert r.code == 0
    assert "no ptm.toml found" in r.err
    assert r.out.splitlines() == ["undeclared (1)", "  app.py:2:1  org/x  (transformers.AutoModel.from_pretrained)"]


def test_scan_of_missing_path_is_a_usage_error(project):
    r = subprocess.run([PY, "-m", "ptmlock", "scan", "nope/"], cwd=project, capture_output=True, text=True)
    assert r.returncode == 2 and "'nope/' does not exist" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_check_fails_on_undeclared_load_with_flake8_lines(hub, project, ptm):
    _locked_project(hub, project, ptm)
    r = ptm("check", "app.py")
    assert r.code == 1
    assert r.out.splitlines() == [
        "app.py:14:13: PTM002 'org/undeclared' is loaded here (transformers.AutoModel.from_pretrained) but not "
        "declared in ptm.toml; declare it with `ptmlock add org/undeclared` or mark the line `# ptmlock: ignore`",
    ]
    assert "1 problem" in r.err


def test_check_passes_once_declared_and_locked(hub, project, ptm):
    _locked_project(hub, project, ptm)
    hub.commit("org/undeclared", tiny_repo_files())
    assert ptm("add", "org/undeclared").code == 0
    r = ptm("check", "app.py")
    assert r.code == 0, r.out
    assert r.out == ""


def test_check_flags_revision_that_contradicts_the_lock(hub, project, ptm):
    _locked_project(hub, project, ptm, c_revision="main")
    (project / "app.py").write_text(APP.replace('extra = AutoModel.from_pretrained("org/undeclared")', "extra = 1"))
    r = ptm("check", "app.py")
    assert r.code == 1
    assert len(r.out.splitlines()) == 1
    assert r.out.startswith("app.py:13:11: PTM003 revision 'v1' of 'org/c' contradicts ptm.lock (ptm.lock pins ")
    assert "ptmlock add org/c@v1" in r.out


def test_check_reports_stale_lock(hub, project, ptm):
    _locked_project(hub, project, ptm)
    (project / "app.py").write_text("print('no loads')\n")
    write_manifest(project, {"org/a": {"role": "enc"}, "org/b": {"role": "enc"}, "org/c": {"revision": "v2"}})
    r = ptm("check", "app.py")
    assert r.code == 1
    line = (project / "ptm.toml").read_text().splitlines().index('[models."org/c"]') + 1
    assert line > 1  # issue 24: at the entry the lock does not match, not at ptm.toml:1:1
    assert r.out.splitlines() == [
        f"ptm.toml:{line}:1: PTM001 ptm.lock is stale against ptm.toml: org/c: requested is 'v2' in ptm.toml but 'v1' in "
        "ptm.lock. Run `ptmlock lock` to update it, then `ptmlock check`.",
    ]


def test_check_without_files_checks_the_whole_project(hub, project, ptm):
    _locked_project(hub, project, ptm)
    (project / "pkg").mkdir()
    (project / "pkg" / "more.py").write_text('from diffusers import DiffusionPipeline\n'
                                             'DiffusionPipeline.from_pretrained("org/sd")\n')
    r = ptm("check")
    assert r.code == 1
    assert [line.split(":")[0] for line in r.out.splitlines()] == ["app.py", os.path.join("pkg", "more.py")]


def test_check_ignores_non_python_and_missing_manifest_is_clear(hub, project, ptm):
    r = ptm("check", "README.md")
    assert r.code == 3 and "No ptm.toml found" in r.err
    write_manifest(project, {})
    assert ptm("lock").code == 0
    (project / "README.md").write_text('AutoModel.from_pretrained("org/x")\n')
    assert ptm("check", "README.md").code == 0


def test_init_from_code_declares_groups_as_roles(project, ptm):
    (project / "src").mkdir()
    (project / "src" / "app.py").write_text(APP)
    r = ptm("init", "--from-code", "src")
    assert r.code == 0, r.err
    assert "Created" in r.err and "Review it" in r.err
    m = load_manifest(project / "ptm.toml")
    ids = [x.id for x in m.models]
    assert ids == ["org/a", "org/b", "org/c", "org/undeclared", "org/also-undeclared"]
    assert m.get("org/a").role == m.get("org/b").role == "transformers-models"
    assert m.role_default("transformers-models") == "org/a"
    assert m.get("org/c").revision == "v1" and m.get("org/undeclared").role is None
    text = (project / "ptm.toml").read_text()
    assert "# dynamic load at src/app.py:16" in text or "# dynamic load at src" in text
    r = ptm("init", "--from-code", "src")
    assert r.code == 3 and "already exists" in r.err


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory):
    """A committed snapshot of this checkout (working tree included), as `pre-commit try-repo` makes."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=root, capture_output=True,
                           text=True, check=True).stdout.split()
    dest = tmp_path_factory.mktemp("ptmlock-hook-repo")
    for name in files:
        src = os.path.join(root, name)
        if not os.path.isfile(src) or name.startswith(("tests/", "benchmarks/", "examples/")):
            continue
        os.makedirs(os.path.join(dest, os.path.dirname(name)), exist_ok=True)
        with open(src, "rb") as a, open(os.path.join(dest, name), "wb") as b:
            b.write(a.read())
    _git(dest, "init", "-q")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-qm", "snapshot")
    return dest, _git(dest, "rev-parse", "HEAD").strip()


def _git(cwd, *args):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, env=env).stdout


def test_pre_commit_hook_refuses_undeclared_model_then_passes(hub, project, ptm, hook_repo, tmp_path):
    repo_dir, rev = hook_repo
    _git(project, "init", "-q")
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {repo_dir}\n  rev: {rev}\n  hooks:\n  - id: ptmlock-check\n  - id: ptmlock-lock-check\n")
    assert ptm("init").code == 0
    (project / "train.py").write_text('from transformers import AutoModel\nAutoModel.from_pretrained("org/new")\n')
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "PRE_COMMIT_COLOR": "never"}
    hooks = subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=project, env=env,
                           capture_output=True, text=True)
    assert hooks.returncode == 0, hooks.stdout + hooks.stderr
    assert ptm("lock").code == 0
    _git(project, "add", "-A")
    commit = subprocess.run(["git", "commit", "-m", "train"], cwd=project, env={**env, **_ident()},
                            capture_output=True, text=True)
    assert commit.returncode != 0, commit.stdout + commit.stderr
    assert "train.py:2:1: PTM002 'org/new' is loaded here" in commit.stdout + commit.stderr, commit.stderr
    assert subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True).returncode != 0

    hub.commit("org/new", tiny_repo_files())
    assert ptm("add", "org/new").code == 0
    _git(project, "add", "-A")
    commit = subprocess.run(["git", "commit", "-m", "train"], cwd=project, env={**env, **_ident()},
                            capture_output=True, text=True)
    assert commit.returncode == 0, commit.stdout + commit.stderr
    hook_output = commit.stdout + commit.stderr
    assert re.search(r"ptmlock check \(declared and pinned model loads\)\.+Passed", hook_output), hook_output
    assert re.search(r"ptmlock lock --check \(ptm.lock is fresh\)\.+Passed", hook_output), hook_output
    assert _git(project, "ls-files").split() == [".pre-commit-config.yaml", "ptm.lock", "ptm.toml", "train.py"]


def test_pre_commit_try_repo_lock_check_hook(project, ptm, hook_repo, tmp_path):
    repo_dir, _ = hook_repo
    _git(project, "init", "-q")
    write_manifest(project, {"org/a": {}})
    _git(project, "add", "-A")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "PRE_COMMIT_COLOR": "never"}
    r = subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(repo_dir), "ptmlock-lock-check"],
                       cwd=project, env=env, capture_output=True, text=True)
    assert r.returncode == 1, r.stderr
    assert "ptm.lock does not exist: no model is pinned yet. Run `ptmlock lock` to create it." in r.stdout, r.stderr


def _ident():
    return {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com"}


# --- issue 17, items 2 and 3: the published snippet and the hooks, through the real pre-commit ----


def _readme_snippet() -> str:
    """The pre-commit configuration exactly as README.md prints it."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
    m = re.search(r"```yaml\n(repos:\n  - repo: https://github\.com/<you>/ptmlock.*?)```", readme, re.S)
    assert m is not None, "the README's pre-commit snippet is gone"
    return m.group(1)


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory):
    """One pre-commit store for this module's hook tests, so the hook's venv is built once."""
    return str(tmp_path_factory.mktemp("pre-commit-home"))


def test_readme_pre_commit_snippet_works_as_printed(project, ptm, hook_repo, pre_commit_home):
    repo_dir, _ = hook_repo
    _git(repo_dir, "branch", "-f", "main")  # the published repository's default branch
    snippet = _readme_snippet()
    assert "rev: main" in snippet and "pre-commit autoupdate --freeze" in snippet
    # only the placeholder the reader must fill in is replaced: everything else is as printed
    (project / ".pre-commit-config.yaml").write_text(snippet.replace("https://github.com/<you>/ptmlock", str(repo_dir)))
    _git(project, "init", "-q")
    assert ptm("init").code == 0 and ptm("lock").code == 0
    _git(project, "add", "-A")
    env = {**os.environ, "PRE_COMMIT_HOME": pre_commit_home, "PRE_COMMIT_COLOR": "never"}
    r = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"], cwd=project, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"ptmlock lock --check \(ptm.lock is fresh\)\.+Passed", r.stdout), (r.stdout, r.stderr)
    r = subprocess.run([sys.executable, "-m", "pre_commit", "autoupdate", "--freeze"], cwd=project, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    head = _git(repo_dir, "rev-parse", "HEAD").strip()
    assert f"rev: {head}" in (project / ".pre-commit-config.yaml").read_text()


def test_check_hook_runs_when_only_the_manifest_changes(hub, project, ptm, hook_repo, pre_commit_home):
    repo_dir, rev = hook_repo
    hub.commit("acme/labels", tiny_repo_files())
    hub.commit("acme/text", tiny_repo_files())
    _git(project, "init", "-q")
    (project / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {repo_dir}\n  rev: {rev}\n  hooks:\n  - id: ptmlock-check\n  - id: ptmlock-lock-check\n")
    assert ptm("init").code == 0
    assert ptm("add", "acme/labels").code == 0 and ptm("add", "acme/text").code == 0
    (project / "app.py").write_text('from transformers import AutoModel\nAutoModel.from_pretrained("acme/labels")\n')
    env = {**os.environ, "PRE_COMMIT_HOME": pre_commit_home, "PRE_COMMIT_COLOR": "never", **_ident()}
    assert subprocess.run([sys.executable, "-m", "pre_commit", "install"], cwd=project, env=env,
                          capture_output=True).returncode == 0
    _git(project, "add", "-A")
    first = subprocess.run(["git", "commit", "-m", "app"], cwd=project, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout + first.stderr

    r = ptm("remove", "acme/labels")
    assert r.code == 0
    assert ("warning: the code still loads acme/labels (app.py:2:1); `ptmlock check` will report it (PTM002) "
            "until that code changes or `ptmlock add acme/labels` declares it again.") in r.err
    _git(project, "add", "ptm.toml", "ptm.lock")  # no Python file staged
    commit = subprocess.run(["git", "commit", "-m", "drop labels"], cwd=project, env=env, capture_output=True,
                            text=True)
    out = commit.stdout + commit.stderr
    assert commit.returncode != 0, (out, commit.stderr)
    assert "app.py:2:1: PTM002 'acme/labels' is loaded here" in out
    assert re.search(r"ptmlock check \(declared and pinned model loads\)\.+Failed", out), out
    assert _git(project, "log", "--format=%s").split("\n")[0] == "app"  # the broken state was not committed


def test_check_agrees_with_the_guard_on_library_defaults(hub, project, ptm):
    # issue 21: a model-specific class with no revision is declared (the guard loads the locked tag);
    # revision="main" written out contradicts the tag, and the fix never pins `@main`
    _locked_project(hub, project, ptm)
    (project / "app.py").write_text(textwrap.dedent('''\
        from transformers import BertModel, WhisperConfig
        a = BertModel.from_pretrained("org/c")
        b = WhisperConfig.from_pretrained("org/c", revision="main")
        '''))
    r = ptm("check", "app.py")
    assert r.code == 1
    assert r.out.splitlines() == [
        f"app.py:3:5: PTM003 revision 'main' of 'org/c' contradicts ptm.lock (ptm.lock pins "
        f"{hub.resolve('org/c', 'v1')[:12]}); drop the revision argument"]
