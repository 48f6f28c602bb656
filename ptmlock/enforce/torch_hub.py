"""torch.hub: `load`, `list` and `help` of GitHub repos (`torchhub` models), and weights by URL
(`url` models) through `load_state_dict_from_url` and `download_url_to_file`.

Every repo load goes through `torch.hub._get_cache_or_reload(github, ...)`, before anything is
downloaded and before torch probes github.com for a default branch: a listed repo is rewritten
there to `owner/repo:<locked commit>` (so torch uses `<hub_dir>/<owner>_<repo>_<commit>`, which
`ptmlock sync` fills), and an unlisted one is refused in strict mode with no request.

A URL is decided as a `url` model (listed or not). For a listed one the bytes are checked
against the sha256 in ptm.lock before torch reads them: a file already in the checkpoint
directory when `load_state_dict_from_url` is called, and every file `download_url_to_file`
fetches (in strict mode torch is given the locked sha256 as `hash_prefix`, so it discards other
bytes before they reach their destination). Digests are cached per process by (path, size,
mtime, ctime, inode), so a second load of the same file costs a `stat`.
"""
from __future__ import annotations

import _thread
import os
import time
from contextvars import ContextVar

from ptmlock.enforce._hooks import ArgSpec, wrap_function, wrap_methods
from ptmlock.enforce._runtime import active, check, pinned, project_mode, scoped

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

    from ptmlock.decide import Verdict

LIBRARY = "torch.hub"
# The distribution and the X.Y release lines CI runs these hooks with (.ci/run; see _versions).
TESTED = ("torch", ("2.14",))

# Inside `_get_cache_or_reload`: its zipball download belongs to the repo, not to a url model.
_fetching_repo: ContextVar[bool] = ContextVar("ptmlock_torch_repo", default=False)
_digests: dict[tuple[str, int, int, int, int], str] = {}
_digests_lock = _thread.allocate_lock()


def _guard_repo(original: Callable[..., Any]) -> Callable[..., Any]:
    spec = ArgSpec(original, needs=("github",))

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        github = spec.get(args, kwargs, "github")
        if active() and isinstance(github, str):
            repo, sep, ref = github.partition(":")
            verdict = check(repo, ref if sep else None, library=LIBRARY, hub="torchhub")
            if verdict is not None and verdict.action == "rewrite":
                args, kwargs = spec.set(args, kwargs, "github", f"{repo}:{verdict.revision}")
        token = _fetching_repo.set(True)
        try:
            return original(*args, **kwargs)
        finally:
            _fetching_repo.reset(token)

    return wrapper


# --- url models


def locked_sha256(verdict: Verdict | None) -> str | None:
    """The sha256 ptm.lock pins for the URL a verdict is about, when the load is allowed as pinned."""
    if verdict is None or verdict.pin is None or verdict.violation:
        return None
    commit = verdict.pin.commit
    return commit if commit is not None and len(commit) == 64 else None


def _repin(url: str) -> str:
    """What `ptmlock lock --upgrade` names to re-pin `url`: the URL itself, or (issue 26) the
    torchhub model whose hubconf.py downloads it, when it is locked as that model's dependency."""
    try:
        pin = pinned(url, None, "model", hub="url")
    except Exception:  # only a hint in a message: never a reason to fail the load
        return url
    return pin.required_by[0] if pin is not None and pin.required_by else url


def file_digest(path: str) -> str:
    """The sha256 of the file at `path`, cached by (real path, size, mtime, ctime, inode) for this process."""
    import hashlib

    real = os.path.realpath(path)
    st = os.stat(real)
    key = (real, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)  # any write changes ctime
    with _digests_lock:
        cached = _digests.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    with open(real, "rb") as f:
        while chunk := f.read(8 * 1024 * 1024):
            h.update(chunk)
    digest = h.hexdigest()
    with _digests_lock:
        _digests[key] = digest
    return digest


def verify_url_file(url: str, path: str, want: str, library: str, *, remove: bool = False) -> None:
    """Check that the file at `path`, about to be loaded for `url`, has the locked sha256 `want`.

    On a mismatch, strict mode raises (removing the file first when `remove`, i.e. the guarded
    call just downloaded it); warn mode warns and lets the load go ahead.

    Raises:
        GuardError: strict mode and other bytes.
    """
    from ptmlock.enforce._where import site as where
    from ptmlock.enforce._where import user_frame, warn
    from ptmlock.errors import GuardError

    got = file_digest(path)
    if got == want:
        return
    frame = user_frame()
    site = where(frame)
    message = (f"{path} is not the file ptm.lock pins for {url!r}: its sha256 is {got}, the lock has {want}. "
               f"Run `ptmlock sync` to restore the pinned bytes, or `ptmlock lock --upgrade {_repin(url)}` if the "
               "new bytes are intended.")
    if project_mode() == "strict":
        if remove:
            try:
                os.unlink(path)
            except OSError:
                pass
        raise GuardError(f"ptmlock refused to load {url!r} (strict mode) at {site}: {message}")
    warn(f"{message} [ptmlock guard, warn mode: load at {site}]", frame)


def guard_url(library: str, url_arg: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrapper factory for a function that downloads one weight file by URL and returns its path
    (open_clip's `download_pretrained_from_url`): decide the URL as a `url` model, then check the
    returned file against the lock before the caller reads it."""

    def factory(original: Callable[..., Any]) -> Callable[..., Any]:
        spec = ArgSpec(original)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            url = spec.get(args, kwargs, url_arg)
            want = locked_sha256(check(url, None, library=library, hub="url")) if active() else None
            start = time.time_ns() - 20_000_000  # file times come from a coarser clock
            result = original(*args, **kwargs)
            if want is not None and isinstance(result, str) and os.path.isfile(result):
                # a file written by this very call is removed when refused: nothing is left behind
                verify_url_file(url, result, want, library, remove=os.stat(result).st_mtime_ns >= start)
            return result

        return scoped(library)(wrapper)

    return factory


def _guard_state_dict(hub: ModuleType) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def factory(original: Callable[..., Any]) -> Callable[..., Any]:
        spec = ArgSpec(original, needs=("url",))

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if active():
                url = spec.get(args, kwargs, "url")
                want = locked_sha256(check(url, None, library=LIBRARY, hub="url"))
                if want is not None and isinstance(url, str):
                    cached = _checkpoint_path(hub, url, spec.get(args, kwargs, "model_dir"),
                                              spec.get(args, kwargs, "file_name"))
                    if os.path.isfile(cached):  # torch would load it as is, without downloading
                        verify_url_file(url, cached, want, LIBRARY)
            return original(*args, **kwargs)

        return scoped(LIBRARY)(wrapper)

    return factory


def _checkpoint_path(hub: ModuleType, url: str, model_dir: object, file_name: object) -> str:
    # as load_state_dict_from_url names it (torch/hub.py, 2.14)
    from urllib.parse import urlparse

    directory = model_dir if isinstance(model_dir, str) else os.path.join(hub.get_dir(), "checkpoints")
    name = file_name if isinstance(file_name, str) else os.path.basename(urlparse(url).path)
    return os.path.join(directory, name)


def _guard_download(original: Callable[..., Any]) -> Callable[..., Any]:
    spec = ArgSpec(original, needs=("url", "dst"))

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not active() or _fetching_repo.get():
            return original(*args, **kwargs)
        url, dst = spec.get(args, kwargs, "url"), spec.get(args, kwargs, "dst")
        want = locked_sha256(check(url, None, library=LIBRARY, hub="url"))
        if want is None or not isinstance(url, str) or not isinstance(dst, str):
            return original(*args, **kwargs)
        if project_mode() == "strict":
            args, kwargs = spec.set(args, kwargs, "hash_prefix", want)
            try:
                return original(*args, **kwargs)
            except RuntimeError as e:
                if "invalid hash value" not in str(e):
                    raise
                from ptmlock.errors import GuardError

                raise GuardError(f"ptmlock refused to load {url!r} (strict mode): the server sent other bytes than "
                                 f"ptm.lock pins (sha256 {want}); torch discarded them. If the new bytes are intended, "
                                 f"re-pin them with `ptmlock lock --upgrade {_repin(url)}`.") from None
        result = original(*args, **kwargs)
        verify_url_file(url, os.path.expanduser(dst), want, LIBRARY)
        return result

    return scoped(LIBRARY)(wrapper)


def _patch_hub(module: ModuleType) -> None:
    wrap_function(module, "_get_cache_or_reload", _guard_repo)
    wrap_methods(module, ((None, "load"), (None, "list"), (None, "help")), scoped(LIBRARY))
    wrap_function(module, "load_state_dict_from_url", _guard_state_dict(module))
    wrap_function(module, "download_url_to_file", _guard_download)


PATCHES = {"torch.hub": _patch_hub}
