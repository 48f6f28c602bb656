"""Checks of the `[policy]` table that need the lock: every id an `allow-*` list names must be
a model of the project (declared, or a canonical or dependency id of ptm.lock).

The table itself is parsed once, with the manifest, into `ptmlock.manifest.model.Policy`.
"""
from __future__ import annotations

from collections.abc import Collection

from ptmlock.manifest.model import Allow, Manifest, Policy
from ptmlock.manifest.locate import Locator

__all__ = ["Allow", "Policy", "load_policy"]


def load_policy(manifest: Manifest, known_ids: Collection[str] = ()) -> Policy:
    """The manifest's `Policy`, once every id its `allow-*` lists name is known.

    `known_ids` are the ids an `allow-*` list may name besides the declared models (the lock's
    canonical and dependency ids).

    Raises:
        ManifestError: an id that names no model, with file:line:col.
    """
    policy = manifest.policy
    ids = {m.id.casefold() for m in manifest.models} | {i.casefold() for i in known_ids}
    for key, allow in policy.allows().items():
        unknown = [x for x in allow.named if x.casefold() not in ids]
        if unknown:
            loc = Locator(manifest.path.read_text(encoding="utf-8"), manifest.path)
            raise loc.error("policy", key,
                            f"'{key}' in [policy] names {', '.join(repr(x) for x in unknown)}, which is not a model "
                            "of this project. Use the id as declared in [models]", ())
    return policy
