"""`init --from-code` writes a manifest that parses for every shape `scan` reports (issue 24):
random combinations of the scan corpus' files and of generated code (dicts, lists and
`choices=` of ids, each used by one or several loads, groups sharing ids, literal revisions),
then `init --from-code` and `lock --check` through the real CLI."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ptmlock.cli import main
from ptmlock.manifest.parse import load_manifest

CORPUS = sorted((Path(__file__).parent.parent / "data" / "scan_corpus").glob("*.py"))
POOL = ["org/alpha", "org/beta", "Org/Alpha", "team/gamma-base", "team/gamma-large", "org/delta-v2"]
LOADERS = ["AutoTokenizer", "AutoModel", "AutoProcessor", "AutoConfig"]

_group = st.tuples(
    st.sampled_from(["dict", "list", "choices"]),
    st.lists(st.sampled_from(POOL), min_size=2, max_size=4, unique=True),
    st.lists(st.sampled_from(LOADERS), min_size=1, max_size=3),
)
_single = st.tuples(st.sampled_from(POOL), st.sampled_from([None, "v1", "main"]), st.sampled_from(LOADERS))


def _code(groups: list[tuple[str, list[str], list[str]]], singles: list[tuple[str, str | None, str]]) -> str:
    lines = ["import argparse", f"from transformers import {', '.join(LOADERS)}", ""]
    for n, (shape, ids, loaders) in enumerate(groups):
        if shape == "dict":
            lines.append(f"G{n} = {{{', '.join(f'{chr(97 + i)!r}: {m!r}' for i, m in enumerate(ids))}}}")
            lines += [f"def load_{n}(name):", f"    repo = G{n}[name]"]
        elif shape == "list":
            lines += [f"G{n} = {ids!r}", f"def load_{n}(i):", f"    repo = G{n}[i]"]
        else:
            lines += [f"def load_{n}():", "    parser = argparse.ArgumentParser()",
                      f"    parser.add_argument('--model', choices={ids!r}, default={ids[0]!r})",
                      "    repo = parser.parse_args().model"]
        lines += [f"    x{k} = {loader}.from_pretrained(repo)" for k, loader in enumerate(loaders)]
        lines.append("")
    for model_id, revision, loader in singles:
        rev = f", revision={revision!r}" if revision else ""
        lines.append(f"{loader}.from_pretrained({model_id!r}{rev})")
    return "\n".join(lines) + "\n"


def _init_then_check(code_dir: Path, capsys) -> None:
    manifest = code_dir.parent / "ptm.toml"
    capsys.readouterr()
    code = main(["--manifest", str(manifest), "init", "--from-code", str(code_dir)])
    _, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in err, err
    text = manifest.read_text()
    load_manifest(manifest)  # parses: roles have members, defaults are members
    assert "[roles." not in text or "role = " in text, text
    code = main(["--manifest", str(manifest), "lock", "--check"])
    _, err = capsys.readouterr()
    assert code == 1 and "ptm.lock does not exist" in err, (text, err)  # the manifest was read, not refused


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.sampled_from(CORPUS), min_size=1, max_size=4, unique=True),
       groups=st.lists(_group, max_size=4), singles=st.lists(_single, max_size=3))
def test_init_from_code_writes_a_manifest_that_parses_for_any_mix_of_shapes(files, groups, singles, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        code_dir = Path(tmp) / "code"
        code_dir.mkdir()
        for f in files:
            shutil.copy(f, code_dir / f.name)
        (code_dir / "generated.py").write_text(_code(groups, singles))
        _init_then_check(code_dir, capsys)


def test_one_dict_used_by_a_tokenizer_and_a_model_is_one_role(project, ptm):
    (project / "app.py").write_text(
        'from transformers import AutoModel, AutoTokenizer\n'
        'BACKBONES = {"bert": "org/tiny-bert", "roberta": "org/tiny-roberta"}\n'
        'def load(name):\n    repo = BACKBONES[name]\n'
        '    return AutoTokenizer.from_pretrained(repo), AutoModel.from_pretrained(repo)\n')
    r = ptm("init", "--from-code", ".")
    assert r.code == 0, r.err
    assert "with 2 model ids found in" in r.err
    manifest = load_manifest(project / "ptm.toml")
    assert [(m.id, m.role) for m in manifest.models] == [("org/tiny-bert", "tiny"), ("org/tiny-roberta", "tiny")]
    assert [(role.name, role.default) for role in manifest.roles] == [("tiny", "org/tiny-bert")]


def test_groups_sharing_a_model_merge_and_a_literal_revision_is_kept(project, ptm):
    (project / "app.py").write_text(_code([("list", ["org/alpha", "org/beta"], ["AutoModel"]),
                                           ("dict", ["org/beta", "team/gamma-base"], ["AutoTokenizer"])],
                                          [("org/beta", "v1", "AutoModel"), ("org/lone", None, "AutoModel")]))
    r = ptm("init", "--from-code", ".")
    assert r.code == 0, r.err
    manifest = load_manifest(project / "ptm.toml")
    assert {m.id: (m.role, m.revision) for m in manifest.models} == {
        "org/alpha": ("transformers-models", None), "org/beta": ("transformers-models", "v1"),
        "team/gamma-base": ("transformers-models", None), "org/lone": (None, None)}
    assert [(role.name, role.default) for role in manifest.roles] == [("transformers-models", "org/alpha")]


def test_the_scan_corpus_whole_gives_a_manifest_that_parses(tmp_path, capsys):
    code_dir = tmp_path / "code"
    shutil.copytree(CORPUS[0].parent, code_dir)
    _init_then_check(code_dir, capsys)
