"""The decision for one model load, as a pure function: `decide(request, pin, mode) -> Verdict`.

Nothing here reads a file, looks at the stack or talks to a hub. The runtime guard
(`ptmlock.enforce._runtime`) gathers the facts (the request an adapter intercepted, the pin
`ptmlock.pins.PinIndex` found for it, the mode) and acts on the verdict (rewrite the revision,
warn, raise, record); `ptmlock check` applies the same rules to the loads `scan` finds.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_HEX = re.compile(r"^[0-9a-f]{7,40}$")

# What a verdict tells the adapter to do.
REWRITE = "rewrite"  # load `Verdict.revision` (the locked commit) instead of what was asked
PASS = "pass"  # load what was asked, unchanged
WARN = "warn"  # load what was asked, and warn
REFUSE = "refuse"  # raise GuardError before anything leaves the process

# Why (the `verdict` field of the report).
PINNED = "pinned"  # listed, asked for the manifest's ref: the locked commit is injected
MATCHES_LOCK = "matches-lock"  # asked for the locked commit itself (full or prefix)
UNLISTED = "unlisted"  # not declared in ptm.toml (nor pinned as a dependency in ptm.lock)
CONTRADICTS = "contradicts"  # listed, but asked for another revision than the lock's
NOT_PINNED = "not-pinned"  # declared in ptm.toml, missing from ptm.lock
STALE = "stale"  # ptm.lock pins it for another ref, hub or type than ptm.toml asks


@dataclass(frozen=True)
class Pin:
    """What the project says about one model: its ids, the manifest's ref and the locked commit."""

    declared_id: str
    hub: str = "huggingface"
    repo_type: str = "model"
    requested: str | None = None  # the manifest's ref; None = the default branch
    commit: str | None = None  # None: declared but not locked
    canonical_id: str | None = None
    stale: str | None = None  # why the lock entry does not match the manifest, if it does not
    required_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Request:
    """One intercepted load: the repo as the code named it and the revision it passed."""

    repo_id: str
    revision: str | None = None  # as asked; for a ResolvedRevision, the ref it was resolved from
    resolved: str | None = None  # the commit a ResolvedRevision already carries
    repo_type: str = "model"
    hub: str = "huggingface"
    # Did the caller's own call (the user-level entry point: `BertModel.from_pretrained(...)`,
    # `pipeline(...)`, `hf_hub_download(...)`) pass a revision? None: not known (judge `revision`
    # as asked); False: it passed none, so a library's own default reaching the hub layer is not a
    # choice; True: it passed `caller_revision`.
    caller_passed: bool | None = None
    caller_revision: str | None = None


@dataclass(frozen=True)
class Verdict:
    """What to do with a load and why."""

    kind: str  # PINNED, MATCHES_LOCK, UNLISTED, CONTRADICTS, NOT_PINNED or STALE
    action: str  # REWRITE, PASS, WARN or REFUSE
    revision: str | None  # the revision to load with
    pin: Pin | None = None
    message: str = ""  # what happened and the fix (no call site); empty when nothing is wrong

    @property
    def violation(self) -> bool:
        """True when the load breaks the lock (warned or refused, depending on the mode)."""
        return self.kind in (UNLISTED, CONTRADICTS, NOT_PINNED, STALE)


def decide(request: Request, pin: Pin | None, mode: str) -> Verdict:
    """Decide what the guard does with `request`, given the project's `pin` for it (None: unlisted).

    `mode` is "warn" or "strict": a violation is warned about and loaded as asked, or refused.
    """
    asked, resolved = chosen(request)
    if pin is None:
        return _violation(UNLISTED, request, None, mode, _unlisted_message(request, asked))
    if pin.commit is None:
        return _violation(NOT_PINNED, request, pin, mode,
                          f"{pin.declared_id!r} is declared in ptm.toml but not pinned in ptm.lock (the lock is "
                          "stale). Run `ptmlock lock`.")
    if pin.stale is not None:
        return _violation(STALE, request, pin, mode,
                          f"ptm.lock is stale for {pin.declared_id!r}: {pin.stale}. Run `ptmlock lock`.")
    commit = pin.commit
    if resolved is not None and resolved.lower() == commit:
        return Verdict(MATCHES_LOCK, PASS, request.revision, pin)
    if _same_ref(asked, pin.requested):
        return Verdict(PINNED, REWRITE, commit, pin)
    if asked is not None and _HEX.match(asked.lower()) and commit.startswith(asked.lower()):
        return Verdict(MATCHES_LOCK, PASS if asked.lower() == commit else REWRITE, commit, pin)
    return _violation(CONTRADICTS, request, pin, mode, _contradicts_message(request, pin, commit, asked))


# What libraries pass on their own when the caller asked for nothing: transformers' model-specific
# `from_pretrained` (and `GenerationConfig`, processors...) default `revision="main"`, most others None.
LIBRARY_DEFAULTS = (None, "main")


def chosen(request: Request) -> tuple[str | None, str | None]:
    """(revision, resolved commit) of `request` as the *caller* chose them: a library's own default
    ("main", None, or a `ResolvedRevision` the library resolved from one) is "not asked" when the
    caller's call passed no revision, or passed another one (the library's default then reached a
    load the caller's revision was not for). An explicit choice of the caller is kept as it is."""
    asked = request.revision
    if request.caller_passed is None or asked not in LIBRARY_DEFAULTS:
        return asked, request.resolved
    if request.caller_passed and request.caller_revision == asked:
        return asked, request.resolved
    return None, None


def pin_command(declared_id: str, hub: str, revision: str | None, repo_type: str = "model") -> str | None:
    """The `ptmlock add ...` that pins `declared_id` at `revision` instead, or None when that would
    not be a pin of what the code asks for (the default branch, which `main` follows, is no pin)."""
    if revision in LIBRARY_DEFAULTS:
        return None
    return f"ptmlock add {_add_arg(declared_id, hub, revision, repo_type)}"


def _contradicts_message(request: Request, pin: Pin, commit: str, asked: str | None) -> str:
    wanted = f"ref {pin.requested!r}" if pin.requested is not None else "the default branch"
    head = f"{request.repo_id!r} is locked at {commit[:12]} ({wanted} in ptm.toml), but "
    command = pin_command(pin.declared_id, pin.hub, asked)
    if request.caller_passed is False:  # the library chose it (from a config file, an adapter...)
        return head + (f"the library asks for revision {asked!r} (the code passed none: it comes from the model's "
                       f"own files). Pin that revision: `{command}`.")
    tail = f", or pin the new one: `{command}`." if command is not None else "."
    return head + f"the code asks for revision {asked!r}. Drop the revision argument to load the pinned commit{tail}"


def _same_ref(asked: str | None, requested: str | None) -> bool:
    # "main" is what most libraries pass for "the default branch" (transformers' default revision).
    if asked is None or asked == requested:
        return True
    return requested is None and asked == "main"


def _violation(kind: str, request: Request, pin: Pin | None, mode: str, message: str) -> Verdict:
    return Verdict(kind, REFUSE if mode == "strict" else WARN, request.revision, pin, message)


def _unlisted_message(request: Request, asked: str | None) -> str:
    what = {"torchhub": "torch.hub repo", "url": "weight URL"}.get(request.hub, request.repo_type)
    at = None if asked == "main" and request.hub == "huggingface" else asked  # the default branch: `@main` adds nothing
    return (f"{what} {request.repo_id!r} is not declared in ptm.toml. Declare and pin it: "
            f"`ptmlock add {_add_arg(request.repo_id, request.hub, at, request.repo_type)}`.")


def _add_arg(repo_id: str, hub: str, revision: str | None, repo_type: str = "model") -> str:
    arg = repo_id
    if revision is not None and hub == "huggingface":
        arg += f"@{revision}"
    elif revision is not None and hub == "torchhub":
        arg += f":{revision}"
    if hub != "huggingface":
        arg += f" --hub {hub}"
    if repo_type != "model":
        arg += f" --type {repo_type}"
    return arg
