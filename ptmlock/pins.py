"""The project's pins, indexed by every name a program may load them under.

A model matches by its declared id, the canonical id the hub answered at lock time (so a repo
renamed before locking matches both names), the legacy root-level ids the Hub moved to
organisations (`bert-base-uncased` is `google-bert/bert-base-uncased`: `scan.identity.legacy_alias`),
and, for a bare declared name, the `sentence-transformers/` prefix that library adds.
Matching is case-insensitive, as the Hub's is.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ptmlock.decide import Pin, Request
from ptmlock.scan.identity import legacy_alias

if TYPE_CHECKING:
    from ptmlock.lockfile.model import Lock, LockedModel
    from ptmlock.manifest.model import Manifest, ModelSpec

ST_PREFIX = "sentence-transformers/"


def split_torchhub(repo: str) -> tuple[str, str | None]:
    """`owner/repo[:ref]` -> (`owner/repo`, ref or None), as torch.hub parses it."""
    name, sep, ref = repo.partition(":")
    return name, (ref if sep else None)


class PinIndex:
    """Pins by (hub, repo type, folded id) for every name they answer to."""

    def __init__(self, pins: Iterable[Pin]) -> None:
        self._by_key: dict[tuple[str, str, str], Pin] = {}
        self.pins = tuple(pins)
        for pin in self.pins:  # declared ids first: they win over another model's alias
            self._add(pin, pin.declared_id)
        for pin in self.pins:
            for name in (pin.canonical_id, legacy_alias(pin.declared_id),
                         legacy_alias(pin.canonical_id) if pin.canonical_id else None):
                if name:
                    self._add(pin, name)
            if pin.hub == "huggingface" and "/" not in pin.declared_id:
                self._add(pin, ST_PREFIX + pin.declared_id)

    def _add(self, pin: Pin, name: str) -> None:
        self._by_key.setdefault(_key(pin.hub, pin.repo_type, name), pin)

    def find(self, request: Request) -> Pin | None:
        """The pin `request` loads, or None when the project does not list it."""
        found = self._by_key.get(_key(request.hub, request.repo_type, request.repo_id))
        if found is None and request.hub == "huggingface":
            alias = legacy_alias(request.repo_id)
            if alias is not None:
                found = self._by_key.get(_key(request.hub, request.repo_type, alias))
        return found

    def __len__(self) -> int:
        return len(self.pins)


def _key(hub: str, repo_type: str, name: str) -> tuple[str, str, str]:
    if hub == "torchhub":
        name = split_torchhub(name)[0]
    elif hub == "url":
        return hub, "model", name
    return hub, repo_type, name.casefold()


def build_index(manifest: Manifest | None, lock: Lock | None) -> PinIndex:
    """Pins for every model ptm.toml declares (with its lock entry, if any) and every dependency
    ptm.lock pins for them; with no manifest, every model of the lock."""
    if manifest is None:
        return PinIndex(_from_locked(m) for m in (lock.models if lock is not None else ()))
    top: dict[str, LockedModel] = {}
    deps: list[LockedModel] = []
    for m in lock.models if lock is not None else ():
        if m.required_by:
            deps.append(m)
        else:
            top.setdefault(m.id.casefold(), m)
    pins = [_from_spec(spec, top.get(spec.id.casefold())) for spec in manifest.models]
    pins.extend(_from_locked(m) for m in _needed(deps, {spec.id.casefold() for spec in manifest.models}))
    return PinIndex(pins)


def _needed(deps: list[LockedModel], declared: set[str]) -> list[LockedModel]:
    # issue 7: a dependency is allowed only while a chain of `required-by` reaches a model ptm.toml
    # declares; one whose parent was removed from the manifest is not (until `ptmlock lock` drops it)
    allowed = set(declared)
    left = list(deps)
    grew = True
    while grew:
        now = [m for m in left if any(r.casefold() in allowed for r in m.required_by)]
        allowed.update(m.id.casefold() for m in now)
        left = [m for m in left if not any(m is n for n in now)]
        grew = bool(now)
    return [m for m in deps if m.id.casefold() in allowed]


def _from_spec(spec: ModelSpec, locked: LockedModel | None) -> Pin:
    requested = _requested(spec.hub, spec.id, spec.revision)
    if locked is None:
        return Pin(spec.id, spec.hub, spec.repo_type, requested)
    stale = []
    if locked.hub != spec.hub:
        stale.append(f"hub is {spec.hub!r} in ptm.toml but {locked.hub!r} in ptm.lock")
    if locked.repo_type != spec.repo_type:
        stale.append(f"type is {spec.repo_type!r} in ptm.toml but {locked.repo_type!r} in ptm.lock")
    if locked.requested != spec.revision:
        stale.append(f"revision is {_show(spec.revision)} in ptm.toml but {_show(locked.requested)} in ptm.lock")
    else:
        from ptmlock.lockfile.model import commit_pin_problem  # issue 22: a full-commit pin is provable offline

        pinned_elsewhere = commit_pin_problem(spec.revision, locked.commit)
        if pinned_elsewhere is not None:
            stale.append(pinned_elsewhere)
    if spec.signing is not None and (locked.signature is None or locked.signature.policy != spec.signing.key()):
        # issue 16: the strict guard refuses a model whose required signature `lock` did not verify
        stale.append(f"ptm.toml requires a signature by the {spec.signing.describe()}, which ptm.lock does not "
                     "record as verified")
    return Pin(spec.id, spec.hub, spec.repo_type, requested, locked.commit, locked.canonical_id,
               "; ".join(stale) or None)


def _from_locked(m: LockedModel) -> Pin:
    return Pin(m.id, m.hub, m.repo_type, _requested(m.hub, m.id, m.requested), m.commit, m.canonical_id,
               required_by=m.required_by)


def _requested(hub: str, model_id: str, revision: str | None) -> str | None:
    if hub == "torchhub" and revision is None:
        return split_torchhub(model_id)[1]
    return revision


def _show(value: str | None) -> str:
    return "unset" if value is None else repr(value)
