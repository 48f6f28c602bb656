"""Which library releases each adapter was tested with, and saying so only when it helps (issues 13, 21).

Each adapter module declares `TESTED = (distribution, (release lines))`, the `X.Y` lines CI runs
(`.ci/run`: the main venv and the 4.x venv), e.g. `("transformers", ("4.57", "5.23"))`.
Whether an adapter hooked cleanly is decided by its hooks (the hooked function is there, with
the parameters the hook reads: see `_hooks.ArgSpec.require`), never by a version number. The
guard says one thing per library per process, and only when it is worth saying:

- a hook could not go in: "could not hook", naming the module and the reason;
- every hook went in, but the installed major line (`2` of torch 2.13) was never tested:
  "never tested with";
- otherwise (a tested line, or another release of a tested major line): nothing.

The check runs when an adapter first patches a module of its library (so the library is
imported already and its `__version__` costs nothing), never on `import ptmlock.enforce`.
"""
from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

# adapter name -> (distribution, installed version or None, tested release lines, status)
_checked: dict[str, tuple[str, str | None, tuple[str, ...], str]] = {}
_said: set[str] = set()  # distributions the guard already said something about

TESTED_LINE, TESTED_MAJOR, UNTESTED_MAJOR, UNKNOWN = "tested", "same major line", "untested major line", "unknown"


def check_adapter(name: str, adapter: ModuleType, module: ModuleType) -> None:
    """Note the installed version of `adapter`'s library (once); warn (once per library) when
    its major line was never tested."""
    if name in _checked:
        return
    dist, lines = adapter.TESTED
    version = installed_version(module.__name__.partition(".")[0], dist)
    status = tested_status(version, lines)
    _checked[name] = (dist, version, tuple(lines), status)
    if status == UNTESTED_MAJOR:
        _say(dist, f"ptmlock's hooks went into {dist} {version}, but were never tested with {dist} "
                   f"{_major(str(version))}.x (tested: {tested_text(dist, lines)}): check that model loads are "
                   "pinned, and run `ptmlock doctor`.")


def hook_failed(adapter: ModuleType, module: ModuleType, error: BaseException) -> None:
    """Warn (once per library) that `adapter` could not hook `module`."""
    dist, lines = adapter.TESTED
    version = installed_version(module.__name__.partition(".")[0], dist)
    _say(dist, f"ptmlock could not hook {module.__name__} of {dist} {version or '(unknown version)'} "
               f"({type(error).__name__}: {error}): model loads through it may not be checked. ptmlock was tested "
               f"with {tested_text(dist, lines)}. Run `ptmlock doctor`, and please report it with the library's "
               "version.")


def _say(dist: str, message: str) -> None:
    if dist in _said:
        return
    _said.add(dist)
    from ptmlock.enforce._where import user_frame, warn

    warn(message, user_frame())


def checked() -> dict[str, tuple[str, str | None, tuple[str, ...], str]]:
    """What `check_adapter` found so far, by adapter name."""
    return dict(_checked)


def installed_version(top_module: str, dist: str) -> str | None:
    """The version of `dist`: its imported top module's `__version__`, else the installed metadata."""
    version = getattr(sys.modules.get(top_module), "__version__", None)
    if isinstance(version, str):
        return version
    from importlib import metadata

    try:
        return metadata.version(dist)
    except (metadata.PackageNotFoundError, ValueError):
        return None


def tested_status(version: str | None, lines: tuple[str, ...] | list[str]) -> str:
    """`TESTED_LINE` when `version` is on a tested `X.Y` line, `TESTED_MAJOR` when only its major
    line was tested, `UNTESTED_MAJOR` otherwise; `UNKNOWN` for no or an unreadable version."""
    release = _release(version)
    if release is None:
        return UNKNOWN
    tested = [tuple(int(p) for p in line.split(".")) for line in lines]
    if any(release[:len(t)] == t for t in tested):
        return TESTED_LINE
    return TESTED_MAJOR if any(release[0] == t[0] for t in tested) else UNTESTED_MAJOR


def _release(version: str | None) -> tuple[int, ...] | None:
    if version is None:
        return None
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version).release
    except InvalidVersion:
        return None


def _major(version: str) -> str:
    release = _release(version)
    return str(release[0]) if release else version


def tested_text(dist: str, lines: tuple[str, ...] | list[str]) -> str:
    """E.g. "transformers 4.57 and 5.23"."""
    return f"{dist} {' and '.join(lines)}"
