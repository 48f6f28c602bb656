"""The `signing` tables of `ptm.toml` (issue 16): validated with file:line:col and inherited onto
each model (project `[signing]` < `[roles.<r>] signing` < `[models."<id>"] signing`)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ptmlock.constants import HUB_HUGGINGFACE
from ptmlock.signing.policy import KEYS, build, merge, unknown_key

if TYPE_CHECKING:
    from ptmlock.manifest.model import ModelSpec
    from ptmlock.manifest.locate import Locator


def with_signing(models: Sequence[ModelSpec], data: Mapping[str, Any], loc: Locator) -> tuple[ModelSpec, ...]:
    """`models` with each one's effective `SigningPolicy` (None when nothing asks for one).

    Raises:
        ManifestError: a malformed signing table, or a signer required of a model whose hub has no
            repo to hold a signature; with the position of the table that is wrong.
    """
    project = _table(data.get("signing"), None, None, loc)
    roles = data.get("roles", {})
    models_raw = data.get("models", {})
    out: list[ModelSpec] = []
    for model in models:
        own_where = f'models."{model.id}"'
        own = _table(models_raw.get(model.id, {}).get("signing"), own_where, "signing", loc)
        role_where = f"roles.{model.role}" if model.role is not None else None
        role = (_table(roles.get(model.role, {}).get("signing"), role_where, "signing", loc)
                if role_where is not None and isinstance(roles.get(model.role), dict) else None)
        if own is False:
            out.append(model)
            continue
        layers = [t for t in (project, role, own) if isinstance(t, dict)]
        if not layers or (role is False and not isinstance(own, dict)):
            out.append(model)
            continue
        # report at the innermost table that contributed: that is where the fix goes
        where, key = ((own_where, "signing") if isinstance(own, dict) else
                      (role_where, "signing") if isinstance(role, dict) else ("signing", None))
        policy = build(merge(*layers))
        if isinstance(policy, str):
            raise loc.error(where, key, f"signing of {model.id!r}: {policy}", ())
        if model.hub != HUB_HUGGINGFACE:
            raise loc.error(own_where, None,
                            f"{model.id!r} (hub {model.hub!r}) must be signed ([{where}] asks for it), but only "
                            "Hugging Face repos carry a model.sig. Add `signing = false` to this model to exempt it",
                            ())
        out.append(replace(model, signing=policy))
    return tuple(out)


def _table(value: object, where: str | None, key: str | None, loc: Locator) -> dict[str, Any] | bool | None:
    """`value` checked as a signing table: `where` is the enclosing table (None: the top level);
    `key` is None for the project's own `[signing]` table, which cannot be `false`."""
    if value is None:
        return None
    if value is False and key is not None:
        return False
    if not isinstance(value, dict):
        what = "a table or false" if key is not None else "a table"
        raise loc.error(where, key or "signing",
                        f"signing must be {what}, such as {{ public-key = \"keys/acme.pem\" }}", ())
    bad = unknown_key(value)
    if bad is not None:
        table = f"{where}.signing" if where is not None else "signing"
        at = table if loc._header_line(table) is not None else where
        raise loc.error(at, bad, f"unknown key {bad!r} in [{table}]", KEYS)
    return value
