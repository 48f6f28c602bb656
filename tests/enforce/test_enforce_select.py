"""Roles at run time: `ptmlock.select(role)` and `PTMLOCK_ROLE_<ROLE>` swaps."""
from __future__ import annotations

import json

import pytest

import ptmlock
from ptmlock.errors import EXIT_MANIFEST, LockfileError, RoleError
from tinymodels import last_json, run_app, write_project

pytestmark = pytest.mark.torchfree  # needs no torch: .ci/run also runs it with transformers 4.x

ROLES = """
[roles.text-encoder]
default = "org/bert"
"""


def files(tag: str) -> dict[str, bytes]:
    return {"config.json": json.dumps({"tag": tag}).encode()}


@pytest.fixture
def project(hub, tmp_path, monkeypatch):
    p = tmp_path / "proj"
    p.mkdir()
    shas = {repo: hub.commit(repo, files(repo)) for repo in ("org/bert", "org/roberta", "org/whisper", "org/a", "org/b")}
    write_project(p, {"org/bert": {"role": "text-encoder"}, "org/roberta": {"role": "text-encoder"},
                      "org/whisper": {"role": "speech"}, "org/a": {"role": "pair"}, "org/b": {"role": "pair"}},
                  roles=ROLES)
    for repo in shas:
        hub.commit(repo, files("moved"))
    monkeypatch.chdir(p)
    return p, shas


def test_select_returns_the_default_or_only_member_pinned(project):
    _, shas = project
    assert ptmlock.select("text-encoder") == ("org/bert", shas["org/bert"])
    repo_id, revision = ptmlock.select("speech")
    assert (repo_id, revision) == ("org/whisper", shas["org/whisper"])
    assert ptmlock.select("speech").revision == shas["org/whisper"]


def test_role_env_var_swaps_inside_the_role(project, monkeypatch):
    _, shas = project
    monkeypatch.setenv("PTMLOCK_ROLE_TEXT_ENCODER", "ORG/roberta")
    assert ptmlock.select("text-encoder") == ("org/roberta", shas["org/roberta"])
    monkeypatch.setenv("PTMLOCK_ROLE_PAIR", "org/b")
    assert ptmlock.select("pair").repo_id == "org/b"


def test_role_env_var_outside_the_role_is_refused(project, monkeypatch):
    monkeypatch.setenv("PTMLOCK_ROLE_TEXT_ENCODER", "org/whisper")
    with pytest.raises(RoleError) as e:
        ptmlock.select("text-encoder")
    assert str(e.value) == (
        "PTMLOCK_ROLE_TEXT_ENCODER=org/whisper selects a model outside role 'text-encoder' (members: org/bert, "
        "org/roberta). A swap is only legal inside the role: set PTMLOCK_ROLE_TEXT_ENCODER to one of its members, "
        "or declare the model with `ptmlock add org/whisper --role text-encoder`.")
    assert e.value.exit_code == EXIT_MANIFEST


def test_unknown_role_and_role_without_default(project):
    with pytest.raises(RoleError, match=r"^No role 'vision' in the project \(roles: pair, speech, text-encoder\)"):
        ptmlock.select("vision")
    with pytest.raises(RoleError) as e:
        ptmlock.select("pair")
    assert str(e.value) == ("Role 'pair' has 2 members (org/a, org/b) and no default. Set `default` in [roles.pair] "
                            "of ptm.toml, or choose one with PTMLOCK_ROLE_PAIR=MODEL.")


def test_select_needs_a_fresh_lock(project, tmp_path, monkeypatch):
    p, _ = project
    text = (p / "ptm.toml").read_text().replace('[models."org/bert"]\n', '[models."org/bert"]\nrevision = "dev"\n')
    (p / "ptm.toml").write_text(text)
    with pytest.raises(LockfileError, match="is pinned for revision None but ptm.toml asks for 'dev'"):
        ptmlock.select("text-encoder")
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    with pytest.raises(LockfileError, match=r"^No ptm.lock found"):
        ptmlock.select("text-encoder")


def test_selected_model_loads_under_the_strict_guard(project, hub):
    p, shas = project
    proc = run_app(p, """
        import json, ptmlock, ptmlock.enforce
        from huggingface_hub import hf_hub_download
        repo, rev = ptmlock.select("text-encoder")
        print(json.dumps([repo, json.load(open(hf_hub_download(repo, "config.json", revision=rev)))["tag"]]))
    """, env={"PTMLOCK_MODE": "strict", "PTMLOCK_ROLE_TEXT_ENCODER": "org/roberta"})
    assert last_json(proc) == ["org/roberta", "org/roberta"], proc.stderr
    refused = run_app(p, """
        import ptmlock
        ptmlock.select("text-encoder")
    """, env={"PTMLOCK_ROLE_TEXT_ENCODER": "org/whisper"})
    assert refused.returncode == 1 and "ptmlock.errors.RoleError: PTMLOCK_ROLE_TEXT_ENCODER=org/whisper" in refused.stderr, refused.stderr
