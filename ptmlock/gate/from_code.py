"""`ptmlock init --from-code PATH`: a starter manifest from what `scan` finds (pure)."""
from __future__ import annotations

import os
import re
from dataclasses import replace
from collections.abc import Callable, Mapping, Sequence

from ptmlock.constants import DEFAULT_GUARD_MODE
from ptmlock.manifest.edit import add_model_text, starter_manifest
from ptmlock.manifest.model import ModelSpec
from ptmlock.scan.scanner import Finding

TORCHHUB = "torchhub"
_DECLARABLE_HUBS = ("huggingface", TORCHHUB)


def manifest_from_findings(name: str, findings: Sequence[Finding], policy: str = DEFAULT_GUARD_MODE,
                           entries: Mapping[str, tuple[str, ...] | None] | None = None) -> str:
    """The text of a `ptm.toml` declaring every literal model id in `findings`.

    Members of one alternatives group (a dict, list or `choices=` of ids) share a role: they
    are interchangeable, and the first one the code names is the role's default. Groups that
    share an id (one dict used by a tokenizer and a model load, or two lists naming the same
    model) are one role. Every other load gets a role of its own (no `role` key). A literal
    revision in code becomes the entry's `revision`. Dynamic loads and ids that are not hub repos
    (torchvision weights, open_clip tags) are listed as comments to declare by hand. `entries`
    (casefolded torchhub repo -> entry points, from `torchhub_entries`) becomes a torchhub
    model's `entries`, so that `lock` pins only the weight URLs of the entry points the code loads.
    """
    loads: list[tuple[Finding, list[str]]] = []
    notes: list[str] = []
    for f in sorted(findings, key=lambda f: (f.path, f.line, f.col)):
        where = f.location()
        if f.model_ids is None:
            notes.append(f"# dynamic load at {where} ({f.loader}): declare the models it can load by hand")
            continue
        loads.append((f, [i for i in f.model_ids if _declarable(f.hub, i)]))
        for other in (i for i in f.model_ids if not _declarable(f.hub, i)):
            notes.append(f"# {other} at {where} ({f.loader}): declare its weight URL with hub = \"url\"")
    role_of = _roles([(f.library, ids) for f, ids in loads if len(ids) > 1])
    specs: dict[str, ModelSpec] = {}
    for f, ids in loads:
        for model_id in ids:
            key = model_id.casefold()
            revision = f.revision if f.hub == "huggingface" else None
            old = specs.get(key)
            if old is None:  # the first load of an id decides its hub (and revision, if it names one)
                specs[key] = ModelSpec(id=model_id, hub=f.hub, revision=revision, role=role_of.get(key),
                                       repo_type=f.repo_type,
                                       entries=(entries or {}).get(key) if f.hub == TORCHHUB else None)
            elif old.revision is None and revision is not None and old.hub == f.hub:
                specs[key] = replace(old, revision=revision)
    text = starter_manifest(name, policy)
    for spec in specs.values():
        text = add_model_text(text, spec)
    defaults: dict[str, str] = {}
    for spec in specs.values():  # a role's default: the first member the code names
        if spec.role is not None:
            defaults.setdefault(spec.role, spec.id)
    for role, default in defaults.items():
        text += f'\n[roles.{role}]\ndefault = "{default}"\n'
    if notes:
        text += "\n# Found by `ptmlock scan` but not declared:\n" + "\n".join(dict.fromkeys(notes)) + "\n"
    return text


def _roles(groups: Sequence[tuple[str, Sequence[str]]]) -> dict[str, str]:
    """Casefolded id -> role name: groups that share an id are merged into one role."""
    component: dict[str, int] = {}  # casefolded id -> index into members
    members: list[list[str] | None] = []
    libraries: list[str] = []
    for library, ids in groups:
        keys = list(dict.fromkeys(i.casefold() for i in ids))
        joined = sorted({component[k] for k in keys if k in component})
        if joined:
            target = joined[0]
            merged = members[target]
            assert merged is not None
            for other in joined[1:]:
                merged.extend(k for k in members[other] or () if k not in merged)
                members[other] = None
        else:
            target = len(members)
            members.append([])
            libraries.append(library)
            merged = members[target]
            assert merged is not None
        merged.extend(k for k in keys if k not in merged)
        for k in merged:
            component[k] = target
    role_of: dict[str, str] = {}
    used: set[str] = set()
    for group, library in zip(members, libraries):
        if group:
            role = _role_name(group, library, used)
            used.add(role)
            role_of.update((k, role) for k in group)
    return role_of


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


def torchhub_entries(findings: Sequence[Finding], read: Callable[[str], str | None]) -> dict[str, tuple[str, ...] | None]:
    """issue 26: casefolded torchhub repo -> the entry points the code passes to `torch.hub.load`
    (sorted), or None when one call's entry point is not a literal (then every entry point
    counts). `read(path)` gives a file's text (None: unreadable); each file is parsed once."""
    import ast

    trees: dict[str, ast.Module | None] = {}
    out: dict[str, set[str] | None] = {}
    for f in findings:
        if f.hub != TORCHHUB or not f.model_ids:
            continue
        if f.path not in trees:
            text = read(f.path) if f.cell is None else None
            try:
                trees[f.path] = ast.parse(text) if text is not None else None
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                trees[f.path] = None
        entry = _entry_at(trees[f.path], f.line, f.col)
        for repo in f.model_ids:
            key = repo.casefold()
            known = out.get(key, set())
            out[key] = None if entry is None or known is None else known | {entry}
    return {k: (None if v is None else tuple(sorted(v))) for k, v in out.items()}


def _entry_at(tree: object, line: int, col: int) -> str | None:
    """The literal entry point (2nd argument, or `model=`) of the call at `line:col`, or None."""
    import ast

    if not isinstance(tree, ast.Module):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.lineno == line and node.col_offset + 1 == col:
            value = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg == "model"), None)
            if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value.isidentifier():
                return value.value
            return None
    return None
