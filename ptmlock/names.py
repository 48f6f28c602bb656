"""Is this a valid repo id, model id or file path? The one rule for each, shared by the manifest,
the lock, hub answers and sync (pure; imports nothing of ptmlock but constants)."""
from __future__ import annotations

import re
from collections.abc import Iterable

from ptmlock.constants import HUB_HUGGINGFACE, HUB_TORCHHUB

_REPO_ID = re.compile(r"(\b[\w\-.]{1,96}\b/)?\b[\w\-.]{1,96}\b", re.ASCII)
_TORCHHUB_ID = re.compile(r"[\w\-.]+/[\w\-.]+(?::[\w\-./]+)?", re.ASCII)
_DRIVE_RE = re.compile(r"[A-Za-z]:")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Everything `safe_path_problem` refuses matches this (a superset), so a clean path costs one search.
_SUSPECT_PATH = re.compile(r"^/|\\|^[A-Za-z]:|[\x00-\x1f\x7f-\x9f]|(?:^|/)\.{0,2}(?:/|$)|(?:^|/)\.git[. ]*(?:/|$)"
                           r"|(?:^|/)\.cache/ptmlock(?:/|$)|[^/]{256}", re.IGNORECASE)


def is_repo_id(value: str) -> bool:
    """True when huggingface_hub's `validate_repo_id` accepts `value` (ASCII, `owner/name`, no `--`/`..`)."""
    return (value.count("/") <= 1 and _REPO_ID.fullmatch(value) is not None and "--" not in value
            and ".." not in value and not value.endswith(".git"))


def model_id_problem(model_id: str, hub: str) -> str | None:
    """Why `model_id` is not a valid id on `hub` (a hint naming the valid form), or None.

    The one id rule of ptm.toml and ptm.lock (`lockfile.read` applies it to every locked id).
    """
    if hub == HUB_HUGGINGFACE:
        if is_repo_id(model_id):
            return None
        return ("a Hugging Face id is 'name' or 'owner/name' (ASCII letters, digits, '-', '_', '.'; "
                "not starting or ending with '-' or '.', no '--' or '..')")
    if hub == HUB_TORCHHUB:
        if _TORCHHUB_ID.fullmatch(model_id):
            return None
        return "a torchhub id is 'owner/repo' or 'owner/repo:ref', as torch.hub.load takes it"
    if model_id.startswith(("https://", "http://")) and model_id.isprintable():
        return None
    return "a url model's id is the http(s) URL of one weight file"


def safe_path_problem(path: str) -> str | None:
    """Why `path` is not a safe relative file path inside a repo (for a message), or None.

    The one path rule of ptmlock: hub answers (`hubs.answers`), ptm.lock and every write of sync
    apply it. Refused: empty, absolute, a drive (`C:`), a backslash, NUL or any other control
    character (C0, DEL, C1), an empty, `.` or `..` component, a `.git` component anywhere, in
    any case and with Windows' trailing dots or spaces (a planted `.git/config` runs commands in
    the next `git status`; issue 11), anything under a `.cache/ptmlock/` folder at any depth (sync's
    own records: `sub/.cache/ptmlock/written.json` would forge those of a model synced into `sub/`;
    issue 22), and
    a component over 255 bytes or a path over 4096 characters.
    """
    if path and len(path) <= 4096 and _SUSPECT_PATH.search(path) is None:
        return None  # the common case, in one regex pass; the checks below name the problem
    if not path:
        return "is empty"
    if path.startswith("/"):
        return "is absolute"
    if _DRIVE_RE.match(path):
        return "starts with a drive"
    if "\\" in path:
        return "contains a backslash"
    if _CONTROL_RE.search(path):
        return "contains a NUL or another control character"
    parts = path.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            return f"has a {part!r} component" if part else "has an empty component"
        if part.casefold().rstrip(". ") == ".git":
            return "has a '.git' component (git would read it as its own metadata)"
    if any(a.casefold() == ".cache" and b.casefold() == "ptmlock" for a, b in zip(parts, parts[1:])):
        return "is inside .cache/ptmlock/, where sync keeps its own records"
    if len(path) > 4096 or any(len(p.encode("utf-8", "surrogatepass")) > 255 for p in parts):
        return "is too long for a file system (a component over 255 bytes, or over 4096 characters)"
    return None


def closest(word: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The choice a mistyped `word` most likely meant, for a "did you mean" hint (the one rule of
    every such hint): the same name in another case, else the only choice `word` begins (`re` ->
    `remove`, never `tree`), else the closest by difflib's ratio above `cutoff`; None if none."""
    options = list(dict.fromkeys(choices))
    folded = word.casefold()
    same = [c for c in options if c.casefold() == folded]
    if same:
        return same[0]
    begun = [c for c in options if c.casefold().startswith(folded)] if len(folded) >= 2 else []
    if len(begun) == 1:
        return begun[0]
    import difflib  # only on error paths: keeps start-up small

    by_fold = {c.casefold(): c for c in options}
    close = difflib.get_close_matches(folded, list(by_fold), n=1, cutoff=cutoff)
    return by_fold[close[0]] if close else None
