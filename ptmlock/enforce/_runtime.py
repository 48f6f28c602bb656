"""The guard's state, and `check()`: the one call every adapter makes for an intercepted load.

`activate()` runs on `import ptmlock.enforce`; it only finds ptm.lock and installs the import
hooks. The lock and manifest are read at the first intercepted load. A *scope* is one user-level
call (`from_pretrained`, `SentenceTransformer(...)`, `timm.create_model`, ...): every hub call
it makes for the same repo is decided again but reported and warned about once, and a refusal
raised inside it is raised again when the library swallowed or replaced it ("fail open").
"""
from __future__ import annotations

import _thread
import os
import sys
from _contextvars import ContextVar  # what `contextvars` re-exports, without its module

from ptmlock._select import find_lock, find_manifest_for
from ptmlock.constants import DEFAULT_GUARD_MODE, ENV_REPORT, LOCK_NAME, MANIFEST_NAME
from ptmlock.enforce._warning import PtmlockWarning
from ptmlock.enforce._where import site as _site
from ptmlock.enforce._where import user_frame, warn
from ptmlock.errors import GuardError, PtmlockError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs import time; `import ptmlock.enforce` must stay cheap
    from collections.abc import Callable
    from typing import Any

    from ptmlock.decide import Pin, Request, Verdict
    from ptmlock.lockfile.model import Lock, LockedModel
    from ptmlock.manifest.model import Manifest
    from ptmlock.pins import PinIndex

class _Project:
    def __init__(self, mode: str, index: PinIndex | None, report: str | None, manifest: Manifest | None = None,
                 lock: Lock | None = None) -> None:
        self.mode, self.report = mode, report
        self.index = index  # None: nothing to check against (no lock); loads pass
        self.manifest, self.lock = manifest, lock  # as read, for the adapters' own rules (trust-pickle)


class _Scope:
    __slots__ = ("library", "seen", "injected", "refusal", "passed", "revision")

    def __init__(self, library: str, passed: bool | None = None, revision: str | None = None) -> None:
        self.library = library
        # did the user's call pass a revision (None: not known), and which (see decide.chosen)
        self.passed, self.revision = passed, revision
        self.seen: dict[tuple[str, str, str], bool] = {}  # key -> a violation was already reported
        self.injected: dict[str, tuple[str, str, str]] = {}  # commit the guard injected -> for which key
        self.refusal: GuardError | None = None


_state_lock = _thread.RLock()
_on = False  # hooks installed and a mode other than "off" asked for
_enabled = True  # disable() / enable()
_disabled: ContextVar[bool] = ContextVar("ptmlock_disabled", default=False)
_scope: ContextVar[_Scope | None] = ContextVar("ptmlock_scope", default=None)
_env_mode: str | None = None
_lock_path: str | None = None
_manifest_path: str | None = None
_no_lock: str | None = None  # the message to give once when there is nothing to check against
_project: _Project | None = None
_said: set[str] = set()


def activate() -> None:
    """Turn the guard on (idempotent): find the project and install the import hooks.

    Raises:
        GuardError: `PTMLOCK_MODE` is not a mode, or the mode is strict and there is no ptm.lock.
    """
    global _on, _env_mode, _lock_path, _manifest_path, _no_lock
    with _state_lock:
        if _on:
            return
        _env_mode = _mode_from_env()
        if _env_mode == "off":
            return
        lock = find_lock()
        if lock is not None and not os.path.isfile(lock):
            _no_lock = f"PTMLOCK_LOCKFILE={lock} does not exist"
            lock = None
        _lock_path = lock
        _manifest_path = find_manifest_for(lock)
        if lock is None:
            _no_lock = (_no_lock or f"no {LOCK_NAME} in {os.getcwd()} or any parent directory") + (
                f" ({MANIFEST_NAME} is at {_manifest_path}: run `ptmlock lock` there)" if _manifest_path else
                " (run `ptmlock init` and `ptmlock lock` in the project, or set PTMLOCK_LOCKFILE)")
            if (_env_mode or getattr(_manifest_without_lock(), "guard_mode", None)) == "strict":
                raise GuardError(f"ptmlock runtime guard (strict): {_no_lock}.")
        from ptmlock.enforce import _adapters

        _adapters.install()
        _on = True
    report = os.environ.get(ENV_REPORT)
    if report:  # issue 13: one line per process that turned the guard on, so CI sees who ran unguarded
        _append(os.path.abspath(report), {
            "event": "guard-on", "pid": os.getpid(), "argv": list(getattr(sys, "orig_argv", sys.argv)),
            "executable": sys.executable, "mode": _env_mode, "lock": _lock_path})


def _mode_from_env() -> str | None:
    from ptmlock import settings
    from ptmlock.errors import SettingsError

    try:
        return settings.guard_mode()
    except SettingsError as e:  # the guard's own error type, as before (one parser: issue 17, item 5)
        raise GuardError(str(e)) from None


def _manifest_without_lock() -> Manifest | None:
    """ptm.toml when there is no ptm.lock beside it: None when there is none or it is invalid."""
    return _read_manifest(_manifest_path) if _manifest_path is not None else None


_manifests: dict[str, Manifest | None] = {}  # read once: for the mode at activation, then for the adapters


def _read_manifest(path: str) -> Manifest | None:
    from ptmlock.manifest.parse import load_manifest

    try:
        return _manifests[path] if path in _manifests else _manifests.setdefault(path, load_manifest(path))
    except PtmlockError:
        return _manifests.setdefault(path, None)


def _load_project() -> _Project:
    global _project
    if _project is not None:
        return _project
    with _state_lock:
        if _project is not None:
            return _project
        report = os.environ.get(ENV_REPORT) or None
        report = os.path.abspath(report) if report else None
        if _no_lock is not None:
            _project = _Project(_env_mode or DEFAULT_GUARD_MODE, None, report, manifest=_manifest_without_lock())
            return _project
        from ptmlock._select import load_project
        from ptmlock.pins import build_index

        try:
            manifest, lock = load_project(_lock_path, _manifest_path)
        except PtmlockError as e:
            if _env_mode == "strict":
                raise GuardError(f"ptmlock runtime guard (strict) cannot read the project: {e}") from None
            _project = _Project(_env_mode or DEFAULT_GUARD_MODE, None, report)
            _say_once(f"ptmlock runtime guard cannot read the project, so it checks nothing: {e}")
            return _project
        mode = _env_mode or (manifest.guard_mode if manifest is not None else None) or DEFAULT_GUARD_MODE
        _project = _Project(mode, build_index(manifest, lock), report, manifest=manifest, lock=lock)
        return _project


def project_files() -> tuple[Manifest | None, Lock | None]:
    """The ptm.toml and ptm.lock the guard checks against: the ones found when it was turned on,
    read once per process (either may be None). Adapters with rules of their own (the torch.load
    adapter's trust-pickle) read the project here, so every part of the guard sees the same one.

    Raises:
        GuardError: strict mode, and the project cannot be read.
    """
    project = _load_project()
    return project.manifest, project.lock


def project_mode() -> str:
    """The mode in force ("off", "warn" or "strict"); reads the project on first use."""
    if not _on:
        return "off"
    return _load_project().mode


def active() -> bool:
    """Cheap test adapters make before anything else: is the guard on for this call?"""
    return _on and _enabled and not _disabled.get()


# ---------------------------------------------------------------------------
# the decision


def check(repo_id: object, revision: object, *, library: str, repo_type: str | None = None,
          hub: str = "huggingface") -> Verdict | None:
    """Decide one intercepted load of `repo_id` at `revision`; None when the guard is off for it.

    Warns (`PtmlockWarning`, at the user's call site) and reports as the verdict says. A failure
    of the guard itself never reaches the program as anything but a `GuardError` (strict) or one
    warning, after which the load goes ahead unchecked (warn).

    Raises:
        GuardError: strict mode refuses the load. Nothing has been sent to the hub.
    """
    if not active() or not isinstance(repo_id, (str, os.PathLike)):
        return None
    try:
        return _check(repo_id, revision, library=library, repo_type=repo_type, hub=hub)
    except (GuardError, PtmlockWarning):  # a refusal, or `-W error::PtmlockWarning` asked for
        raise
    except Exception as e:  # issue 13: the guard must never break the program it guards
        guard_failed(f"checking {os.fspath(repo_id)!r}", e)
        return None


def guard_failed(what: str, error: BaseException) -> None:
    """Handle a bug or surprise inside the guard: one warning (warn mode), `GuardError` (strict).

    Raises:
        GuardError: in strict mode, since a load the guard could not check must not go ahead.
    """
    detail = f"{type(error).__name__}: {error}"
    if _env_mode == "strict" or (_project is not None and _project.mode == "strict"):
        raise GuardError(f"ptmlock runtime guard (strict) failed while {what} ({detail}); the load is refused. "
                         "Please report it with the library's version.") from error
    _say_once(f"ptmlock runtime guard failed while {what} ({detail}): this load is not checked. "
              "Please report it with the library's version.")


def _check(repo_id: str | os.PathLike[str], revision: object, *, library: str, repo_type: str | None,
           hub: str) -> Verdict | None:
    project = _load_project()
    if project.index is None or project.mode == "off":
        if _no_lock is not None and project.mode != "off":
            _say_once(f"ptmlock runtime guard checks nothing: {_no_lock}.")
        return None
    from ptmlock.decide import REFUSE, REWRITE, WARN, decide
    from ptmlock.enforce._caller import caller_request

    repo = os.fspath(repo_id)
    scope = _scope.get()
    request = caller_request(repo, revision, repo_type or "model", hub, scope)
    verdict = decide(request, project.index.find(request), project.mode)
    pin = verdict.pin
    if project.mode == "strict" and pin is not None and pin.commit is not None and verdict.action != REFUSE:
        from ptmlock.enforce._signed import require_signed  # issue 22: the recorded signature, verified again
        require_signed(pin, project.manifest, locked_entry, scope)
    key = (hub, request.repo_type, (pin.declared_id if pin is not None else repo).casefold())
    if verdict.action == REWRITE and scope is not None and verdict.revision is not None:
        scope.injected[verdict.revision] = key
    if scope is not None:
        if key in scope.seen and (scope.seen[key] or not verdict.violation):
            if verdict.action == REFUSE:
                raise scope.refusal or GuardError(verdict.message)
            return verdict
        scope.seen[key] = verdict.violation
    if verdict.action not in (WARN, REFUSE) and project.report is None:
        return verdict  # nothing to say: skip the stack walk
    lib = scope.library if scope is not None else library
    frame = user_frame()
    site = _site(frame)
    if verdict.action == REFUSE:
        error = GuardError(f"ptmlock refused to load {repo!r} (strict mode) at {site}: {verdict.message}")
        if scope is not None:
            scope.refusal = error
        _record(project, request, verdict, lib, site)
        raise error
    if verdict.action == WARN:
        warn(f"{verdict.message} [ptmlock guard, warn mode: load at {site}]", frame)
    _record(project, request, verdict, lib, site)
    return verdict


def pinned(repo_id: str, revision: object, repo_type: str, hub: str = "huggingface") -> Pin | None:
    """The pin of a locked model when `revision` asks for what the lock pins (no revision, the
    manifest's ref, or the locked commit); None otherwise, or when the guard checks nothing.
    Decides nothing and says nothing: for metadata calls, which load no bytes."""
    project = _load_project()
    if project.index is None or project.mode == "off":
        return None
    from ptmlock.decide import MATCHES_LOCK, PINNED, decide
    from ptmlock.enforce._caller import caller_request

    request = caller_request(repo_id, revision, repo_type, hub, _scope.get())
    pin = project.index.find(request)
    if pin is None or pin.commit is None or decide(request, pin, "warn").kind not in (PINNED, MATCHES_LOCK):
        return None
    return pin


_full_lock: list[Lock | None] = []  # ptm.lock with its file lists, read at the first offline answer


def locked_entry(pin: Pin) -> LockedModel | None:
    """`pin`'s entry of ptm.lock with its file list (read once).

    Raises:
        LockfileError: ptm.lock cannot be read.
    """
    if _lock_path is None:
        return None
    with _state_lock:
        if not _full_lock:
            from ptmlock.lockfile.read import load_lock

            _full_lock.append(load_lock(_lock_path))
    lock = _full_lock[0]
    for m in lock.models if lock is not None else ():
        if m.id == pin.declared_id and m.hub == pin.hub and m.repo_type == pin.repo_type and m.commit == pin.commit:
            return m
    return None


def _record(project: _Project, request: Request, verdict: Verdict, library: str, site: str) -> None:
    if project.report is not None:
        from ptmlock.enforce._report import load_record

        _append(project.report, load_record(request, verdict, library=library, site=site, mode=project.mode))


def _append(path: str, record: dict[str, Any]) -> None:
    from ptmlock.enforce._report import append_record

    try:
        append_record(path, record)
    except (OSError, ValueError) as e:  # bookkeeping must not break the program (issue 13)
        _say_once(f"ptmlock runtime guard cannot write its report {path} ({e}): records are lost.")


def _say_once(message: str) -> None:
    with _state_lock:
        if message in _said:
            return
        _said.add(message)
    warn(message, user_frame())


# ---------------------------------------------------------------------------
# scopes and switches


def scoped(library: str, revision: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A wrapper factory: the wrapped call is one load (one report record per repo it loads).

    `revision`: the wrapped function's revision argument; the scope then records whether the
    user's call passed one, so a library's own default is not taken for a choice (`_caller`)."""

    def factory(original: Callable[..., Any]) -> Callable[..., Any]:
        from ptmlock.enforce._caller import passed_argument  # when a library is patched, not at import

        read = passed_argument(original, revision) if revision is not None else None

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not active() or _scope.get() is not None:
                return original(*args, **kwargs)
            scope = _Scope(library, *(read(args, kwargs) if read is not None else (None, None)))
            token = _scope.set(scope)
            try:
                result = original(*args, **kwargs)
            except GuardError:
                raise
            except BaseException as e:
                if scope.refusal is not None:  # the library turned our refusal into its own error
                    raise scope.refusal from e
                raise
            finally:
                _scope.reset(token)
            if scope.refusal is not None:  # the library swallowed it ("fail open") and carried on
                raise scope.refusal
            return result

        return wrapper

    return factory


def disable() -> None:
    """Turn the guard off for the whole process until `enable()`."""
    global _enabled
    _enabled = False


def enable() -> None:
    """Turn the guard back on after `disable()`."""
    global _enabled
    _enabled = True


class disabled:
    """`with ptmlock.enforce.disabled():` turns the guard off inside the block, in this thread only."""

    def __init__(self) -> None:
        self._tokens: list[Any] = []

    def __enter__(self) -> disabled:
        self._tokens.append(_disabled.set(True))
        return self

    def __exit__(self, *exc: object) -> None:
        _disabled.reset(self._tokens.pop())


def is_enabled() -> bool:
    """True when loads in this thread are being checked right now."""
    return active()
