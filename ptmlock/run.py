"""`ptmlock run -- CMD...`: run a program under the runtime guard without editing it.

The child gets a private directory first on `PYTHONPATH` holding a `sitecustomize.py` that does
`import ptmlock.enforce` before the program's first line (then runs whatever `sitecustomize` it
shadows), plus `PTMLOCK_LOCKFILE` set to the project's lock, so every Python process it starts
that inherits the environment and imports `site` with `PYTHONPATH` honoured is guarded too,
wherever its working directory is. Python started with `-I`, `-E` or `-S`, or with an
environment that drops `PYTHONPATH`, is not (docs/guard.md, "Which processes are guarded");
`--report` gets one `guard-on` line from each process that is. Arguments pass through untouched and the
child's exit code is returned (128 + N when a signal N ended it).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import ptmlock
from ptmlock._select import find_lock, find_manifest_for
from ptmlock.constants import (
    DEFAULT_GUARD_MODE,
    ENV_LOCKFILE,
    ENV_MODE,
    ENV_REPORT,
    LOCK_NAME,
)
from ptmlock.errors import GuardError, PtmlockError

_SITECUSTOMIZE = '''\
"""Written by `ptmlock run`: turn the ptmlock runtime guard on before the program starts."""
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
try:
    try:
        import ptmlock.enforce
    except ImportError:  # another interpreter than ptmlock's: use ptmlock's own copy
        sys.path.append({package_parent!r})
        import ptmlock.enforce
except Exception as e:  # a strict guard that cannot start must stop the program, not warn about it
    sys.stderr.write("error: " + str(e) + "\\n")
    sys.stderr.flush()
    os._exit(getattr(e, "exit_code", 1))

# Run the sitecustomize this one shadows (a distribution's or the virtualenv's), if any.
import importlib.machinery
import importlib.util

_spec = importlib.machinery.PathFinder.find_spec("sitecustomize", [p for p in sys.path if p and
                                                                      os.path.abspath(p) != _here])
if _spec is not None and _spec.loader is not None:
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)
'''


class CommandNotFoundError(PtmlockError):
    """The command given to `ptmlock run` does not exist or cannot be executed."""

    exit_code = 127  # what a shell answers for a command it cannot find


def guarded_env(*, mode: str | None = None, report: str | Path | None = None, lockfile: str | Path | None = None,
                site_dir: str | Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a guarded child runs with (pure: reads nothing but its arguments)."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join([str(site_dir), *filter(None, [env.get("PYTHONPATH")])])
    if lockfile is not None:
        env[ENV_LOCKFILE] = str(Path(lockfile).resolve())
    if mode is not None:
        env[ENV_MODE] = mode
    if report is not None:
        env[ENV_REPORT] = str(Path(report).resolve())
    return env


def run_guarded(command: Sequence[str], *, mode: str | None = None, report: str | Path | None = None,
                lockfile: str | Path | None = None) -> int:
    """Run `command` with the runtime guard on in every Python process it starts; return its exit code.

    Raises:
        GuardError: the mode is strict and there is no ptm.lock to enforce.
        CommandNotFoundError: `command` cannot be executed.
    """
    lock = str(lockfile) if lockfile is not None else find_lock()
    if lock is not None and not os.path.isfile(lock):
        lock = None
    if lock is None and effective_mode(mode)[0] == "strict":
        raise GuardError(f"`ptmlock run` in strict mode needs a {LOCK_NAME}, and none was found (looked at "
                         f"{os.environ.get(ENV_LOCKFILE) or os.getcwd() + ' and its parents'}). Run `ptmlock lock` "
                         "in the project, or pass --mode warn.")
    site_dir = tempfile.mkdtemp(prefix="ptmlock-run-")
    try:
        package_parent = str(Path(ptmlock.__file__).resolve().parent.parent)
        Path(site_dir, "sitecustomize.py").write_text(_SITECUSTOMIZE.format(package_parent=package_parent),
                                                      encoding="utf-8")
        env = guarded_env(mode=mode, report=report, lockfile=lock, site_dir=site_dir)
        try:
            child = subprocess.Popen(list(command), env=env)
        except (FileNotFoundError, PermissionError) as e:
            raise CommandNotFoundError(f"Cannot run {command[0]!r}: {e.strerror}. Check the command after `--`.") \
                from None
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the child's to handle
        try:
            code = child.wait()
        finally:
            signal.signal(signal.SIGINT, previous)
        return code if code >= 0 else 128 - code
    finally:
        shutil.rmtree(site_dir, ignore_errors=True)


def effective_mode(mode: str | None) -> tuple[str, str]:
    """The guard mode that applies here, and where it comes from: `mode` (a command-line flag),
    else `PTMLOCK_MODE`, else the manifest's `policy`, else "warn"."""
    if mode is not None:
        return mode, "--mode"
    env = os.environ.get(ENV_MODE)
    if env:
        return env.strip().lower(), ENV_MODE
    manifest = find_manifest_for(None)
    if manifest is None:
        return DEFAULT_GUARD_MODE, "default"
    from ptmlock.manifest.parse import load_manifest

    try:
        mode = load_manifest(manifest).guard_mode
    except PtmlockError:
        return DEFAULT_GUARD_MODE, "default"
    return (mode, f"policy in {manifest}") if mode else (DEFAULT_GUARD_MODE, "default")
