"""The guard never breaks the program it guards (issue 13): an unlisted transformers load from
every kind of caller Python has, in warn and strict mode.

Each case is a real program in a fresh interpreter (or a real Jupyter kernel) loading a config
with real transformers from the local hub. In warn mode the warning appears exactly once and
names a useful location, the program's own output is intact and its exit status is its own; in
strict mode the program catches `GuardError` and carries on.
"""
from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import textwrap
import zipapp
from pathlib import Path

import pytest

from lockhelpers import tiny_repo_files
from tinymodels import write_project

# torchfree: AutoConfig needs transformers only; the IPython and Jupyter callers need the test-ml extra
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.torchfree]

# The load is on line 3 (line 1 of the `try` statement when typed into a REPL).
BODY = """\
import ptmlock.enforce
from transformers import AutoConfig
try: config = AutoConfig.from_pretrained("org/other")
except ptmlock.enforce.GuardError as e: print("refused:", "org/other" in str(e))
else: print("loaded:", config.hidden_size)

print("done")
"""
EXIT = "raise SystemExit(7)\n"
NOT_DECLARED = "'org/other' is not declared in ptm.toml"


@pytest.fixture
def caller_project(hub, project):
    hub.commit("org/m", tiny_repo_files("v1"))
    hub.commit("org/other", tiny_repo_files("other"))
    write_project(project, {"org/m": {}})
    return project


def _env(mode: str) -> dict[str, str]:
    return {**os.environ, "PTMLOCK_MODE": mode, "PYTHONUNBUFFERED": "1"}


def _run(args: list[str], project: Path, mode: str, stdin: str | None = None) -> tuple[int, str, str]:
    proc = subprocess.run(args, cwd=project, env=_env(mode), input=stdin, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def run_file(project: Path, mode: str) -> tuple[int, str, str, str]:
    (project / "app.py").write_text(BODY + EXIT)
    return (*_run([sys.executable, "app.py"], project, mode), f"{project / 'app.py'}:3")


def run_dash_c(project: Path, mode: str) -> tuple[int, str, str, str]:
    return (*_run([sys.executable, "-c", BODY + EXIT], project, mode), "<string>:3")


def run_stdin(project: Path, mode: str) -> tuple[int, str, str, str]:
    return (*_run([sys.executable, "-"], project, mode, stdin=BODY + EXIT), "<stdin>:3")


def run_exec(project: Path, mode: str) -> tuple[int, str, str, str]:
    (project / "app.py").write_text(f"source = {BODY!r}\nexec(source)\n{EXIT}")
    return (*_run([sys.executable, "app.py"], project, mode), f"<string>:3 (in code run from {project / 'app.py'}:2)")


def run_module(project: Path, mode: str) -> tuple[int, str, str, str]:
    (project / "guarded_mod.py").write_text(BODY)
    (project / "app.py").write_text(f"import runpy\nrunpy.run_module('guarded_mod', run_name='__main__')\n{EXIT}")
    return (*_run([sys.executable, "app.py"], project, mode), f"{project / 'guarded_mod.py'}:3")


def run_path(project: Path, mode: str) -> tuple[int, str, str, str]:
    (project / "sub").mkdir(exist_ok=True)
    (project / "sub" / "script.py").write_text(BODY)
    (project / "app.py").write_text(f"import runpy\nrunpy.run_path('sub/script.py')\n{EXIT}")
    return (*_run([sys.executable, "app.py"], project, mode), "sub/script.py:3")


def run_zipapp(project: Path, mode: str) -> tuple[int, str, str, str]:
    source = project / "zipsrc"
    source.mkdir(exist_ok=True)
    (source / "__main__.py").write_text(BODY + EXIT)
    zipapp.create_archive(source, project / "app.pyz")
    return (*_run([sys.executable, "app.pyz"], project, mode), f"{project / 'app.pyz'}/__main__.py:3")


def run_thread(project: Path, mode: str) -> tuple[int, str, str, str]:
    body = textwrap.indent(BODY, "    ")
    (project / "app.py").write_text(f"import threading\ndef work():\n{body}\n"
                                    f"t = threading.Thread(target=work)\nt.start()\nt.join()\n{EXIT}")
    return (*_run([sys.executable, "app.py"], project, mode), f"{project / 'app.py'}:5")


def run_ipython(project: Path, mode: str) -> tuple[int, str, str, str]:
    # IPython answers `sys.exit(n)` inside -c with its own status, so this program just ends (0)
    return (*_run([sys.executable, "-m", "IPython", "--no-banner", "-c", BODY], project, mode), "<ipython-input-1-")


def run_repl(project: Path, mode: str) -> tuple[int, str, str, str]:
    """The interactive interpreter, on a pseudo-terminal (so it prompts and echoes like for a person)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-q", "-i"], stdin=slave, stdout=slave, stderr=slave, cwd=project,
                            env=_env(mode), close_fds=True)
    os.close(slave)
    os.write(master, (BODY + EXIT).encode())
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 300)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    code = proc.wait(timeout=60)
    out = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    return code, out, out, "<stdin>:1"


CALLERS = {
    "file": run_file, "python -c": run_dash_c, "stdin": run_stdin, "repl (pty)": run_repl, "exec(string)": run_exec,
    "runpy.run_module": run_module, "runpy.run_path": run_path, "zipapp": run_zipapp, "thread": run_thread,
    "ipython -c": run_ipython,
}


@pytest.mark.parametrize("kind", [pytest.param(k, marks=[pytest.mark.ml] if "ipython" in k else []) for k in CALLERS])
def test_warn_mode_warns_once_with_location_and_leaves_the_program_alone(caller_project, kind):
    code, out, err, where = CALLERS[kind](caller_project, "warn")
    detail = f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
    assert code == (0 if kind == "ipython -c" else 7), detail
    assert "\nloaded: 32\n" in "\n" + out and "\ndone\n" in out, detail
    assert err.count(NOT_DECLARED) == 1, detail
    assert f"[ptmlock guard, warn mode: load at {where}" in err, detail
    assert "Traceback" not in err, detail


@pytest.mark.parametrize("kind", [pytest.param(k, marks=[pytest.mark.ml] if "ipython" in k else []) for k in CALLERS])
def test_strict_mode_raises_only_guard_error_and_the_program_carries_on(caller_project, hub, kind):
    code, out, err, where = CALLERS[kind](caller_project, "strict")
    detail = f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
    assert code == (0 if kind == "ipython -c" else 7), detail
    assert "\nrefused: True\n" in "\n" + out and "\ndone\n" in out and "loaded: 32" not in out, detail
    assert "Traceback" not in err and "PtmlockWarning" not in err, detail
    assert hub.count(path_contains="org/other") == 0


@pytest.mark.ml
@pytest.mark.parametrize("mode", ["warn", "strict"])
def test_notebook_in_a_real_jupyter_kernel(caller_project, hub, monkeypatch, mode):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("PTMLOCK_MODE", mode)
    head, _, tail = BODY.partition("try:")
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(head), nbformat.v4.new_code_cell("try:" + tail)])
    path = caller_project / "app.ipynb"
    nbformat.write(notebook, path)
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(caller_project)}}).execute()
    streams = [o for o in notebook.cells[1].outputs if o.output_type == "stream"]
    out = "".join(o.text for o in streams if o.name == "stdout")
    err = "".join(o.text for o in streams if o.name == "stderr")
    errors = [o for cell in notebook.cells for o in cell.outputs if o.output_type == "error"]
    assert not errors
    if mode == "warn":
        assert "loaded: 32" in out and "done" in out
        assert err.count(NOT_DECLARED) == 1 and "load at " in err, err
    else:
        assert "refused: True" in out and "done" in out and "PtmlockWarning" not in err
        assert hub.count(path_contains="org/other") == 0


ODD = """
import json
import ptmlock.enforce
from huggingface_hub import hf_hub_download

class Odd:  # a revision the guard cannot even print: its own check fails
    def __str__(self):
        raise RuntimeError("no str for you")

out = []
for _ in range(2):
    try:
        hf_hub_download("org/m", "config.json", revision=Odd())
        out.append("loaded")
    except ptmlock.enforce.GuardError as e:
        out.append("guard: " + str(e))
    except Exception as e:  # the library's own answer to an odd revision
        out.append("library: " + type(e).__name__)
print(json.dumps(out))
"""


def test_a_failure_inside_the_guard_is_one_warning_in_warn_mode_and_guard_error_in_strict(caller_project):
    from tinymodels import last_json, run_app

    warn = run_app(caller_project, ODD, env={"PTMLOCK_MODE": "warn"})
    assert warn.returncode == 0, warn.stderr
    assert all(x.startswith("library: ") for x in last_json(warn)), warn.stderr  # the load went ahead, unchecked
    assert warn.stderr.count("ptmlock runtime guard failed while checking 'org/m' (RuntimeError: no str for you): "
                             "this load is not checked.") == 1, warn.stderr
    assert "app.py:13" in warn.stderr and "Traceback" not in warn.stderr, warn.stderr
    strict = run_app(caller_project, ODD, env={"PTMLOCK_MODE": "strict"})
    assert strict.returncode == 0, strict.stderr
    assert all(x.startswith("guard: ptmlock runtime guard (strict) failed while checking 'org/m' (RuntimeError: "
                            "no str for you); the load is refused.") for x in last_json(strict)), strict.stderr


def test_a_report_that_cannot_be_written_costs_one_warning_not_the_program(caller_project):
    from tinymodels import last_json, run_app

    proc = run_app(caller_project, """
        import json
        import ptmlock.enforce
        from huggingface_hub import hf_hub_download
        paths = [hf_hub_download("org/m", "config.json"), hf_hub_download("org/other", "config.json")]
        print(json.dumps([len(paths)]))
    """, env={"PTMLOCK_REPORT": str(caller_project)})  # a directory: no record can be appended
    assert proc.returncode == 0 and last_json(proc) == [2], proc.stderr
    assert proc.stderr.count(f"ptmlock runtime guard cannot write its report {caller_project}") == 1, proc.stderr
    assert proc.stderr.count("'org/other' is not declared in ptm.toml") == 1, proc.stderr
