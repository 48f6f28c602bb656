"""Issue 17: the points where a newcomer stumbled, each through the real CLI (in-process with
`ptm`, or as a subprocess where the exit code, timing or the shell matters)."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from lockhelpers import PY, model_entry, read_lock, tiny_repo_files, write_manifest


def _sub(cwd, *args, env=None, timeout=120):
    return subprocess.run([PY, "-m", "ptmlock", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


# --- item 5: settings from the environment fail at once -----------------------------------------


def test_endpoint_without_scheme_fails_at_once_with_an_example(project):
    write_manifest(project, {"org/tiny": {}})
    t0 = time.monotonic()
    r = _sub(project, "lock", env={"HF_ENDPOINT": "127.0.0.1:8765"})
    assert time.monotonic() - t0 < 10  # not 60 s of retries
    assert r.returncode == 2, r.stderr
    assert r.stderr == ("error: HF_ENDPOINT='127.0.0.1:8765' is not a valid URL: it has no scheme. A valid one looks "
                        "like HF_ENDPOINT=http://127.0.0.1:8765 (http:// or https://, a host, an optional port).\n"), r.stderr
    assert not (project / "ptm.lock").exists()


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("HF_ENDPOINT", "ftp://mirror.example", "its scheme 'ftp' is not http or https"),
    ("HF_ENDPOINT", "http://", "it has no host"),
    ("HF_ENDPOINT", "http://127.0.0.1:port", "it has a malformed host or port"),
    ("PTMLOCK_TORCHHUB_URL", "github.com", "PTMLOCK_TORCHHUB_URL='github.com' is not a valid URL: it has no scheme"),
    ("PTMLOCK_HUB_TIMEOUT", "ten", "PTMLOCK_HUB_TIMEOUT='ten' is not a number of seconds: use a positive number, "
                                   "e.g. PTMLOCK_HUB_TIMEOUT=10 (the default)."),
    ("PTMLOCK_HUB_DEADLINE", "0", "PTMLOCK_HUB_DEADLINE='0' is not a number of seconds"),
    ("PTMLOCK_JOBS", "1000", "PTMLOCK_JOBS='1000' is not a whole number from 1 to 256: use e.g. PTMLOCK_JOBS=32"),
    ("PTMLOCK_MODE", "loud", "PTMLOCK_MODE='loud' is not one of off, warn, strict: use e.g. PTMLOCK_MODE=strict."),
])
def test_every_environment_setting_is_checked_the_same_way(project, ptm, monkeypatch, name, value, expected):
    write_manifest(project, {})
    monkeypatch.setenv(name, value)
    r = ptm("list")
    assert r.code == 2
    assert r.err.startswith("error: ") and expected in r.err and r.err.count("\n") == 1


def test_valid_settings_and_empty_values_are_accepted(hub, project, ptm, monkeypatch):
    hub.commit("org/tiny", tiny_repo_files())
    write_manifest(project, {"org/tiny": {}})
    monkeypatch.setenv("HF_ENDPOINT", hub.endpoint + "/")  # a trailing slash is fine
    monkeypatch.setenv("PTMLOCK_HUB_TIMEOUT", "2.5")
    monkeypatch.setenv("PTMLOCK_JOBS", "")  # empty means the default
    monkeypatch.setenv("PTMLOCK_MODE", "Strict")
    r = ptm("lock")
    assert r.code == 0, r.err


def test_guard_reports_a_bad_mode_with_the_same_message(project):
    r = subprocess.run([PY, "-c", "import ptmlock.enforce"], cwd=project, capture_output=True, text=True,
                       env={**os.environ, "PTMLOCK_MODE": "loud"}, timeout=60)
    assert r.returncode != 0, r.stderr
    assert "GuardError: PTMLOCK_MODE='loud' is not one of off, warn, strict" in r.stderr, r.stderr


# --- item 6: a failed add, and pasted Hub URLs ----------------------------------------------------


def test_failed_add_does_not_suggest_removing_what_it_never_wrote(hub, project, ptm):
    write_manifest(project, {})
    before = (project / "ptm.toml").read_text()
    r = ptm("add", "org/missing")
    assert r.code == 4
    assert "ptmlock remove" not in r.err
    assert "(`ptmlock add` stopped: nothing was added to ptm.toml and ptm.lock is unchanged.)" in r.err
    assert (project / "ptm.toml").read_text() == before and not (project / "ptm.lock").exists()


@pytest.mark.parametrize(("url", "declared", "revision"), [
    ("https://huggingface.co/org/tiny", "org/tiny", None),
    ("https://huggingface.co/org/tiny/tree/v1.0", "org/tiny", "v1.0"),
    ("https://huggingface.co/org/tiny/blob/main/config.json", "org/tiny", "main"),
    ("https://huggingface.co/org/tiny/resolve/v1.0/model.safetensors?download=true", "org/tiny", "v1.0"),
    ("https://hf.co/org/tiny/tree/main/sub/dir", "org/tiny", "main"),
])
def test_add_turns_a_pasted_hub_url_into_id_and_revision(hub, project, ptm, url, declared, revision):
    sha = hub.commit("org/tiny", tiny_repo_files())
    hub.create_tag("org/tiny", "v1.0", revision=sha)
    write_manifest(project, {})
    r = ptm("add", url)
    assert r.code == 0, r.err
    rev = f"@{revision}" if revision else ""
    assert f"is a Hugging Face page: declaring the repo {declared}{rev}." in r.err
    entry = model_entry(read_lock(project), declared)
    assert entry["hub"] == "huggingface" and entry["commit"] == sha and entry.get("requested") == revision
    assert "hub = " not in (project / "ptm.toml").read_text()


def test_add_recognises_a_page_url_of_the_configured_endpoint(hub, project, ptm):
    sha = hub.commit("org/tiny", tiny_repo_files())
    write_manifest(project, {})
    r = ptm("add", f"{hub.endpoint}/org/tiny/tree/{sha}")
    assert r.code == 0, r.err
    assert model_entry(read_lock(project), "org/tiny")["requested"] == sha


# --- item 7: messages and help ----------------------------------------------------------------------


def test_outdated_without_a_lock_says_what_to_do(project, ptm):
    write_manifest(project, {"org/tiny": {}})
    r = ptm("outdated")
    assert r.code == 1  # the one lock-state rule: missing is "a check said no" (docs/exit-codes.md)
    assert "no pins to outdated" not in r.err
    assert "ptm.lock does not exist: no model is pinned yet. Run `ptmlock lock` to create it, then `ptmlock outdated`." in r.err


def test_init_from_dot_names_the_folder(project, ptm):
    (project / "app.py").write_text('from transformers import AutoModel\nAutoModel.from_pretrained("org/a")\n')
    r = ptm("init", "--from-code", ".")
    assert r.code == 0, r.err
    assert f"found in {project.resolve()}. Review it, then run `ptmlock lock`." in r.err
    assert ".. Review" not in r.err


def test_jobs_help_shows_default_and_range_once(project):
    r = _sub(project, "lock", "--help")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())  # help is wrapped to the terminal width
    assert "-j, --jobs N Hub requests in flight at once, 1-256 (default: 32, or PTMLOCK_JOBS)." in text
    assert "(32)" not in text and "1<=x<=256" not in text
    assert "1<=x<=256" not in _sub(project, "sync", "--help").stdout


def test_list_shows_a_model_without_role_once(hub, project, ptm):
    hub.commit("org/a", tiny_repo_files())
    hub.commit("org/solo", tiny_repo_files())
    write_manifest(project, {"org/a": {"role": "text"}, "org/solo": {}})
    assert ptm("lock").code == 0
    lines = ptm("list").out.splitlines()
    assert lines[0] == "text (single)"
    assert lines[1].startswith("  * org/a  default branch @ ")
    assert len(lines) == 3 and lines[2].startswith("org/solo  default branch @ ")
    assert sum("org/solo" in line for line in lines) == 1


def test_sync_model_typo_gets_did_you_mean(hub, project, ptm):
    hub.commit("acme/tiny-bert", tiny_repo_files())
    write_manifest(project, {"acme/tiny-bert": {"role": "text"}})
    assert ptm("lock").code == 0
    r = ptm("sync", "--model", "acme/tiny-brt")
    assert r.code == 3 and "Did you mean 'acme/tiny-bert'?" in r.err
    r = ptm("sync", "--role", "txt")
    assert r.code == 3 and "Did you mean 'text'?" in r.err


# --- item 8: --manifest after the verb -------------------------------------------------------------


def test_manifest_option_is_accepted_after_every_verb(hub, project, ptm, tmp_path):
    hub.commit("org/tiny", tiny_repo_files())
    other = tmp_path / "elsewhere"
    other.mkdir()
    manifest = write_manifest(other, {"org/tiny": {"role": "text"}})
    r = ptm("lock", "--manifest", str(manifest))
    assert r.code == 0, r.err
    assert (other / "ptm.lock").exists() and not (project / "ptm.lock").exists()
    r = ptm("list", "--manifest", str(manifest))
    assert r.code == 0 and "org/tiny" in r.out
    assert ptm("--manifest", str(manifest), "lock", "--check").code == 0
    assert ptm("verify", "--manifest", str(manifest)).code == 1  # nothing synced yet
    r = ptm("check", "--manifest", str(manifest))
    assert r.code == 0, r.err
    r = ptm("list", "--manifest", str(other / "nope.toml"))
    assert r.code == 3 and "nope.toml: file not found" in r.err


# --- item 9: check says what it checked ------------------------------------------------------------


def test_check_prints_a_summary_unless_quiet(hub, project, ptm):
    hub.commit("org/tiny", tiny_repo_files())
    write_manifest(project, {"org/tiny": {}})
    assert ptm("lock").code == 0
    (project / "app.py").write_text('from transformers import AutoModel\nAutoModel.from_pretrained("org/tiny")\n'
                                    'AutoModel.from_pretrained(name)\n')
    (project / "util.py").write_text("x = 1\n")
    r = ptm("check")
    assert r.code == 0 and r.out == ""
    assert r.err == "ptmlock check: 2 files, 2 model loads (1 declared), ok.\n"
    r = ptm("check", "--quiet")
    assert r.code == 0 and r.err == "" and r.out == ""
    (project / "app.py").write_text('from transformers import AutoModel\nAutoModel.from_pretrained("org/other")\n')
    r = ptm("check", "-q", "app.py")
    assert r.code == 1 and "PTM002" in r.out and r.err == ""


# --- item 10: add of a declared model says what changed --------------------------------------------


def test_add_of_a_declared_model_says_updated_with_the_change(hub, project, ptm):
    first = hub.commit("org/tiny", tiny_repo_files("v1"))
    hub.commit("org/tiny", tiny_repo_files("v2"))
    write_manifest(project, {"org/tiny": {"revision": "main"}})
    assert ptm("lock").code == 0
    r = ptm("add", f"org/tiny@{first[:7]}")
    assert r.code == 0, r.err
    assert r.err == f"Updated org/tiny: main -> {first[:7]}, locked at {first[:12]}.\n"
    r = ptm("add", f"org/tiny@{first[:7]}")
    assert r.err == f"org/tiny is already declared in ptm.toml as asked; nothing changed, locked at {first[:12]}.\n"
    r = ptm("add", "org/tiny", "--role", "text", "--no-lock")
    assert r.err == ("Updated org/tiny: " + first[:7] + " -> default branch; role none -> text "
                     "(not locked: run `ptmlock lock`).\n")


# --- item 11: a role with several members and no default -------------------------------------------


def test_role_without_default_is_warned_by_lock_list_tree_and_fails_strict_check(hub, project, ptm):
    hub.commit("org/a", tiny_repo_files())
    hub.commit("org/b", tiny_repo_files())
    write_manifest(project, {"org/a": {"role": "text"}, "org/b": {"role": "text"}})
    warning = ("warning: role 'text' has 2 models and no default; `ptmlock role text --default org/a` sets one "
               "(until then ptmlock.select('text') needs PTMLOCK_ROLE_TEXT).\n")
    for verb in ("lock", "list", "tree"):
        r = ptm(verb)
        assert r.code == 0, r.err
        assert r.err.count(warning) == 1 and r.err.count("no default") == 1, (verb, r.err)  # once per command
    assert ptm("lock", "--check").code == 0  # warn policy: a warning, not a failure
    text = (project / "ptm.toml").read_text().replace('name = "t"', 'name = "t"\npolicy = "strict"')
    (project / "ptm.toml").write_text(text)
    assert ptm("lock").code == 0
    r = ptm("lock", "--check")
    assert r.code == 1 and "role 'text' has 2 models and no default" in r.err
    (project / "ptm.toml").write_text(text + '\n[roles.text]\ndefault = "org/b"\n')
    assert ptm("lock").code == 0
    r = ptm("lock", "--check")
    assert r.code == 0 and "warning" not in r.err


# --- item 12: completion and aliases ---------------------------------------------------------------


@pytest.mark.parametrize(("typed", "suggested"), [("install", "sync"), ("i", "sync"), ("upgrade", "update"),
                                                  ("uninstall", "remove"), ("lst", "list"), ("verfy", "verify")])
def test_unknown_verb_gets_a_suggestion(project, typed, suggested):
    r = _sub(project, typed)
    assert r.returncode == 2, r.stderr
    assert f"Error: No such command '{typed}'. Did you mean `ptmlock {suggested}`?" in r.stderr, r.stderr


def test_completion_script_and_model_and_role_values(project):
    write_manifest(project, {"acme/tiny-bert": {"role": "text"}, "acme/tiny-whisper": {"role": "speech"},
                             "other/x": {}})
    for shell in ("bash", "zsh", "fish"):
        r = _sub(project, "completion", shell)
        assert r.returncode == 0 and "_PTMLOCK_COMPLETE" in r.stdout, (shell, r.stderr)

    def complete(words):
        env = {"_PTMLOCK_COMPLETE": "bash_complete", "COMP_WORDS": "ptmlock " + words,
               "COMP_CWORD": str(len(words.split(" ")))}
        r = _sub(project, env=env)
        return [line.split(",", 1)[1] for line in r.stdout.splitlines()]

    assert complete("sync --model acme/") == ["acme/tiny-bert", "acme/tiny-whisper"]
    assert complete("sync --role ") == ["speech", "text"]
    assert complete("remove o") == ["other/x"]
    assert complete("lo") == ["lock"]
    other = project / "sub"
    other.mkdir()
    write_manifest(other, {"zeta/model": {"role": "z"}})
    assert complete("sync --manifest sub/ptm.toml --model ") == ["zeta/model"]
    assert complete("--manifest sub/ptm.toml sync --role ") == ["z"]


# --- item 13: NO_COLOR ----------------------------------------------------------------------------


def test_empty_no_color_keeps_colour_and_a_set_one_disables_it(project):
    import pty

    def stderr_on_a_tty(no_color):
        env = {**os.environ}
        env.pop("NO_COLOR", None)
        if no_color is not None:
            env["NO_COLOR"] = no_color
        leader, follower = pty.openpty()
        proc = subprocess.run([PY, "-m", "ptmlock", "lock"], cwd=project, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=follower, env=env, timeout=60)
        os.close(follower)
        data = b""
        try:
            while chunk := os.read(leader, 4096):
                data += chunk
        except OSError:
            pass
        os.close(leader)
        assert proc.returncode == 3, proc.stderr
        return data.decode()

    assert "\x1b[" in stderr_on_a_tty("")  # empty: colour stays on (no-color.org)
    assert "\x1b[" in stderr_on_a_tty(None)
    assert "\x1b[" not in stderr_on_a_tty("1")


# --- start-up (issue 17, speed): read-only verbs import only what they need -----------------------


def test_version_answers_without_importing_click(project):
    for flag in ("--version", "-V"):
        r = subprocess.run([PY, "-X", "importtime", "-m", "ptmlock", flag], cwd=project, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0 and r.stdout == "ptmlock, version 0.1.0\n", r.stderr
        imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
        assert "ptmlock" in imported and "click" not in imported and "ptmlock.cli" not in imported


def test_lock_check_imports_no_resolver_tempfile_or_difflib(project):
    write_manifest(project, {})
    r = subprocess.run([PY, "-X", "importtime", "-m", "ptmlock", "lock", "--check"], cwd=project,
                       capture_output=True, text=True, timeout=60)
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "ptmlock.project" in imported
    assert not imported & {"ptmlock.resolver", "tempfile", "difflib", "huggingface_hub", "tomlkit"}, imported


def test_startup_benchmark_runs(tmp_path):
    """benchmarks/bench_startup.py end to end, once (the figures need --repeat 20 on an idle machine)."""
    bench = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "benchmarks", "bench_startup.py")
    r = subprocess.run([PY, bench, "--repeat", "1"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for name in ("python -c pass", "ptmlock --version", "ptmlock lock --check", "ptmlock verify", "ptmlock check"):
        assert f"\n{name} " in r.stdout, r.stderr
