"""`ptmlock init --from-code PATH`: a starter manifest from what `scan` finds (pure)."""
from __future__ import annotations

import os
import re
from collections.abc import Sequence

from ptmlock.constants import DEFAULT_GUARD_MODE
from ptmlock.manifest.edit import add_model_text, starter_manifest
from ptmlock.manifest.model import ModelSpec
from ptmlock.scan.scanner import Finding

_DECLARABLE_HUBS = ("huggingface", "torchhub")


def manifest_from_findings(name: str, findings: Sequence[Finding], policy: str = DEFAULT_GUARD_MODE) -> str:
    """The text of a `ptm.toml` declaring every literal model id in `findings`.

    Members of one alternatives group (a dict, list or `choices=` of ids) share a role: they
    are interchangeable, and the first one the code names is the role's default. Every other
    load gets a role of its own (no `role` key). A literal revision in code becomes the entry's
    `revision`. Dynamic loads and ids that are not hub repos (torchvision weights, open_clip
    tags) are listed as comments to declare by hand.
    """
    specs: dict[str, ModelSpec] = {}
    roles: dict[str, str] = {}  # role -> default
    notes: list[str] = []
    used_roles: set[str] = set()
    for f in sorted(findings, key=lambda f: (f.path, f.line, f.col)):
        where = f.location()
        if f.model_ids is None:
            notes.append(f"# dynamic load at {where} ({f.loader}): declare the models it can load by hand")
            continue
        ids = [i for i in f.model_ids if _declarable(f.hub, i)]
        for other in (i for i in f.model_ids if not _declarable(f.hub, i)):
            notes.append(f"# {other} at {where} ({f.loader}): declare its weight URL with hub = \"url\"")
        role = None
        if len(ids) > 1:
            role = _role_name(ids, f.library, used_roles)
            used_roles.add(role)
            roles[role] = ids[0]
        for model_id in ids:
            key = model_id.casefold()
            old = specs.get(key)
            if old is not None and (old.role is not None or role is None):
                continue
            revision = f.revision if f.hub == "huggingface" else None
            specs[key] = ModelSpec(id=model_id, hub=f.hub, revision=revision, role=role, repo_type=f.repo_type)
    text = starter_manifest(name, policy)
    for spec in specs.values():
        text = add_model_text(text, spec)
    for role, default in roles.items():
        text += f'\n[roles.{role}]\ndefault = "{default}"\n'
    if notes:
        text += "\n# Found by `ptmlock scan` but not declared:\n" + "\n".join(dict.fromkeys(notes)) + "\n"
    return text


def _declarable(hub: str, model_id: str) -> bool:
    """Hub repos, torch.hub repos, and real weight URLs (torchvision's, found by `scan.identity`);
    not the pseudo-ids of weights the identity table does not know (`torchvision:x`, `open_clip:x/y`)."""
    return hub in _DECLARABLE_HUBS or (hub == "url" and model_id.startswith(("https://", "http://")))


def _role_name(ids: Sequence[str], library: str, used: set[str]) -> str:
    names = [i.rsplit("/", 1)[-1].casefold() for i in ids]
    prefix = os.path.commonprefix(names)
    base = re.sub(r"[^a-z0-9]+", "-", prefix).strip("-")
    base = base if len(base) >= 3 else f"{library.replace('_', '-')}-models"
    role, n = base, 2
    while role in used:
        role, n = f"{base}-{n}", n + 1
    return role
