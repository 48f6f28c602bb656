"""Issue 24, "Messages": each message a newcomer met, through the real CLI (in-process with
`ptm`, or as a subprocess where the shell, the environment or the Python API matters). Ctrl-C
during sync is in test_cli_sync.py, PTM001's position in gate/test_check.py, the `*` of `list`
in test_cli_lock.py and test_cli_roles.py."""
from __future__ import annotations

import json
import os
import struct
import subprocess

import pytest

from lockhelpers import PY, tiny_repo_files, write_manifest


def _sub(cwd, *args, env=None, timeout=120):
    return subprocess.run([PY, "-m", "ptmlock", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


@pytest.mark.parametrize(("typed", "meant"), [("re", "remove"), ("instal", "sync"), ("lst", "list"), ("tre", "tree"),
                                              ("rol", "role")])
def test_a_mistyped_verb_suggests_the_verb_it_begins(project, ptm, typed, meant):
    r = ptm(typed)
    assert r.code == 2, r.err
    assert f"Error: No such command '{typed}'. Did you mean `ptmlock {meant}`?" in r.err, r.err


def test_completion_after_an_unknown_verb_prints_no_error(project):
    for words in ("ptmlock nope ", "ptmlock nope --"):
        r = subprocess.run([PY, "-m", "ptmlock"], cwd=project, capture_output=True, text=True, env={
            **os.environ, "COMP_WORDS": words, "COMP_CWORD": "2", "_PTMLOCK_COMPLETE": "bash_complete"})
        assert r.returncode == 0, r.stderr
        assert r.stderr == "" and r.stdout.strip() == "", (words, r.stdout, r.stderr)
    r = subprocess.run([PY, "-m", "ptmlock"], cwd=project, capture_output=True, text=True, env={
        **os.environ, "COMP_WORDS": "ptmlock sync --", "COMP_CWORD": "2", "_PTMLOCK_COMPLETE": "bash_complete"})
    assert "plain,--model" in r.stdout.splitlines(), r.stderr  # a known verb still completes


def test_sync_of_a_mistyped_model_suggests_the_locked_one_not_adding_the_typo(hub, project, ptm):
    hub.commit("org/tiny-bert", tiny_repo_files())
    write_manifest(project, {"org/tiny-bert": {}})
    assert ptm("lock").code == 0
    r = ptm("sync", "--model", "org/tiny-bret")
    assert r.code == 3, r.err
    assert r.err == ("error: 'org/tiny-bret' is not in ptm.lock (locked: org/tiny-bert). Did you mean "
                     "'org/tiny-bert'? Run `ptmlock sync --model org/tiny-bert`.\n"), r.err
    assert "ptmlock add org/tiny-bret" not in r.err


def test_select_of_a_mistyped_role_suggests_the_role(hub, project, ptm):
    hub.commit("org/a", tiny_repo_files())
    write_manifest(project, {"org/a": {"role": "text-encoder"}})
    assert ptm("lock").code == 0
    r = subprocess.run([PY, "-c", "import ptmlock\ntry:\n    ptmlock.select('text-encodr')\n"
                                  "except Exception as e:\n    print(e)\n"], cwd=project, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ("No role 'text-encodr' in the project (roles: text-encoder). Did you mean "
                        "ptmlock.select('text-encoder')?\n"), r.stderr
    assert "role = 'text-encodr'" not in r.stdout, r.stderr


def test_add_no_lock_of_a_model_the_fresh_lock_pins_says_where_it_is_locked(hub, project, ptm):
    sha = hub.commit("org/tiny", tiny_repo_files())
    assert ptm("init").code == 0
    assert ptm("add", "org/tiny").code == 0
    r = ptm("add", f"{hub.endpoint}/org/tiny", "--no-lock")
    assert r.code == 0, r.err
    assert r.err.endswith(f"org/tiny is already declared in ptm.toml as asked; nothing changed, locked at "
                          f"{sha[:12]}.\n"), r.err
    assert "not locked" not in r.err


def test_init_in_a_subfolder_of_a_project_says_it_shadows_the_parent(project, ptm):
    assert ptm("init").code == 0
    sub = project / "service"
    sub.mkdir()
    os.chdir(sub)
    r = ptm("init")
    assert r.code == 0, r.err
    assert r.err.startswith(f"Created {sub / 'ptm.toml'}."), r.err
    assert (f"warning: {project / 'ptm.toml'} already declares a project above this folder; the new ptm.toml "
            f"shadows it for every ptmlock command run in {sub} and below.") in r.err, r.err
    other = project.parent / "elsewhere"
    other.mkdir()
    os.chdir(other)
    r = ptm("init")
    assert r.code == 0 and "warning" not in r.err, r.err  # no project above: nothing to say


def test_an_unquoted_string_in_ptm_toml_says_it_needs_quotes(project, ptm):
    (project / "ptm.toml").write_text('[project]\nname = "x"\n\n[models."org/a"]\nrole = speech\n')
    r = ptm("lock")
    assert r.code == 3, r.err
    assert r.err == (f"error: {project / 'ptm.toml'}:5:8: TOML syntax error: Unexpected character: 's' (a string "
                     'needs quotes: role = "speech"). Fix the syntax and run the command again.\n'), r.err


def test_check_points_ptm001_at_the_first_model_when_the_lock_is_missing(project, ptm):
    write_manifest(project, {"org/a": {}})
    line = (project / "ptm.toml").read_text().splitlines().index('[models."org/a"]') + 1
    r = ptm("check")
    assert r.code == 1, r.err
    assert r.out.startswith(f"ptm.toml:{line}:1: PTM001 ptm.lock does not exist"), r.out


def test_a_refused_connection_names_no_timeout_setting(project):
    write_manifest(project, {"org/a": {}})
    r = _sub(project, "lock", env={"HF_ENDPOINT": "http://127.0.0.1:9"})
    assert r.returncode == 4, r.stderr
    assert "the connection was refused, nothing is listening there" in r.stderr, r.stderr
    assert "PTMLOCK_HUB_TIMEOUT" not in r.stderr and "PTMLOCK_STALL_TIMEOUT" not in r.stderr, r.stderr


def test_audit_deep_on_a_corrupt_safetensors_does_not_advise_safetensors(hub, project, ptm):
    from huggingface_hub import hf_hub_download

    corrupt = struct.pack("<Q", 1 << 60) + b"{}"  # a header length past the end
    hub.commit("org/m", {"config.json": b"{}", "model.safetensors": corrupt})
    write_manifest(project, {"org/m": {}})
    assert ptm("lock").code == 0
    hf_hub_download("org/m", "model.safetensors", revision=hub.resolve("org/m"))
    r = ptm("audit", "--deep", "--json")
    assert r.code == 1, r.err
    (finding,) = json.loads(r.out)["findings"]
    # issue 23 gave a header the safetensors library refuses its own finding
    assert finding["rule"] == "safetensors-invalid", finding
    assert "whose weights are .safetensors" not in finding["fix"], finding
    assert finding["fix"] == "Re-download it; if it stays invalid, report the repository.", finding
    assert "The safetensors library refuses it" in finding["risk"], finding


def test_doctor_names_the_adapter_of_each_torch_line(project):
    r = _sub(project, "doctor", "--no-probe")
    # one line per adapter, named first (issue 21): torch's two adapters are told apart
    torch = [line for line in r.stdout.splitlines() if ": torch " in line]
    assert len(torch) == 2, r.stdout + r.stderr
    assert torch[0].startswith("  torch_hub: torch ") and torch[1].startswith("  torch_load: torch "), r.stdout + r.stderr


def test_every_jobs_option_takes_1_to_256(project, ptm):
    from ptmlock.cli.base import cli

    verbs = sorted(name for name, cmd in cli.commands.items() if any(p.name == "jobs" for p in cmd.params))
    assert {"lock", "sync", "verify", "scan", "publish", "outdated"} <= set(verbs)
    for verb in verbs:
        r = ptm(verb, "-j", "257", *(["oci://registry.example/m"] if verb == "publish" else []))
        assert r.code == 2 and "257 is not from 1 to 256." in r.err, (verb, r.err)
        assert "1-256" in ptm(verb, "--help").out, verb
