"""Project operations behind the verbs: init, add, remove, lock, check. Writes are atomic and
serialised by the run lock beside ptm.lock; state is re-read once the lock is held."""
from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ptmlock._fs import (
    file_lock,
    read_text_exactly,
    remove_stale_temps,
    write_project_file,
)
from ptmlock.constants import (
    DEFAULT_GUARD_MODE,
    DEFAULT_HUB,
    DEFAULT_JOBS,
    HUB_URL,
    LOCK_GUARD_SUFFIX,
    LOCK_NAME,
    MANIFEST_NAME,
)
from ptmlock.errors import ManifestError, PtmlockError
from ptmlock.lockfile.fresh import Freshness, lock_state
from ptmlock.lockfile.model import Lock, LockedModel, with_roles
from ptmlock.lockfile.write import write_lock
from ptmlock.manifest.model import Manifest, ModelSpec
from ptmlock.manifest.parse import load_manifest, parse_manifest

if TYPE_CHECKING:
    from ptmlock.resolver import ResolveResult

# ptmlock._fs (tempfile) and ptmlock.resolver (thread pool, hub backends) are imported where they
# are used, so `lock --check`, which needs neither, starts faster (issue 17).


@dataclass(frozen=True)
class AddOutcome:
    """What `add_model` did: the entry before (None when new), the entry now, and the lock
    outcome (None with `lock=False`)."""

    previous: ModelSpec | None
    spec: ModelSpec
    lock: LockOutcome | None
    warning: str | None = None  # the role just gained a second member and has no default


@dataclass(frozen=True)
class LockOutcome:
    """What `lock_project` did: `result` and `lock` are None when the lock was already fresh."""

    result: ResolveResult | None
    written: bool
    lock: Lock | None
    fresh_models: int = 0
    warnings: tuple[str, ...] = ()


def run_lock_path(project_dir: Path) -> Path:
    """The lock file that serialises runs on `project_dir`.

    It lives in the user cache directory, keyed by the project's real path, rather than beside
    ptm.lock: a file there would be picked up by `git add -A` in every user's repository.
    """
    import hashlib

    import platformdirs

    key = hashlib.sha256(os.fsencode(os.path.realpath(project_dir))).hexdigest()[:24]
    directory = Path(platformdirs.user_cache_dir("ptmlock")) / "run-locks"
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{key}{LOCK_GUARD_SUFFIX}"


@contextlib.contextmanager
def run_lock(project_dir: Path, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Serialise ptmlock runs that write this project's files (and re-read state once held)."""
    guard = run_lock_path(project_dir)

    def blocked() -> None:
        if on_wait is not None:
            on_wait(f"Waiting for another ptmlock process to finish (lock file {guard})...")


    with file_lock(guard, blocked_cb=blocked):
        # issue 11: a writer killed mid-way left its temporary file; no writer is live now
        remove_stale_temps(project_dir, (LOCK_NAME, MANIFEST_NAME))
        yield


def init_project(path: Path, *, name: str | None = None, policy: str = DEFAULT_GUARD_MODE, text: str | None = None) -> Path:
    """Write a starter `ptm.toml` at `path` (or `text`, when given).

    Raises:
        ManifestError: the file already exists.
    """
    if path.exists():
        raise ManifestError(f"{path} already exists. Edit it, or use `ptmlock add MODEL` to declare models.")
    from ptmlock.manifest.edit import starter_manifest

    content = text if text is not None else starter_manifest(name or path.resolve().parent.name, policy)
    try:
        parse_manifest(content, path)  # never write a manifest we could not read back
    except ManifestError as e:
        if text is None:
            raise
        raise PtmlockError(f"the manifest ptmlock generated for {path} does not parse, so nothing was written "
                           f"(a bug in ptmlock; please report it): {e}") from None
    write_project_file(path, content)
    return path


def lock_project(
    manifest_path: Path,
    *,
    upgrade: Collection[str] = (),
    jobs: int = DEFAULT_JOBS,
    on_wait: Callable[[str], None] | None = None,
) -> LockOutcome:
    """Resolve `manifest_path` and write ptm.lock if its text changed.

    Raises:
        ManifestError, LockfileError, HubError, UnsafeHubAnswerError: nothing is written then.
    """
    with run_lock(manifest_path.parent, on_wait):
        manifest = load_manifest(manifest_path)
        return replace(_lock(manifest, upgrade=upgrade, jobs=jobs), warnings=tuple(manifest.role_warnings()))


def _lock(manifest: Manifest, *, upgrade: Collection[str] = (), jobs: int = DEFAULT_JOBS) -> LockOutcome:
    state = lock_state(manifest)
    old = state.readable()  # an invalid lock is refused (exit 3), never silently replaced
    if state.fresh and not upgrade and old is not None:
        top = sum(1 for m in old.models if not m.required_by)
        return LockOutcome(result=None, written=False, lock=None, fresh_models=top)
    from ptmlock.resolver import (
        resolve,  # here: `lock --check` and the no-op lock never need it (start-up)
    )

    result = resolve(manifest, old, jobs=jobs, upgrade=upgrade)  # validated there (UnsafeHubAnswerError)
    written = write_lock(manifest.lock_path, result.lock)
    return LockOutcome(result=result, written=written, lock=result.lock)


def check_lock(manifest_path: Path) -> Freshness:
    """How ptm.lock matches the manifest at `manifest_path` (`lock --check`). No network.

    Raises:
        ManifestError: the manifest is unreadable.
    """
    return lock_state(load_manifest(manifest_path))


_SPEC_RE = re.compile(r"^(?P<id>[^@\s]+)(?:@(?P<rev>[^@\s]+))?$")


def parse_model_arg(arg: str, hub: str | None) -> tuple[str, str | None]:
    """Split `MODEL[@REV]` into id and revision (a `url` model keeps its whole URL).

    Raises:
        ManifestError: the argument is empty or has more than one '@'.
    """
    if hub == "url" or arg.startswith(("http://", "https://")):
        return arg, None
    m = _SPEC_RE.match(arg)
    if m is None:
        raise ManifestError(f"{arg!r} is not a model: write MODEL or MODEL@REVISION, e.g. google-bert/bert-base-uncased@main.")
    return m.group("id"), m.group("rev")


def add_model(
    manifest_path: Path,
    spec: ModelSpec,
    *,
    lock: bool = True,
    jobs: int = DEFAULT_JOBS,
    on_wait: Callable[[str], None] | None = None,
    default: bool = False,
) -> AddOutcome:
    """Declare `spec` in the manifest (or update its entry) and, unless `lock` is False, lock it;
    with `default`, the model also becomes its role's `default`.

    The manifest is written only after the new entry resolved, so a failed add changes nothing.

    Raises:
        ManifestError: the resulting manifest would be invalid.
        HubError, UnsafeHubAnswerError: the model could not be resolved (nothing was written).
    """
    from ptmlock.errors import HubError

    with run_lock(manifest_path.parent, on_wait):
        old_text = read_text_exactly(manifest_path)  # CRLF kept: the edit keeps the file's newlines
        previous = load_manifest(manifest_path).get(spec.id)  # a broken manifest is reported as it is
        from ptmlock.manifest.edit import add_model_text

        new_text = add_model_text(old_text, spec)
        if default:
            if spec.role is None:  # the CLI asks for --role with --default
                raise ValueError("add_model(default=True) needs spec.role")
            from ptmlock.manifest.edit import set_role_default_text

            new_text = set_role_default_text(new_text, spec.role, spec.id)
        manifest = parse_manifest(new_text, manifest_path)
        try:
            outcome = _lock(manifest, jobs=jobs) if lock else None
        except HubError as e:
            raise type(e)(_for_add(str(e), previous is None)) from None
        _write_if_changed(manifest_path, new_text)
        now = manifest.get(spec.id)
        now = now if now is not None else spec
        before = parse_manifest(old_text, manifest_path).role_members().get(now.effective_role, [])
        gained = len(before) == 1 and before[0].id.casefold() != now.id.casefold()
        warning = manifest.role_warning(now.effective_role) if gained else None
        return AddOutcome(previous=previous, spec=now, lock=outcome, warning=warning)


def role_members(manifest: Manifest, role: str) -> list[ModelSpec]:
    """The members of `role` (each model outside `[roles]` is a role of its own).

    Raises:
        RoleError: no such role; the message names the closest one.
    """
    from ptmlock.errors import RoleError
    from ptmlock.names import closest

    roles = manifest.role_members()
    members = roles.get(role)
    if not members:
        guess = closest(role, roles)
        raise RoleError(f"No role {role!r} in {manifest.path.name}" + (f". Did you mean {guess!r}?" if guess else "")
                        + f" (roles: {', '.join(sorted(roles)) or 'none'}). `ptmlock add MODEL --role ROLE` puts a "
                        "model in a role.")
    return members


def set_role_default(manifest_path: Path, role: str, model_id: str, *,
                     on_wait: Callable[[str], None] | None = None) -> tuple[str, str | None]:
    """Make `model_id` (a member) the `default` of `[roles.<role>]` in the manifest (no network;
    ptm.lock does not record defaults, so it stays fresh). Returns (the member's id as declared,
    the previous default or None).

    Raises:
        RoleError: no such role (with the closest one), or `model_id` is not one of its members.
    """
    from ptmlock.errors import RoleError
    from ptmlock.manifest.edit import set_role_default_text

    with run_lock(manifest_path.parent, on_wait):
        old_text = read_text_exactly(manifest_path)
        manifest = load_manifest(manifest_path)
        members = role_members(manifest, role)
        member = next((m.id for m in members if m.id.casefold() == model_id.casefold()), None)
        if member is None:
            raise RoleError(f"{model_id} is not a member of role {role!r} (members: "
                            f"{', '.join(m.id for m in members)}). The default must be a member: "
                            f"`ptmlock add {model_id} --role {role}` adds it to the role first.")
        previous = next((r.default for r in manifest.roles if r.name == role), None)
        new_text = set_role_default_text(old_text, role, member)
        parse_manifest(new_text, manifest_path)
        _write_if_changed(manifest_path, new_text)
        return member, previous


_REMOVE_HINT = re.compile(r" ?\(`ptmlock remove [^`]+` drops it from ptm\.toml\)")


def _for_add(message: str, new: bool) -> str:
    """A hub error as `add` reports it: the entry was never written, so no `ptmlock remove`
    hint (issue 17, item 6), and a plain statement that nothing changed."""
    message = _REMOVE_HINT.sub("", message)
    what = "nothing was added to ptm.toml" if new else "ptm.toml was not changed"
    return f"{message.rstrip()} (`ptmlock add` stopped: {what} and ptm.lock is unchanged.)"


# A Hub page or file URL pasted instead of an id (issue 17, item 6):
# https://huggingface.co/org/name[/tree/REV[/dir]|/blob/REV/file|/resolve/REV/file]
_HUB_URL = re.compile(r"^https?://(?:www\.)?(?:huggingface\.co|hf\.co)/(?P<kind>datasets/)?"
                      r"(?P<id>[\w.-]+/[\w.-]+)(?:/(?:tree|blob|resolve|commit)/(?P<rev>[^/?#]+)[^?#]*)?/?(?:[?#].*)?$")


def hub_url_to_id(arg: str, endpoints: Collection[str] = ()) -> tuple[str, str | None, str | None] | None:
    """(`org/name`, revision or None, "dataset" or None) when `arg` is a Hugging Face page or file
    URL (huggingface.co, hf.co, or one of `endpoints`), else None."""
    m = _HUB_URL.match(arg)
    if m is None:
        for endpoint in endpoints:
            base = endpoint.rstrip("/")
            if base and arg.startswith(base + "/"):
                m = _HUB_URL.match("https://huggingface.co" + arg[len(base):])
                break
    if m is None:
        return None
    rev = m.group("rev")
    return m.group("id"), rev.replace("%2F", "/") if rev else None, "dataset" if m.group("kind") else None


def remove_model(
    manifest_path: Path,
    model_id: str,
    *,
    on_wait: Callable[[str], None] | None = None,
) -> tuple[list[str], bool]:
    """Drop `model_id` from the manifest and from ptm.lock (no network).

    Returns the notes on role tables touched and whether ptm.lock was rewritten.

    Raises:
        ManifestError: the model is not declared or the manifest is invalid.
    """
    with run_lock(manifest_path.parent, on_wait):
        old_text = read_text_exactly(manifest_path)  # CRLF kept: the edit keeps the file's newlines
        load_manifest(manifest_path)
        from ptmlock.manifest.edit import remove_model_text

        new_text, notes = remove_model_text(old_text, model_id)
        manifest = parse_manifest(new_text, manifest_path)
        old_lock = lock_state(manifest).readable()
        wrote_lock = False
        if old_lock is not None:
            kept = _without(old_lock.models, model_id)
            new_lock = with_roles(Lock(manifest_hash=old_lock.manifest_hash, models=kept), manifest)
            wrote_lock = write_lock(manifest.lock_path, new_lock)
        write_project_file(manifest_path, new_text)
        return notes, wrote_lock


def _without(models: tuple[LockedModel, ...], model_id: str) -> tuple[LockedModel, ...]:
    """`models` less `model_id` and every dependency no remaining model needs (transitively);
    a dependency still needed by others keeps only those parents and their reasons."""
    from ptmlock.deps.find import join_reasons, reasons_for

    gone = {model_id.casefold()}
    current = list(models)
    while True:
        kept: list[LockedModel] = []
        for m in current:
            if m.id.casefold() in gone:
                continue
            parents = tuple(p for p in m.required_by if p.casefold() not in gone)
            if m.required_by and not parents:
                gone.add(m.id.casefold())
                continue
            if parents != m.required_by:
                reason = join_reasons({(p, r) for p in parents for r in reasons_for(m.reason or "", p)})
                m = replace(m, required_by=parents, reason=reason or None)
            kept.append(m)
        if len(kept) == len(current):
            return tuple(kept)
        current = kept


def new_spec(model: str, *, role: str | None, hub: str | None, repo_type: str | None,
             files: tuple[str, ...]) -> ModelSpec:
    """The `ModelSpec` that `ptmlock add MODEL[@REV]` declares."""
    if hub in (None, DEFAULT_HUB):
        from ptmlock import settings

        pasted = hub_url_to_id(model, [settings.hf_endpoint("")])
        if pasted is not None:  # a Hub page URL is a model id, not a weight file
            model_id, revision, kind = pasted
            return ModelSpec(id=model_id, hub=DEFAULT_HUB, revision=revision, role=role,
                             repo_type=repo_type or kind or "model", files=files)
    model_id, revision = parse_model_arg(model, hub)
    if hub is None and model_id.startswith(("http://", "https://")):
        hub = HUB_URL  # `ptmlock add https://host/resnet18.pth` needs no --hub
    return ModelSpec(id=model_id, hub=hub or DEFAULT_HUB, revision=revision, role=role,
                     repo_type=repo_type or "model", files=files)


def _write_if_changed(path: Path, text: str) -> bool:
    try:
        if read_text_exactly(path) == text:
            return False
    except FileNotFoundError:
        pass
    write_project_file(path, text)
    return True


def _atomic_write(path: Path, text: str) -> None:
    from ptmlock._fs import atomic_write

    atomic_write(path, text)
