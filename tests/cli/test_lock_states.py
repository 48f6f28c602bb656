"""Every verb on each lock state (fresh, stale, missing, invalid), through the real CLI against
the local hub: one exit code and one message per state, as docs/exit-codes.md documents."""
from __future__ import annotations

import pytest

from lockhelpers import tiny_repo_files, write_manifest

STALE = "ptm.lock is stale against ptm.toml: org/a: role is 'other' in ptm.toml but 'enc' in ptm.lock"
MISSING = "ptm.lock does not exist: no model is pinned yet. Run `ptmlock lock` to create it"
INVALID = "Invalid value in 'model[0].files[0].path': '../escape.json' has a '..' component"
FIX = "Restore it from git, or delete it and run `ptmlock lock`."


def _gate(verb: str) -> tuple[tuple[str, ...], tuple[tuple[int, str | None], ...]]:
    """A verb that needs a fresh lock: exit 1 with the fix naming the verb when stale or missing."""
    return (verb,), ((0, None), (1, f"{STALE}. Run `ptmlock lock` to update it, then `ptmlock {verb}`."),
                     (1, f"{MISSING}, then `ptmlock {verb}`."), (3, INVALID))


# verb argv, then (exit code, message) for fresh, stale, missing, invalid. A message of None
# means the output names no lock state at all. Gates refuse a stale or missing lock (1);
# read-only views warn and go on (0); an invalid lock is exit 3 for every verb.
TABLE: list[tuple[tuple[str, ...], tuple[tuple[int, str | None], ...]]] = [
    (("lock", "--check"), ((0, "ptm.lock is up to date."), (1, STALE), (1, MISSING), (3, INVALID))),
    *(_gate(verb) for verb in ("check", "sync", "verify", "outdated", "update", "audit", "export")),
    (("list",), ((0, None), (0, STALE), (0, MISSING), (3, INVALID))),
    (("tree",), ((0, None), (0, STALE), (0, MISSING), (3, INVALID))),
    (("scan",), ((0, None), (0, None), (0, None), (3, INVALID))),
    (("lock",), ((0, None), (0, None), (0, None), (3, INVALID))),
    (("add", "org/b"), ((0, None), (0, None), (0, None), (3, INVALID))),
    (("remove", "org/a"), ((0, None), (0, None), (0, None), (3, INVALID))),
]
STATES = ("fresh", "stale", "missing", "invalid")


@pytest.fixture
def locked(hub, project, ptm):
    """org/a (role enc) declared and locked; org/b on the hub for `add`. Returns the two files."""
    hub.commit("org/a", tiny_repo_files("a"))
    hub.commit("org/b", tiny_repo_files("b"))
    write_manifest(project, {"org/a": {"role": "enc"}})
    r = ptm("lock")
    assert r.code == 0, r.err
    return (project / "ptm.toml").read_bytes(), (project / "ptm.lock").read_bytes()


def _make(state: str, project, files: tuple[bytes, bytes]) -> None:
    manifest, lock = files
    (project / "ptm.toml").write_bytes(manifest)
    (project / "ptm.lock").write_bytes(lock)
    if state == "stale":
        (project / "ptm.toml").write_bytes(manifest.replace(b'role = "enc"', b'role = "other"'))
    elif state == "missing":
        (project / "ptm.lock").unlink()
    elif state == "invalid":
        text = lock.decode()
        first = text.index('{ path = "') + len('{ path = "')
        end = text.index('"', first)
        (project / "ptm.lock").write_text(text[:first] + "../escape.json" + text[end:])


@pytest.mark.parametrize("state", STATES)
def test_every_verb_gives_one_exit_code_and_message_per_lock_state(locked, project, ptm, state):
    column = STATES.index(state)
    wrong = []
    for argv, expected in TABLE:
        _make(state, project, locked)
        if argv == ("verify",) and state == "fresh":
            assert ptm("sync").code == 0
        code, message = expected[column]
        r = ptm(*argv)
        said = r.out + r.err
        ok = r.code == code and "Traceback" not in said and "internal error" not in said
        if message is None:
            ok = ok and not any(m in said for m in (STALE, MISSING, INVALID))
        else:
            ok = ok and message in said
            if message is INVALID:
                ok = ok and FIX in said
        if not ok:
            wrong.append(f"ptmlock {' '.join(argv)} on a {state} lock: exit {r.code}, said {said!r}")
    assert wrong == []
