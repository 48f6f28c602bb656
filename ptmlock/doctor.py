"""`ptmlock doctor`: what the runtime guard would do in this environment, and why (issue 13).

`diagnose()` gathers: ptmlock's version, the Hugging Face settings that change what a load does
(endpoint, home, cache, offline flags; whether a token is configured, never the token), the
manifest and lock the guard would use and whether the lock is fresh, the mode that would apply,
and for each adapter of the guard: its library's installed version against the release lines CI
tests it with, and (unless `probe=False`) whether every hook went in, found by importing the
library under the guard in a child interpreter. Only a hook that failed is a problem: an
untested version whose hooks all went in is reported, not failed (issue 21). Nothing here imports `ptmlock.enforce` (that
would turn the guard on in this process): the child reads the adapters' tables.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# The child: turn the guard on, read each adapter's tested range and the installed version, and
# (argv[1] == "probe") import every module an adapter hooks and say what went wrong. A child,
# because importing ptmlock.enforce turns the guard on (and, strict without a lock, refuses to).
# issue 22: the child runs isolated (`-I`: no current folder, PYTHONPATH or user site on sys.path)
# in a folder outside the project, so a `json.py` or `huggingface_hub.py` of the project is never
# imported. argv: mode, ptmlock's own folder (loaded from there alone), then the absolute
# PYTHONPATH entries and the user site-packages (which -I leaves out) that lie outside the project.
_PROBE = """
import site, sys
_mode, _home, _extra = sys.argv[1], sys.argv[2], sys.argv[3:]
for _entry in _extra:
    site.addsitedir(_entry)  # with its .pth files (the user site's included)
sys.path[0:0] = _extra  # first, where PYTHONPATH would be, had -I not dropped it
import importlib.util
_spec = importlib.util.spec_from_file_location("ptmlock", _home + "/__init__.py", submodule_search_locations=[_home])
_pkg = importlib.util.module_from_spec(_spec)
sys.modules["ptmlock"] = _pkg
_spec.loader.exec_module(_pkg)
import importlib, json, warnings
warnings.simplefilter("ignore")
import ptmlock.enforce
from ptmlock.enforce import _adapters, _hooks
from ptmlock.enforce._versions import installed_version, tested_status
tables, problems = {}, {}
for name in _adapters.ADAPTER_NAMES:
    dist, lines = importlib.import_module("ptmlock.enforce." + name).TESTED
    version = installed_version("", dist)
    tables[name] = [dist, list(lines), version, tested_status(version, lines)]
if _mode == "probe":
    for module, adapter in _adapters.TARGETS.items():
        if tables[adapter][2] is None:
            continue
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:  # an optional dependency it needs is missing: nothing loads through it
            if (e.name or "").partition(".")[0] == module.partition(".")[0]:
                problems.setdefault(adapter, []).append(f"{module}: cannot be imported (ModuleNotFoundError: {e})")
        except Exception as e:
            problems.setdefault(adapter, []).append(f"{module}: cannot be imported ({type(e).__name__}: {e})")
    for failure in _hooks.failures():
        module = failure.partition(":")[0]
        problems.setdefault(_adapters.TARGETS.get(module, "?"), []).append(failure)
print(json.dumps({"tables": tables, "problems": problems if _mode == "probe" else None}))
"""


@dataclass(frozen=True)
class LibraryStatus:
    """One library the guard hooks, as installed here."""

    adapter: str  # ptmlock.enforce.<adapter>
    distribution: str
    installed: str | None  # None: not installed
    tested: str  # the X.Y release lines CI tests the adapter with, e.g. "4.57, 5.23"
    in_tested_range: bool | None  # on a tested X.Y line; None: not installed, or a version packaging cannot read
    tested_status: str  # "tested", "same major line", "untested major line" or "unknown" (_versions)
    hooked: bool | None  # every hook went in; None: not installed or not probed
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Diagnosis:
    """The environment as the runtime guard sees it."""

    ptmlock_version: str
    python: str
    settings: dict[str, Any]  # HF_ENDPOINT, HF_HOME, HF_HUB_CACHE, offline flags, token_configured
    manifest: str | None
    lock: str | None
    lock_fresh: bool | None  # None: no manifest to compare with
    lock_problems: tuple[str, ...]
    mode: str
    mode_source: str
    libraries: tuple[LibraryStatus, ...] = field(default_factory=tuple)

    @property
    def problems(self) -> list[str]:
        """Everything that keeps the guard from doing its whole job, one line each."""
        out = [f"ptm.lock: {p}" for p in self.lock_problems]
        for lib in self.libraries:  # an untested version whose hooks went in is no problem (issue 21)
            out.extend(f"{lib.adapter} ({lib.distribution}): {p}" for p in lib.problems)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, keys sorted by the caller."""
        data = asdict(self)
        data["libraries"] = [asdict(lib) for lib in self.libraries]
        data["problems"] = self.problems
        return data


def diagnose(*, probe: bool = True, environ: dict[str, str] | None = None) -> Diagnosis:
    """Describe this environment for the runtime guard; `probe=False` skips importing the libraries."""
    from ptmlock import __version__
    from ptmlock._select import find_lock, find_manifest_for
    from ptmlock.run import effective_mode

    env = dict(os.environ if environ is None else environ)
    lock = find_lock()
    if lock is not None and not os.path.isfile(lock):
        lock = None
    manifest = find_manifest_for(lock)
    fresh, lock_problems = _freshness(manifest, lock)
    mode, source = effective_mode(None)
    return Diagnosis(
        ptmlock_version=__version__, python=f"{sys.version.split()[0]} ({sys.executable})", settings=_settings(env),
        manifest=manifest, lock=lock, lock_fresh=fresh, lock_problems=tuple(lock_problems), mode=mode,
        mode_source=source, libraries=_libraries(probe))


def _settings(env: dict[str, str]) -> dict[str, Any]:
    from ptmlock.output import redact

    home = env.get("HF_HOME") or str(Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface")
    token_path = env.get("HF_TOKEN_PATH") or str(Path(home) / "token")
    return {
        "HF_ENDPOINT": redact(env.get("HF_ENDPOINT") or "https://huggingface.co"),
        "HF_HOME": home,
        "HF_HUB_CACHE": env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE") or str(Path(home) / "hub"),
        "HF_HUB_OFFLINE": _truthy(env.get("HF_HUB_OFFLINE")),
        "TRANSFORMERS_OFFLINE": _truthy(env.get("TRANSFORMERS_OFFLINE")),
        # whether one is configured (gated and private models need it); its value is never read out
        "token_configured": bool(env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN")) or os.path.isfile(token_path),
    }


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _freshness(manifest: str | None, lock: str | None) -> tuple[bool | None, list[str]]:
    from ptmlock.errors import PtmlockError
    from ptmlock.lockfile.fresh import lock_state
    from ptmlock.lockfile.read import load_lock
    from ptmlock.manifest.parse import load_manifest

    if lock is None:
        return (False, ["not found: run `ptmlock lock`"]) if manifest is not None else (None, ["not found"])
    try:
        if manifest is None:
            load_lock(lock)  # readable at all?
            return None, []
        state = lock_state(load_manifest(manifest))
    except PtmlockError as e:
        return False, [str(e)]
    return state.fresh, list(state.differences) if state.differences else ([] if state.fresh else [state.message()])


def _libraries(probe: bool) -> tuple[LibraryStatus, ...]:
    answer = _child(probe)
    problems: dict[str, list[str]] | None = answer.get("problems")
    return tuple(LibraryStatus(
        adapter=name, distribution=dist, installed=version, tested=", ".join(lines),
        in_tested_range=None if status == "unknown" else status == "tested", tested_status=status,
        hooked=None if problems is None or version is None else not problems.get(name),
        problems=tuple(problems.get(name, ())) if problems is not None else ())
        for name, (dist, lines, version, status) in answer["tables"].items())


def _child(probe: bool) -> dict[str, Any]:
    """Run `_PROBE`.

    Raises:
        PtmlockError: the child could not run or answered nonsense (its stderr says why).
    """
    import ptmlock
    from ptmlock.errors import PtmlockError

    env = {**os.environ, "PTMLOCK_MODE": "warn", "PTMLOCK_REPORT": ""}
    home = str(Path(ptmlock.__file__).resolve().parent)
    stderr = ""
    try:
        with tempfile.TemporaryDirectory(prefix="ptmlock-doctor-") as cwd:
            proc = subprocess.run([sys.executable, "-I", "-c", _PROBE, "probe" if probe else "versions", home,
                                   *_outside_project(env.get("PYTHONPATH"))], capture_output=True, text=True,
                                  env=env, cwd=cwd, timeout=900)
        stderr = proc.stderr.strip()
        answer: dict[str, Any] = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
        return answer
    except (OSError, subprocess.SubprocessError, IndexError, ValueError) as e:
        last = stderr.splitlines()[-1] if stderr else f"{type(e).__name__}: {e}"
        raise PtmlockError(f"ptmlock doctor could not inspect the libraries: {last}") from None


def _outside_project(pythonpath: str | None) -> list[str]:
    """The PYTHONPATH entries (and the user site-packages) the probe may import from: absolute
    folders that are neither the current folder, nor inside it, nor above it (a relative entry
    names the current folder)."""
    import site

    here = Path.cwd().resolve()
    out = []
    user_site = [site.getusersitepackages()] if site.ENABLE_USER_SITE else []
    for entry in [*(pythonpath or "").split(os.pathsep), *user_site]:
        if not entry or not os.path.isabs(entry):
            continue
        path = Path(entry).resolve()
        if path == here or here in path.parents or path in here.parents or not path.is_dir():
            continue
        out.append(str(path))
    return out
