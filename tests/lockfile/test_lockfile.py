from __future__ import annotations

import jsonschema
import pytest
import tomllib
from lockhelpers import SCHEMA

from ptmlock.errors import LockfileError
from ptmlock.lockfile.canonical import scan_canonical
from ptmlock.lockfile.fresh import compare
from ptmlock.lockfile.model import Lock, LockedFile, LockedModel, manifest_hash
from ptmlock.lockfile.read import lock_from_dict, parse_lock
from ptmlock.lockfile.write import dumps
from ptmlock.manifest.parse import parse_manifest

SHA = "a" * 40


def _lock() -> Lock:
    m = parse_manifest('[models."b/x"]\nrole = "r"\n\n[models."a/y"]\nrevision = "v1"\nfiles = ["*.json"]\n')
    return Lock(manifest_hash=manifest_hash(m), models=(
        LockedModel(id="b/x", commit=SHA, role="r", files=(
            LockedFile("z.json", 3, blob_id="1" * 40), LockedFile("w.bin", 10, blob_id="2" * 40, sha256="3" * 64))),
        LockedModel(id="a/y", commit="b" * 40, requested="v1", include=("*.json",), canonical_id="org/a-y",
                    license="mit", gated="manual", library="transformers", pipeline_tag="fill-mask"),
    ))


def test_dumps_is_sorted_round_trips_and_validates():
    lock = _lock()
    text = dumps(lock)
    assert text.index('id = "a/y"') < text.index('id = "b/x"')
    data = tomllib.loads(text)
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    again = parse_lock(text)
    assert dumps(again) == text
    assert again.get("ORG/A-Y").id == "a/y"  # canonical id, case-insensitive
    assert again.get("b/x").files[1].sha256 == "3" * 64


def test_pickle_only_and_custom_code_are_derived_from_files():
    pickle = LockedModel(id="a", commit=SHA, files=(LockedFile("pytorch_model.bin", 1),))
    both = LockedModel(id="a", commit=SHA, files=(LockedFile("pytorch_model.bin", 1), LockedFile("model.safetensors", 1)))
    code = LockedModel(id="a", commit=SHA, files=(LockedFile("modeling_x.py", 1),))
    assert pickle.pickle_only and not both.pickle_only
    assert code.custom_code and not both.custom_code


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("version"), "Missing required value in 'version'"),
    (lambda d: d.update(version=2), "format version 2"),
    (lambda d: d["model"][0].pop("commit"), "Missing required value in 'model[0].commit'"),
    (lambda d: d["model"][0].update(commit="xyz"), "Invalid value in 'model[0].commit'"),
    (lambda d: d["model"][1]["files"][0].update(size=-1), "Invalid value in 'model[1].files[0].size'"),
    (lambda d: d["model"][1]["files"][0].update(size="3"),
     "Unexpected type string (expected int) in 'model[1].files[0].size'"),
    (lambda d: d["model"][0].update(extra=1), "Unknown key in 'model[0].extra'"),
])
def test_invalid_lock_data_names_the_key_path(mutate, message):
    data = _lock().to_dict()
    mutate(data)
    with pytest.raises(LockfileError) as info:
        lock_from_dict(data)
    assert message in str(info.value)


def test_compare_is_fresh_for_matching_manifest_and_names_each_difference():
    m = parse_manifest('[models."b/x"]\nrole = "r"\n\n[models."a/y"]\nrevision = "v1"\nfiles = ["*.json"]\n')
    lock = _lock()
    fresh = compare(m, lock)
    assert fresh.state == "fresh" and fresh.differences == () and fresh.require("sync") is lock
    m2 = parse_manifest('[models."b/x"]\nrole = "q"\nhub = "huggingface"\n\n[models."c/z"]\n')
    stale = compare(m2, lock)
    assert stale.state == "stale"
    assert stale.differences == (
        "b/x: role is 'q' in ptm.toml but 'r' in ptm.lock",
        "c/z: declared in ptm.toml but not locked",
        "a/y: locked but no longer declared in ptm.toml",
    )
    assert (stale.added, stale.removed, stale.changed) == (("c/z",), ("a/y",), ("b/x",))
    assert stale.message("audit") == ("ptm.lock is stale against ptm.toml: b/x: role is 'q' in ptm.toml but 'r' in "
                                      "ptm.lock (and 2 more differences). Run `ptmlock lock` to update it, then "
                                      "`ptmlock audit`.")
    assert compare(m2, None).state == "missing"


def test_the_fast_tokeniser_gives_what_tomllib_gives_and_declines_other_text():
    text = dumps(_lock())
    assert scan_canonical(text) == tomllib.loads(text)
    hand_edited = [
        text.replace('role = "r"', "role = 'r'"),  # a literal string
        text.replace('role = "r"', 'role = "r"  # why'),  # a comment
        text.replace("\n", "\r\n"),  # CRLF
        text.replace('role = "r"', 'role = "r"\nrole = "s"'),  # a duplicate key: TOML refuses it
        text.replace("version = 1", "version = 0x1"),
    ]
    for edited in hand_edited:
        assert scan_canonical(edited) is None
    assert parse_lock(hand_edited[0]).get("b/x").role == "r"  # the TOML parser reads it instead
    with pytest.raises(LockfileError, match="not valid TOML"):
        parse_lock(hand_edited[3])
