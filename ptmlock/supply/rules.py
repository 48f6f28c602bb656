"""The `[policy]` table of ptm.toml -> `Policy`, with file:line messages for bad values.

```toml
[policy]
allow-pickle = false                 # or true, or ["org/legacy-model"]: those models only
allow-remote-code = ["org/custom"]   # same forms; default false
allow-gated = true                   # same forms; default true
licenses = ["apache-2.0", "mit"]     # allow-list; absent = no license rule
```
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ptmlock.manifest.model import Manifest
from ptmlock.manifest.parse import Locator, type_name

# The defaults, documented in docs/supply-chain.md. Gated repos are an access and terms
# question, not code execution, so they pass unless a project opts in to refuse them.
DEFAULT_ALLOW_PICKLE = False
DEFAULT_ALLOW_REMOTE_CODE = False
DEFAULT_ALLOW_GATED = True


@dataclass(frozen=True)
class Allow:
    """One `allow-*` key: allowed for every model (`everyone`), or for the listed ids only."""

    everyone: bool
    models: frozenset[str] = frozenset()  # casefolded ids

    def permits(self, *ids: str) -> bool:
        """True when any of `ids` (declared or canonical id) is allowed."""
        return self.everyone or any(i.casefold() in self.models for i in ids)


@dataclass(frozen=True)
class Policy:
    """The audit rules of one project."""

    allow_pickle: Allow = Allow(DEFAULT_ALLOW_PICKLE)
    allow_remote_code: Allow = Allow(DEFAULT_ALLOW_REMOTE_CODE)
    allow_gated: Allow = Allow(DEFAULT_ALLOW_GATED)
    licenses: tuple[str, ...] | None = None  # None: no license rule

    def license_allowed(self, license_id: str) -> bool:
        """True when `license_id` is in the allow-list (case-insensitive) or there is no list."""
        if self.licenses is None:
            return True
        return license_id.casefold() in {x.casefold() for x in self.licenses}


def load_policy(manifest: Manifest, known_ids: Collection[str] = ()) -> Policy:
    """Validate `manifest.policy_table` and return the `Policy`.

    `known_ids` are the ids an `allow-*` list may name besides the declared models (the lock's
    canonical and dependency ids).

    Raises:
        ManifestError: a value of the wrong type, or an id that names no model, with file:line:col.
    """
    table = manifest.policy_table
    if not table:
        return Policy()
    text = manifest.path.read_text(encoding="utf-8")
    loc = Locator(text, manifest.path)
    ids = {m.id.casefold() for m in manifest.models} | {i.casefold() for i in known_ids}
    allows = {
        key: _allow(table, key, default, loc, ids)
        for key, default in (("allow-pickle", DEFAULT_ALLOW_PICKLE), ("allow-remote-code", DEFAULT_ALLOW_REMOTE_CODE),
                             ("allow-gated", DEFAULT_ALLOW_GATED))
    }
    licenses: tuple[str, ...] | None = None
    if "licenses" in table:
        raw = table["licenses"]
        if not isinstance(raw, list) or not all(isinstance(x, str) and x.strip() for x in raw):
            raise loc.error("policy", "licenses",
                            f"'licenses' in [policy] must be an array of license ids such as [\"apache-2.0\", \"mit\"], "
                            f"not {_describe(raw)}", ())
        licenses = tuple(x.strip() for x in raw)
    return Policy(allow_pickle=allows["allow-pickle"], allow_remote_code=allows["allow-remote-code"],
                  allow_gated=allows["allow-gated"], licenses=licenses)


def _allow(table: Mapping[str, Any], key: str, default: bool, loc: Locator, ids: set[str]) -> Allow:
    if key not in table:
        return Allow(default)
    raw = table[key]
    if isinstance(raw, bool):
        return Allow(raw)
    if isinstance(raw, list) and all(isinstance(x, str) and x for x in raw):
        unknown = [x for x in raw if x.casefold() not in ids]
        if unknown:
            raise loc.error("policy", key,
                            f"'{key}' in [policy] names {', '.join(repr(x) for x in unknown)}, which is not a model "
                            "of this project. Use the id as declared in [models]", ())
        return Allow(False, frozenset(x.casefold() for x in raw))
    raise loc.error("policy", key,
                    f"'{key}' in [policy] must be true, false or an array of model ids, not {_describe(raw)}", ())


def _describe(value: object) -> str:
    if isinstance(value, list):
        bad = next((x for x in value if not isinstance(x, str) or not x.strip()), None)
        return f"an array containing {type_name(bad)} ({bad!r})"
    return f"{type_name(value)} ({value!r})"
