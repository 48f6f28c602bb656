"""torch.load of hub files: pickle weights load with `weights_only=True` unless the model opted out.

Every library that reads `.bin` / `.pt` / `.ckpt` weights ends in `torch.serialization.load`
(bound as `torch.load`; transformers, diffusers, sentence-transformers and timm all call it).
When the file lies in a Hugging Face cache snapshot (`.../models--org--name/snapshots/<commit>/...`,
the layout `ptmlock sync` and the hub client write), the guard calls torch with
`weights_only=True` whatever the caller asked, so a tampered pickle cannot run code (issue 12,
item 6). A model opts out with `trust-pickle = true` on its `[models."..."]` entry or through
`[policy] allow-pickle`; then the caller's own arguments stand, and in strict mode the file must
have passed `ptmlock audit --deep` (its sha256 recorded by `ptmlock.supply.pickles.passed`),
else the load is refused. Local files outside the hub cache pass untouched.
"""
from __future__ import annotations

import _thread
import os
import re

from ptmlock.enforce._hooks import ArgSpec, wrap_function
from ptmlock.enforce._runtime import active, project_files, project_mode
from ptmlock.enforce._warning import PtmlockWarning
from ptmlock.errors import GuardError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType
    from typing import Any

LIBRARY = "torch"
# The distribution and the X.Y release lines CI runs this hook with (.ci/run; see _versions).
TESTED = ("torch", ("2.14",))
_SNAPSHOT = re.compile(r"(?:^|[\\/])(models|datasets|spaces)--([^\\/]+)[\\/]snapshots[\\/]([0-9a-f]{40})[\\/](.+)$")
_state_lock = _thread.allocate_lock()
_opted_out: dict[str, bool] | None = None  # casefolded repo id -> model opted out of weights_only
_digests: dict[tuple[str, int, int, int, int], str] = {}
_said: set[str] = set()


def hub_file(path: object) -> tuple[str, str, str] | None:
    """(repo id, commit, file path) when `path` is a file of a Hugging Face cache snapshot, else None."""
    if not isinstance(path, (str, os.PathLike)):
        path = getattr(path, "name", None)  # an open file
        if not isinstance(path, str):
            return None
    m = _SNAPSHOT.search(os.fspath(path))
    if m is None:
        return None
    return m.group(2).replace("--", "/"), m.group(3), m.group(4)


def _load_opt_outs() -> dict[str, bool]:
    global _opted_out
    with _state_lock:
        if _opted_out is not None:
            return _opted_out
        found: dict[str, bool] = {}
        try:
            from ptmlock.supply.rules import load_policy

            manifest, lock = project_files()  # the project the guard checks against, read once
            if manifest is not None:
                models = lock.models if lock is not None else ()
                policy = load_policy(manifest, [i for m in models for i in (m.id, m.canonical)])
                for spec in manifest.models:
                    found[spec.id.casefold()] = spec.trust_pickle or policy.allow_pickle.permits(spec.id)
                for m in models:
                    trusted = found.get(m.id.casefold(), False) or policy.allow_pickle.permits(m.id, m.canonical)
                    found[m.id.casefold()] = found[m.canonical.casefold()] = trusted
        except Exception:  # noqa: BLE001 -- an unreadable project opts nothing out (the safe side), and
            found = {}  # the guard never raises into user code in warn mode
        _opted_out = found
        return found


def _sha256(path: str) -> str:
    from ptmlock.supply.pickles.passed import sha256_of

    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    with _state_lock:
        known = _digests.get(key)
    if known is None:
        known = sha256_of(path)
        with _state_lock:
            _digests[key] = known
    return known


def _say_once(message: str) -> None:
    import warnings

    with _state_lock:
        if message in _said:
            return
        _said.add(message)
    warnings.warn(message, PtmlockWarning, stacklevel=4)


def _guard_load(original: Callable[..., Any]) -> Callable[..., Any]:
    spec = ArgSpec(original, needs=("f",))

    def load(*args: Any, **kwargs: Any) -> Any:
        if not active():
            return original(*args, **kwargs)
        where = hub_file(spec.get(args, kwargs, "f"))
        if where is None:
            return original(*args, **kwargs)
        repo, _commit, name = where
        if _load_opt_outs().get(repo.casefold(), False):
            if project_mode() == "strict":
                _require_audit(spec.get(args, kwargs, "f"), repo, name)
            return original(*args, **kwargs)
        if spec.get(args, kwargs, "weights_only") is False:
            _say_once(f"ptmlock loads {repo}/{name} with torch.load(weights_only=True) although the caller asked for "
                      f"weights_only=False: pickles from the hub run no code unless the model opts in (set "
                      f"trust-pickle = true on [models.\"{repo}\"] in ptm.toml, after `ptmlock audit --deep`).")
        args, kwargs = spec.set(args, kwargs, "weights_only", True)
        if spec.get(args, kwargs, "pickle_module") is not None:
            args, kwargs = spec.set(args, kwargs, "pickle_module", None)  # torch refuses one with weights_only
        try:
            return original(*args, **kwargs)
        except Exception as e:
            add_note = getattr(e, "add_note", None)  # Python 3.11+
            if add_note is not None and ("weights_only" in str(e) or "Weights only" in str(e)):
                add_note(f"ptmlock: {repo}/{name} was loaded with weights_only=True because the model has no "
                           f"trust-pickle = true in ptm.toml; see `ptmlock audit --deep`.")
            raise

    return load


def _require_audit(f: object, repo: str, name: str) -> None:
    from ptmlock.supply.pickles.passed import has_passed

    path = f if isinstance(f, (str, os.PathLike)) else getattr(f, "name", "")
    try:
        passed = has_passed(_sha256(os.fspath(path)))
    except OSError:
        passed = False
    if not passed:
        raise GuardError(f"ptmlock refused to unpickle {repo}/{name} (strict mode): the model has trust-pickle but "
                         "this file has not passed `ptmlock audit --deep`. Run `ptmlock sync` and `ptmlock audit "
                         "--deep` in the project, then load it again.")


def _patch_serialization(module: ModuleType) -> None:
    wrap_function(module, "load", _guard_load)


PATCHES = {"torch.serialization": _patch_serialization}
