"""Which library versions each adapter was tested against, and saying so once when another is
installed (issue 13). Each adapter module declares `TESTED = (distribution, specifier)`; the
check runs when the adapter first patches a module of its library (so the library is imported
already and its `__version__` costs nothing), never on `import ptmlock.enforce`."""
from __future__ import annotations

import sys
from types import ModuleType  # types is loaded at interpreter start: no import cost

# adapter name -> (distribution, installed version or None, tested specifier, in range or None)
_checked: dict[str, tuple[str, str | None, str, bool | None]] = {}


def check_adapter(name: str, adapter: ModuleType, module: ModuleType) -> None:
    """Note the installed version of `adapter`'s library (once); warn when it is outside `TESTED`."""
    if name in _checked:
        return
    dist, spec = adapter.TESTED
    version = installed_version(module.__name__.partition(".")[0], dist)
    ok = in_range(version, spec)
    _checked[name] = (dist, version, spec, ok)
    if ok is False:
        from ptmlock.enforce._where import user_frame, warn

        warn(untested_message(dist, str(version), spec), user_frame())


def checked() -> dict[str, tuple[str, str | None, str, bool | None]]:
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


def in_range(version: str | None, spec: str) -> bool | None:
    """Whether `version` satisfies the specifier `spec` (pre-releases included); None when unknown."""
    if version is None:
        return None
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return SpecifierSet(spec, prereleases=True).contains(Version(version), prereleases=True)
    except InvalidVersion:
        return None


def untested_message(dist: str, version: str, spec: str) -> str:
    """The one-line warning for a library version outside the tested range."""
    return (f"ptmlock's hooks for {dist} were tested with {dist}{spec}, but {dist} {version} is installed: some "
            "of its model loads may not be checked. Run `ptmlock doctor` to see which hooks are in place.")
