"""`[[source]]` tables of `ptm.toml`: where `sync` may fetch locked files from (issue 15).

```toml
[[source]]
name = "fleet"
url = "oci://registry.internal:5000/models"   # oci+http:// only for this machine
priority = 10                                  # lower is tried first; ties keep file order
credentials-env = { token = "PTMLOCK_OCI_FLEET_TOKEN" }   # optional: this source's own variables

[[source]]
name = "hf"
url = "hub"                                    # each model's own hub
priority = 20

[[source]]
name = "mlops"
url = "oci://registry.internal/mlops"
models = { "org/bert" = "mlops/bert:v3", "org/gpt" = "mlops/gpt@sha256:..." }  # artifacts of other tools
```
"""
from __future__ import annotations

import re
from typing import Any

from ptmlock.errors import ManifestError
from ptmlock.manifest.model import SourceSpec

_KEYS = ("credentials-env", "insecure", "models", "name", "priority", "url")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def parse_sources(raw: object, loc: Any) -> tuple[SourceSpec, ...]:
    """Validate the `[[source]]` array: sources in the order sync tries them.

    Raises:
        ManifestError: with file:line:col of the offending table or key.
    """
    if not isinstance(raw, list):
        raise _error(loc, None, None, "`source` must be an array of tables, written [[source]]")
    if not raw:
        return ()
    from ptmlock.oci.auth import credentials_env_problem
    from ptmlock.oci.layout import parse_registry_url

    specs: list[SourceSpec] = []
    for i, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise _error(loc, i, None, "each [[source]] must be a table")
        for key in entry:
            if key not in _KEYS:
                raise _error(loc, i, key, f"unknown key {key!r} in [[source]]; known keys: {', '.join(_KEYS)}")
        name, url = entry.get("name"), entry.get("url")
        if not isinstance(name, str) or not _NAME.match(name):
            raise _error(loc, i, "name", "[[source]] needs a `name` of letters, digits, '-', '_', '.'")
        if any(s.name == name for s in specs):
            raise _error(loc, i, "name", f"two [[source]] tables are named {name!r}; names must be unique")
        priority, insecure = entry.get("priority", 0), entry.get("insecure", False)
        if not isinstance(priority, int) or isinstance(priority, bool):
            raise _error(loc, i, "priority", "`priority` must be an integer (lower is tried first)")
        if not isinstance(insecure, bool):
            raise _error(loc, i, "insecure", "`insecure` must be true or false")
        if not isinstance(url, str):
            raise _error(loc, i, "url", 'each [[source]] needs a `url`: "oci://HOST[:PORT]/NAMESPACE" or "hub"')
        if url != "hub":
            try:
                parse_registry_url(url, insecure=insecure)
            except ValueError as e:
                raise _error(loc, i, "url", str(e)) from None
        names = entry.get("credentials-env")
        if names is not None:
            problem = "a hub source takes no credentials-env" if url == "hub" else credentials_env_problem(names)
            if problem:
                raise _error(loc, i, "credentials-env", problem)
        models = entry.get("models", {})
        if not isinstance(models, dict) or (models and url == "hub"):
            raise _error(loc, i, "models", "`models` maps model ids to references in the registry, "
                                           'e.g. models = { "org/bert" = "team/bert:v1" }; not for url = "hub"')
        from ptmlock.oci.layout import split_reference

        for model_id, ref in models.items():
            try:
                split_reference(ref)
            except ValueError as e:
                raise _error(loc, i, "models", f"models.{model_id!r}: {e}") from None
        specs.append(SourceSpec(name=name, url=url, priority=priority, insecure=insecure,
                                credentials_env=tuple(sorted((names or {}).items())),
                                models=tuple(sorted((str(k), str(v)) for k, v in models.items()))))
    order = sorted(range(len(specs)), key=lambda n: (specs[n].priority, n))
    return tuple(specs[n] for n in order)


def _error(loc: Any, index: int | None, key: str | None, what: str) -> ManifestError:
    """`path:line:col: what.`, pointing at the `index`-th [[source]] (and its `key`)."""
    lines: list[str] = loc.lines
    headers = [n for n, line in enumerate(lines) if re.match(r"^\s*\[\[\s*source\s*\]\]", line)]
    line, col = (headers[0] + 1 if headers else 1), 1
    if index is not None and index < len(headers):
        start = headers[index]
        line = start + 1
        end = next((n for n in range(start + 1, len(lines)) if lines[n].lstrip().startswith("[")), len(lines))
        for n in range(start + 1, end):
            m = re.match(r"^(\s*)" + re.escape(key or "\0") + r"\s*=", lines[n])
            if m:
                line, col = n + 1, len(m.group(1)) + 1
                break
    return ManifestError(f"{loc.path}:{line}:{col}: {what.rstrip('.')}.")
