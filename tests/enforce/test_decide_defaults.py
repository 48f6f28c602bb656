"""Issue 21, item 1, as the pure rule in `ptmlock.decide`: a library's own default is not a choice."""
from __future__ import annotations

import pytest

from ptmlock.decide import Pin, Request, chosen, decide, pin_command

C1 = "1" * 40


def _pin(requested="v1.0"):
    return Pin("org/m", requested=requested, commit=C1)


@pytest.mark.parametrize(("revision", "passed", "caller", "kind", "used"), [
    ("main", False, None, "pinned", C1),  # BertModel.from_pretrained("org/m"): transformers passes "main"
    (None, False, None, "pinned", C1),
    ("main", True, "dev", "pinned", C1),  # the caller's revision was for another load: "main" is the library's
    ("main", True, "main", "contradicts", "main"),  # the caller wrote revision="main": judged as written
    ("main", None, None, "contradicts", "main"),  # not known who chose it: judged as given
    ("dev", False, None, "contradicts", "dev"),  # a non-default the library chose (an adapter's config)
    ("v1.0", True, "v1.0", "pinned", C1),
])
def test_library_defaults_are_not_choices(revision, passed, caller, kind, used):
    request = Request("org/m", revision, caller_passed=passed, caller_revision=caller)
    verdict = decide(request, _pin(), "warn")
    assert (verdict.kind, verdict.revision if verdict.kind == "pinned" else request.revision) == (kind, used)


def test_a_resolved_default_is_not_asked_either():
    # a ResolvedRevision the library made from its own "main": its commit is upstream's, not the lock's
    assert chosen(Request("org/m", "main", resolved="2" * 40, caller_passed=False)) == (None, None)
    assert chosen(Request("org/m", "main", resolved="2" * 40, caller_passed=True, caller_revision="main")) == \
        ("main", "2" * 40)


def test_messages_never_advise_what_the_caller_did_not_write_nor_dropping_the_pin():
    explicit = decide(Request("org/m", "main", caller_passed=True, caller_revision="main"), _pin(), "warn")
    assert explicit.message == (f"'org/m' is locked at {C1[:12]} (ref 'v1.0' in ptm.toml), but the code asks for "
                                "revision 'main'. Drop the revision argument to load the pinned commit.")
    library = decide(Request("org/m", "dev", caller_passed=False), _pin(), "strict")
    assert library.action == "refuse" and "Drop the revision argument" not in library.message
    assert library.message.endswith("the library asks for revision 'dev' (the code passed none: it comes from the "
                                    "model's own files). Pin that revision: `ptmlock add org/m@dev`.")
    unlisted = decide(Request("org/x", "main", caller_passed=True, caller_revision="main"), None, "warn")
    assert unlisted.message.endswith("`ptmlock add org/x`.")
    assert pin_command("org/m", "huggingface", "main") is None
    assert pin_command("org/m", "huggingface", "v2") == "ptmlock add org/m@v2"
