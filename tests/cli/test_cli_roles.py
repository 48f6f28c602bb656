"""Roles get a default from the command line (issue 24, item 5): `add --role R --default`,
`ptmlock role R --default M`; `add` warns once when a role gains a second member without one."""
from __future__ import annotations

from lockhelpers import read_lock, tiny_repo_files
from ptmlock.manifest.parse import load_manifest

WARNING = ("warning: role 'text' has 2 models and no default; `ptmlock role text --default org/a` sets one "
           "(until then ptmlock.select('text') needs PTMLOCK_ROLE_TEXT).\n")


def _two_models(hub, project, ptm):
    for repo in ("org/a", "org/b", "org/c"):
        hub.commit(repo, tiny_repo_files())
    assert ptm("init").code == 0
    r = ptm("add", "org/a", "--role", "text")
    assert r.code == 0 and "warning" not in r.err, r.err  # one member: nothing to choose
    return ptm("add", "org/b", "--role", "text")


def test_add_warns_once_when_a_role_gains_a_second_member_without_a_default(hub, project, ptm):
    r = _two_models(hub, project, ptm)
    assert r.code == 0, r.err
    assert r.err.startswith("Added org/b to ptm.toml, locked at ") and r.err.endswith(WARNING), r.err
    assert r.err.count("no default") == 1
    r = ptm("add", "org/c", "--role", "text")  # a third member: lock/list/tree keep saying it, add not again
    assert r.code == 0 and "warning" not in r.err, r.err


def test_role_default_sets_the_default_without_touching_the_lock(hub, project, ptm):
    assert _two_models(hub, project, ptm).code == 0
    lock_before = (project / "ptm.lock").read_bytes()
    r = ptm("role", "text", "--default", "ORG/B")
    assert r.code == 0, r.err
    assert r.err == "org/b is the default of role 'text' in ptm.toml. ptm.lock is unaffected.\n"
    manifest = load_manifest(project / "ptm.toml")
    assert manifest.role_default("text") == "org/b"
    assert (project / "ptm.lock").read_bytes() == lock_before
    for verb in ("lock", "list", "tree"):
        r = ptm(verb)
        assert r.code == 0 and "warning" not in r.err, (verb, r.err)
    assert ptm("lock", "--check").code == 0
    r = ptm("role", "text")
    assert r.code == 0 and r.out == "text (interchangeable, 2 models; * = default)\n  org/a\n* org/b\n", r.out + r.err
    r = ptm("role", "text", "--default", "org/a")
    assert r.code == 0 and "(was org/b)" in r.err, r.err
    assert load_manifest(project / "ptm.toml").role_default("text") == "org/a"


def test_add_with_default_sets_the_default_of_its_role(hub, project, ptm):
    assert _two_models(hub, project, ptm).code == 0
    r = ptm("add", "org/c", "--role", "text", "--default")
    assert r.code == 0, r.err
    assert "org/c is the default of role 'text'." in r.err and "warning" not in r.err, r.err
    assert load_manifest(project / "ptm.toml").role_default("text") == "org/c"
    assert {m["id"] for m in read_lock(project)["model"]} == {"org/a", "org/b", "org/c"}


def test_role_errors_name_the_role_or_the_members(hub, project, ptm):
    assert _two_models(hub, project, ptm).code == 0
    before = (project / "ptm.toml").read_text()
    r = ptm("role", "txt", "--default", "org/a")
    assert r.code == 3 and r.err == ("error: No role 'txt' in ptm.toml. Did you mean 'text'? (roles: text). "
                                     "`ptmlock add MODEL --role ROLE` puts a model in a role.\n"), r.err
    r = ptm("role", "text", "--default", "org/c")
    assert r.code == 3 and "org/c is not a member of role 'text' (members: org/a, org/b)" in r.err, r.err
    assert "`ptmlock add org/c --role text`" in r.err
    r = ptm("add", "org/c", "--default")
    assert r.code == 2 and "--default needs --role ROLE" in r.err, r.err
    assert (project / "ptm.toml").read_text() == before
