"""The guard's pure parts: `decide()` and the pin index (aliases, staleness). No hub, no subprocess."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.torchfree  # needs no torch: .ci/run also runs it with transformers 4.x

C1 = "1" * 40


@pytest.fixture(scope="module", autouse=True)
def guard_modules():
    """Import the guard's modules with the guard off: importing `ptmlock.enforce.*` would otherwise
    turn it on in the test process (the guard's behaviour is tested in subprocesses)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PTMLOCK_MODE", "off")
    import ptmlock.enforce  # noqa: F401

    mp.undo()


def _decide(repo, revision=None, *, pin=None, mode="warn", resolved=None, **kw):
    from ptmlock.decide import Request, decide

    return decide(Request(repo, revision, resolved, **kw), pin, mode)


def _pin(**kw):
    from ptmlock.decide import Pin

    return Pin(**{"declared_id": "org/m", "commit": C1, **kw})


@pytest.mark.parametrize("revision, requested, kind, action, used", [
    (None, None, "pinned", "rewrite", C1),
    ("main", None, "pinned", "rewrite", C1),
    ("v1.0", "v1.0", "pinned", "rewrite", C1),
    (C1, None, "matches-lock", "pass", C1),
    (C1[:8], None, "matches-lock", "rewrite", C1),
    (C1.upper()[:12], "v1.0", "matches-lock", "rewrite", C1),
    ("dev", None, "contradicts", "warn", "dev"),
    ("main", "v1.0", "contradicts", "warn", "main"),
    ("2" * 40, None, "contradicts", "warn", "2" * 40),
])
def test_decide_listed(revision, requested, kind, action, used):
    v = _decide("org/m", revision, pin=_pin(requested=requested))
    assert (v.kind, v.action, v.revision) == (kind, action, used)


def test_decide_resolved_revision_and_strict_mode():
    assert _decide("org/m", "main", pin=_pin(), resolved=C1).kind == "matches-lock"
    v = _decide("org/m", "main", pin=_pin(), resolved="2" * 40)  # resolved elsewhere: re-pinned
    assert (v.kind, v.revision) == ("pinned", C1)
    assert _decide("org/m", "dev", pin=_pin(), mode="strict").action == "refuse"
    assert _decide("org/x", mode="strict").action == "refuse"


def test_decide_messages_name_the_model_and_the_fix():
    assert _decide("org/x", "v2").message == \
        "model 'org/x' is not declared in ptm.toml. Declare and pin it: `ptmlock add org/x@v2`."
    assert _decide("d/x", repo_type="dataset").message.endswith("`ptmlock add d/x --type dataset`.")
    assert _decide("o/r", "dev", hub="torchhub").message == \
        "torch.hub repo 'o/r' is not declared in ptm.toml. Declare and pin it: `ptmlock add o/r:dev --hub torchhub`."
    assert _decide("org/m", "dev", pin=_pin()).message == (
        f"'org/m' is locked at {C1[:12]} (the default branch in ptm.toml), but the code asks for revision 'dev'. "
        "Drop the revision argument to load the pinned commit, or pin the new one: `ptmlock add org/m@dev`.")
    assert _decide("org/m", pin=_pin(commit=None)).kind == "not-pinned"
    stale = _decide("org/m", pin=_pin(stale="revision is 'dev' in ptm.toml but unset in ptm.lock"))
    assert (stale.kind, stale.message) == ("stale", "ptm.lock is stale for 'org/m': revision is 'dev' in ptm.toml "
                                                    "but unset in ptm.lock. Run `ptmlock lock`.")


def test_pin_index_matches_declared_canonical_legacy_and_prefixed_ids():
    from ptmlock.pins import PinIndex, legacy_alias
    from ptmlock.decide import Pin, Request

    index = PinIndex([
        Pin("google-bert/bert-base-uncased", commit=C1),
        Pin("gpt2", commit=C1),
        Pin("org/old", commit=C1, canonical_id="org/new"),
        Pin("all-MiniLM-L6-v2", commit=C1),
        Pin("d/set", repo_type="dataset", commit=C1),
        Pin("owner/repo:v1", hub="torchhub", commit=C1),
    ])
    found = lambda repo, **kw: (p.declared_id if (p := index.find(Request(repo, **kw))) else None)  # noqa: E731
    assert found("bert-base-uncased") == "google-bert/bert-base-uncased"
    assert found("Google-BERT/BERT-base-uncased") == "google-bert/bert-base-uncased"
    assert found("openai-community/gpt2") == "gpt2"
    assert found("org/new") == "org/old"
    assert found("sentence-transformers/all-MiniLM-L6-v2") == "all-MiniLM-L6-v2"
    assert found("d/set") is None and found("d/set", repo_type="dataset") == "d/set"
    assert found("owner/repo", hub="torchhub") == "owner/repo:v1"
    assert found("bert-base-cased") is None
    assert legacy_alias("distilbert-base-uncased") == "distilbert/distilbert-base-uncased"
    assert legacy_alias("xlm-roberta-base") == "FacebookAI/xlm-roberta-base"
    assert legacy_alias("t5-small") == "google-t5/t5-small" and legacy_alias("google-t5/t5-small") == "t5-small"
    assert legacy_alias("ctrl-x") is None and legacy_alias("org/bert-base-uncased") is None


def test_build_index_flags_unpinned_and_stale_entries():
    from ptmlock.pins import build_index
    from ptmlock.lockfile.model import Lock, LockedModel
    from ptmlock.manifest.parse import parse_manifest

    manifest = parse_manifest('[models."org/a"]\n[models."org/b"]\nrevision = "dev"\n[models."org/c"]\n'
                              '[models."owner/r:v2"]\nhub = "torchhub"\n')
    lock = Lock("sha256:x", (LockedModel("org/a", C1), LockedModel("org/b", C1),
                             LockedModel("org/base", C1, required_by=("org/a",)),
                             LockedModel("owner/r:v2", C1, hub="torchhub")))
    pins = {p.declared_id: p for p in build_index(manifest, lock).pins}
    assert pins["org/a"].commit == C1 and pins["org/a"].stale is None
    assert pins["org/b"].stale == "revision is 'dev' in ptm.toml but unset in ptm.lock"
    assert pins["org/c"].commit is None
    assert pins["org/base"].required_by == ("org/a",)
    assert pins["owner/r:v2"].requested == "v2"
    assert {p.declared_id for p in build_index(None, lock).pins} == {"org/a", "org/b", "org/base", "owner/r:v2"}
