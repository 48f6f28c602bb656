from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ptmlock.errors import ManifestError
from ptmlock.manifest.model import ModelSpec
from ptmlock.manifest.parse import load_manifest, parse_manifest
from ptmlock.manifest.edit import add_model_text, remove_model_text

DATA = Path(__file__).resolve().parents[1] / "data" / "manifests"
INVALID = sorted(p.stem for p in (DATA / "invalid").glob("*.toml"))


@pytest.mark.parametrize("name", INVALID)
def test_invalid_manifest_gives_exact_message_with_position(name, monkeypatch):
    monkeypatch.chdir(DATA / "invalid")
    expected = (DATA / "invalid" / f"{name}.err").read_text().strip()
    with pytest.raises(ManifestError) as info:
        load_manifest(f"{name}.toml")
    assert str(info.value) == expected
    assert info.value.exit_code == 3


def test_every_invalid_manifest_has_an_expected_message():
    assert INVALID, "no invalid manifests found"
    for name in INVALID:
        assert (DATA / "invalid" / f"{name}.err").is_file(), name


@pytest.mark.parametrize("name", ["unknown_key", "syntax_error", "unknown_hub", "role_default_not_member"])
def test_invalid_manifest_through_cli_exits_3_without_traceback(name, tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    original = (DATA / "invalid" / f"{name}.toml").read_bytes()
    (project / "ptm.toml").write_bytes(original)
    r = subprocess.run([sys.executable, "-m", "ptmlock", "lock"], cwd=project, capture_output=True, text=True)
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    expected = (DATA / "invalid" / f"{name}.err").read_text().strip()
    assert r.stderr.strip() == "error: " + expected.replace(f"{name}.toml", str(project / "ptm.toml")), r.stderr
    assert (project / "ptm.toml").read_bytes() == original
    assert not (project / "ptm.lock").exists()


def test_spec_example_parses_into_roles():
    m = load_manifest(DATA / "valid" / "spec_example.toml")
    assert m.name == "my-app" and m.guard_mode == "strict"
    assert [x.id for x in m.models] == ["google-bert/bert-base-uncased", "FacebookAI/roberta-base", "openai/whisper-tiny"]
    bert = m.get("GOOGLE-BERT/bert-base-uncased")
    assert bert is not None and bert.revision == "main" and bert.files == ("*.safetensors", "*.json", "*.txt")
    groups = m.role_members()
    assert [x.id for x in groups["text-encoder"]] == ["google-bert/bert-base-uncased", "FacebookAI/roberta-base"]
    assert m.role_default("text-encoder") == "google-bert/bert-base-uncased"
    assert m.role_default("speech") == "openai/whisper-tiny"


def test_model_without_role_is_its_own_role():
    m = parse_manifest('[models."a/b"]\n')
    assert m.role_members() == {"a/b": [m.models[0]]}
    assert m.role_default("a/b") == "a/b"


def test_dataset_type_and_hub_are_read():
    m = load_manifest(DATA / "valid" / "commented.toml")
    ds = m.get("demo/tiny-dataset")
    assert ds is not None and ds.repo_type == "dataset" and ds.hub == "huggingface"


def _block_diff(before: str, after: str) -> list[str]:
    """Lines of `after` that are not in `before`, asserting the rest is identical in order."""
    import difflib

    out = []
    for line in difflib.ndiff(before.splitlines(keepends=True), after.splitlines(keepends=True)):
        assert not line.startswith("- "), f"a line was removed: {line!r}"
        if line.startswith("+ "):
            out.append(line[2:])
    return out


def test_add_keeps_every_other_byte_and_inserts_after_last_model():
    text = (DATA / "valid" / "commented.toml").read_text()
    new = add_model_text(text, ModelSpec(id="openai/whisper-tiny", revision="v2", role="speech"))
    added = _block_diff(text, new)
    assert added == ['[models."openai/whisper-tiny"]\n', 'revision = "v2"\n', 'role = "speech"\n', "\n"]
    assert new.index("openai/whisper-tiny") < new.index("[roles.text]")
    parse_manifest(new)


def test_add_then_remove_gives_back_the_original_bytes():
    for name in ("commented.toml", "spec_example.toml", "empty.toml"):
        text = (DATA / "valid" / name).read_text()
        added = add_model_text(text, ModelSpec(id="x/y", role="other"))
        removed, notes = remove_model_text(added, "x/y")
        assert removed == text, name
        assert notes == []


def test_add_existing_updates_its_block_only():
    text = (DATA / "valid" / "commented.toml").read_text()
    new = add_model_text(text, ModelSpec(id="demo/tiny-roberta", revision="v3"))
    assert new == text.replace('[models."demo/tiny-roberta"]\nrole = "text"\n',
                               '[models."demo/tiny-roberta"]\nrole = "text"\nrevision = "v3"\n')


def test_remove_drops_block_with_its_attached_comment_only():
    text = (DATA / "valid" / "commented.toml").read_text()
    new, notes = remove_model_text(text, "demo/tiny-roberta")
    assert new == text.replace('# an alternative encoder\n[models."demo/tiny-roberta"]\nrole = "text"\n\n', "")
    assert notes == []


def test_remove_role_default_member_drops_the_default():
    text = (DATA / "valid" / "commented.toml").read_text()
    new, notes = remove_model_text(text, "demo/tiny-bert")
    assert notes == ["removed the default of [roles.text]: it named demo/tiny-bert"]
    m = parse_manifest(new)
    assert [x.id for x in m.models] == ["demo/tiny-roberta", "demo/tiny-dataset"]
    assert "# --- text side ---" not in new  # attached to the removed block
    assert "# trailing comment" in new and "# an alternative encoder" in new


def test_remove_last_member_drops_the_role_table():
    text = '[models."a/b"]\nrole = "r"\n\n[roles.r]\ndefault = "a/b"\n'
    new, notes = remove_model_text(text, "a/b")
    assert new == ""
    assert notes == ["removed [roles.r]: it has no members left"]


def test_remove_unknown_model_is_an_error():
    with pytest.raises(ManifestError, match="not in the manifest"):
        remove_model_text('[models."a/b"]\n', "c/d")


def test_add_and_remove_keep_a_crlf_manifest_crlf_byte_for_byte(hub, project, ptm):
    hub.commit("org/a", {"config.json": b"{}"})
    hub.commit("org/b", {"config.json": b"{}"})
    lf = (DATA / "valid" / "commented.toml").read_text().replace("demo/tiny-", "org/").replace(
        '[models."demo/tiny-dataset"]\ntype = "dataset"\n', "")
    original = (lf + '\n[models."org/a"]\n').replace("\n", "\r\n").encode()
    path = project / "ptm.toml"
    path.write_bytes(original)
    r = ptm("add", "org/b", "--no-lock")
    assert r.code == 0, r.err
    added = path.read_bytes()
    assert b'[models."org/b"]\r\n' in added and b"\n" not in added.replace(b"\r\n", b"")
    assert added.startswith(original)  # everything before the new block is untouched, byte for byte
    r = ptm("remove", "org/b")
    assert r.code == 0, r.err
    assert path.read_bytes() == original


def test_edits_keep_lf_and_crlf_text_in_their_own_style():
    text = (DATA / "valid" / "commented.toml").read_text()
    crlf = text.replace("\n", "\r\n")
    added = add_model_text(crlf, ModelSpec(id="x/y", role="other"))
    assert added == add_model_text(text, ModelSpec(id="x/y", role="other")).replace("\n", "\r\n")
    assert remove_model_text(added, "x/y") == (crlf, [])


@pytest.mark.parametrize("verb", [("lock", "--check"), ("list",), ("audit",)])
def test_a_bad_policy_table_is_a_manifest_error_with_its_position_in_every_verb(project, ptm, verb):
    (project / "ptm.toml").write_text('[project]\nname = "x"\n\n[policy]\nallow-pickle = "yes"\n')
    r = ptm(*verb)
    assert r.code == 3, r.err
    assert "ptm.toml:5:1: 'allow-pickle' in [policy] must be true, false or an array of model ids" in r.err
