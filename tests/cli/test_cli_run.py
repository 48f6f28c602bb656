"""`ptmlock run -- CMD...`: an unmodified program, run under the guard as a real subprocess."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tinymodels import write_project

PY = sys.executable

APP = """
import json, sys
from huggingface_hub import hf_hub_download
repo = sys.argv[1]
tag = json.load(open(hf_hub_download(repo, "config.json")))["tag"]
print(json.dumps({"tag": tag, "argv": sys.argv[1:], "guarded": "ptmlock.enforce" in sys.modules}))
sys.exit(int(sys.argv[2]))
"""


def files(tag: str) -> dict[str, bytes]:
    return {"config.json": json.dumps({"tag": tag}).encode()}


@pytest.fixture
def project(hub, tmp_path):
    p = tmp_path / "proj"
    p.mkdir()
    hub.commit("org/m", files("v1"))
    hub.commit("org/other", files("other"))
    write_project(p, {"org/m": {}})
    hub.commit("org/m", files("v2"))
    (p / "app.py").write_text(APP)
    hub.reset_requests()
    return p


def ptmlock(project, *args, env=None):
    import os

    return subprocess.run([PY, "-m", "ptmlock", *args], cwd=project, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_run_guards_an_unmodified_program_passing_args_and_exit_code(project):
    r = ptmlock(project, "run", "--", PY, "app.py", "org/m", "3", "--flag")
    assert r.returncode == 3, r.stderr
    assert json.loads(r.stdout) == {"tag": "v1", "argv": ["org/m", "3", "--flag"], "guarded": True}, r.stderr


def test_run_without_double_dash_and_unguarded_baseline(project):
    assert json.loads(ptmlock(project, "run", PY, "app.py", "org/m", "0").stdout)["tag"] == "v1"
    plain = subprocess.run([PY, "app.py", "org/m", "0"], cwd=project, capture_output=True, text=True)
    assert json.loads(plain.stdout) == {"tag": "v2", "argv": ["org/m", "0"], "guarded": False}, plain.stderr


def test_run_strict_refuses_an_unlisted_load_with_zero_requests(project, hub):
    r = ptmlock(project, "run", "--mode", "strict", "--", PY, "app.py", "org/other", "0")
    assert r.returncode == 1, r.stderr
    assert "ptmlock.errors.GuardError: ptmlock refused to load 'org/other' (strict mode) at " in r.stderr, r.stderr
    assert hub.count(path_contains="org/other") == 0


def test_run_warn_mode_warns_and_writes_the_report(project, tmp_path):
    report = tmp_path / "loads.jsonl"
    r = ptmlock(project, "run", "--report", str(report), "--", PY, "app.py", "org/other", "0")
    assert r.returncode == 0, r.stderr
    assert "PtmlockWarning: model 'org/other' is not declared in ptm.toml" in r.stderr, r.stderr
    records = [json.loads(line) for line in report.read_text().splitlines()]
    (record,) = [r for r in records if r["event"] == "load"]
    assert record["model"] == "org/other" and record["verdict"] == "unlisted"
    assert record["call_site"] == f"{project / 'app.py'}:5"


def test_run_guards_child_processes_started_elsewhere(project, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (project / "parent.py").write_text(
        "import subprocess, sys\n"
        f"sys.exit(subprocess.run([sys.executable, {str(project / 'app.py')!r}, 'org/m', '0'], "
        f"cwd={str(elsewhere)!r}).returncode)\n")
    r = ptmlock(project, "run", "--", PY, "parent.py")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["tag"] == "v1", r.stderr


def test_run_still_runs_the_sitecustomize_it_shadows(project, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import os\nos.environ['SITECUSTOMIZE_RAN'] = '1'\n")
    (project / "check.py").write_text("import os, sys\nprint(os.environ.get('SITECUSTOMIZE_RAN'), "
                                      "'ptmlock.enforce' in sys.modules)\n")
    r = ptmlock(project, "run", "--", PY, "check.py", env={"PYTHONPATH": str(site)})
    assert r.stdout.split() == ["1", "True"], r.stderr


def test_run_strict_without_a_lock_fails_before_starting(tmp_path):
    marker = tmp_path / "started"
    r = ptmlock(tmp_path, "run", "--mode", "strict", "--", PY, "-c", f"open({str(marker)!r}, 'w')")
    assert r.returncode == 1 and not marker.exists(), r.stderr
    assert r.stderr.startswith("error: `ptmlock run` in strict mode needs a ptm.lock, and none was found"), r.stderr
    assert "Traceback" not in r.stderr, r.stderr


def test_run_unknown_command_exits_127(project):
    r = ptmlock(project, "run", "--", "no-such-command-ptmlock")
    assert r.returncode == 127, r.stderr
    assert r.stderr == "error: Cannot run 'no-such-command-ptmlock': No such file or directory. " \
                       "Check the command after `--`.\n", r.stderr


def test_run_needs_a_command(project):
    r = ptmlock(project, "run")
    assert r.returncode == 2 and "Missing argument 'COMMAND...'" in r.stderr, r.stderr


def test_run_report_has_one_guard_on_line_per_guarded_process_and_isolated_children_are_not(project, tmp_path):
    # docs/guard.md "Which processes are guarded": -I, -E and -S interpreters skip the
    # PYTHONPATH sitecustomize, so they run unguarded; the report shows which processes were guarded.
    report = tmp_path / "loads.jsonl"
    (project / "parent.py").write_text(
        "import subprocess, sys\n"
        "for flags in ([], ['-I'], ['-E']):\n"
        "    subprocess.run([sys.executable, *flags, 'app.py', 'org/m', '0'], check=True)\n"
        "subprocess.run([sys.executable, '-S', '-c', 'import sys; print(\"ptmlock.enforce\" in sys.modules)'], check=True)\n")
    r = ptmlock(project, "run", "--report", str(report), "--", PY, "parent.py")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [json.loads(line)["tag"] for line in lines[:3]] == ["v1", "v2", "v2"]
    assert [json.loads(line)["guarded"] for line in lines[:3]] == [True, False, False]
    assert lines[3] == "False"
    records = [json.loads(line) for line in report.read_text().splitlines()]
    on = [r for r in records if r["event"] == "guard-on"]
    assert [rec["argv"][1:] for rec in on] == [["parent.py"], ["app.py", "org/m", "0"]]
    assert all(rec["lock"] == str(project / "ptm.lock") and rec["executable"] for rec in on)
    assert len({rec["pid"] for rec in on}) == 2
    assert [(rec["model"], rec["verdict"]) for rec in records if rec["event"] == "load"] == [("org/m", "pinned")]
