"""Property tests of the one writer and the one reader: any lock the validator accepts is written
so that it reads back equal, re-writes byte-identical, and every string survives; the fast
tokeniser and the TOML parser agree on every written lock; and the schema accepts them all."""
from __future__ import annotations

import jsonschema
import pytest
import tomllib
from hypothesis import given, settings
from hypothesis import strategies as st
from lockhelpers import SCHEMA

from ptmlock.errors import LockfileError
from ptmlock.lockfile.canonical import scan_canonical
from ptmlock.lockfile.model import Lock, LockedFile, LockedModel
from ptmlock.lockfile.read import lock_from_dict, parse_lock
from ptmlock.lockfile.write import dumps
from ptmlock.names import model_id_problem, safe_path_problem

_SCHEMA = jsonschema.Draft202012Validator(SCHEMA)
HEX40 = st.from_regex(r"[0-9a-f]{40}", fullmatch=True)
HEX64 = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)
ANY_TEXT = st.text(max_size=12)  # every code point but surrogates: controls, DEL, quotes, non-BMP
NAME = st.text(min_size=1, max_size=10).filter(str.isprintable)
HF_ID = st.from_regex(r"[\w.-]{1,12}(/[\w.-]{1,12})?", fullmatch=True).filter(
    lambda s: model_id_problem(s, "huggingface") is None)
PATH = st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=3).map("/".join).filter(
    lambda p: safe_path_problem(p) is None)
# the strings the old writer (json.dumps) wrote into locks the reader then refused
TRICKY = st.sampled_from(["a\x7fb", "\U0001f600.bin", 'q"uote', "back\\slash", "\u2028line", "\x85next", "tab\there"])


@st.composite
def files(draw: st.DrawFn) -> tuple[LockedFile, ...]:
    paths = draw(st.lists(st.one_of(PATH, TRICKY.filter(lambda p: safe_path_problem(p) is None)),
                          max_size=4, unique=True))
    return tuple(LockedFile(p, draw(st.integers(0, 1 << 50)), draw(st.none() | HEX40), draw(st.none() | HEX64))
                 for p in paths)


@st.composite
def models(draw: st.DrawFn, model_id: str, required_by: tuple[str, ...]) -> LockedModel:
    return LockedModel(
        id=model_id, commit=draw(HEX40), canonical_id=draw(st.none() | HF_ID),
        repo_type=draw(st.sampled_from(["model", "dataset"])), requested=draw(st.none() | NAME),
        role=None if required_by else draw(st.none() | NAME), include=tuple(draw(st.lists(NAME, max_size=2))),
        files=draw(files()), license=draw(st.none() | ANY_TEXT | TRICKY), gated=draw(st.sampled_from(
            [False, True, "auto", "manual"])), private=draw(st.booleans()), library=draw(st.none() | ANY_TEXT),
        pipeline_tag=draw(st.none() | ANY_TEXT), required_by=required_by,
        reason=draw(st.none() | ANY_TEXT | TRICKY) if required_by else None)


@st.composite
def locks(draw: st.DrawFn) -> Lock:
    ids = draw(st.lists(HF_ID, min_size=1, max_size=5, unique_by=str.casefold))
    n_top = draw(st.integers(1, len(ids)))
    top = [draw(models(i, ())) for i in ids[:n_top]]
    deps = []
    for i, dep_id in enumerate(ids[n_top:]):
        parents = draw(st.lists(st.sampled_from(ids[:n_top + i]), min_size=1, max_size=2, unique=True))
        deps.append(draw(models(dep_id, tuple(sorted(parents, key=lambda s: (s.casefold(), s))))))
    return Lock(manifest_hash="sha256:" + draw(HEX64), models=tuple(top + deps))


@settings(max_examples=120, deadline=None)
@given(locks())
def test_write_read_write_is_byte_identical_and_every_string_survives(lock):
    text = dumps(lock)
    again = parse_lock(text)
    assert dumps(again) == text
    assert again.to_dict() == lock.to_dict()  # every id, path, hash and free-text string, exactly
    data = tomllib.loads(text)
    assert scan_canonical(text) == data  # the fast tokeniser reads what a TOML parser reads
    assert lock_from_dict(data) == again
    _SCHEMA.validate(data)  # the schema accepts everything the validator accepts


@pytest.mark.parametrize("path", ["a\x7fb.json", "dir/\U0001f600.bin", 'q"uote', "x\x85y"])
def test_a_path_the_old_writer_broke_is_refused_or_survives(path):
    lock = Lock("sha256:" + "0" * 64, (LockedModel("org/a", "a" * 40, files=(LockedFile(path, 1),)),))
    if safe_path_problem(path) is None:
        assert parse_lock(dumps(lock)).models[0].files[0].path == path
    else:  # the writer refuses what the reader would refuse: never a lock it cannot read
        with pytest.raises(LockfileError, match="refused to write an invalid ptm.lock"):
            dumps(lock)
