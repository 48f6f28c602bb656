"""Surgical edits of `ptm.toml` for `ptmlock add` / `remove` (tomlkit).

Only the touched block changes: every comment, blank line and ordering elsewhere survives
byte for byte (pre-commit's autoupdate rewrites only `rev:` lines in the same spirit).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tomlkit

from ptmlock.constants import DEFAULT_GUARD_MODE, DEFAULT_HUB
from ptmlock.errors import ManifestError
from ptmlock.manifest.locate import norm_header
from ptmlock.manifest.parse import ModelSpec


def starter_manifest(name: str, policy: str = DEFAULT_GUARD_MODE) -> str:
    """The text of a new `ptm.toml` for project `name`."""
    return (
        "# ptm.toml: the pre-trained models this project depends on.\n"
        "# Edit by hand or with `ptmlock add` / `ptmlock remove`; `ptmlock lock` pins them in ptm.lock.\n"
        "\n"
        "[project]\n"
        f"name = {tomlkit.string(name).as_string()}\n"
        f'policy = "{policy}"          # runtime guard: off | warn | strict\n'
        "\n"
        "# [models.\"google-bert/bert-base-uncased\"]\n"
        '# revision = "main"          # branch, tag or commit; ptm.lock pins the commit\n'
        '# role = "text-encoder"      # models sharing a role are interchangeable\n'
        '# files = ["*.safetensors", "*.json", "*.txt"]\n'
    )


def add_model_text(text: str, spec: ModelSpec) -> str:
    """Return `text` with `spec` added, or its existing entry updated in place.

    Only the entry's own block changes; comments and layout elsewhere are kept byte for byte,
    newline style included (a CRLF file stays CRLF). A new entry goes after the last
    `[models."..."]` block (or before `[roles.*]`).
    """
    newline = _newline(text)
    return _restore_newlines(_add_lf(_lf(text), spec), newline)


def _newline(text: str) -> str:
    """The file's newline: CRLF when most of its line ends are CRLF (Windows), else LF."""
    crlf = text.count("\r\n")
    return "\r\n" if crlf and crlf >= text.count("\n") - crlf else "\n"


def _lf(text: str) -> str:
    return text.replace("\r\n", "\n")


def _restore_newlines(text: str, newline: str) -> str:
    # the edits work on LF text (tomlkit writes LF); a CRLF file gets its own line ends back
    return text.replace("\n", newline) if newline != "\n" else text


def _add_lf(text: str, spec: ModelSpec) -> str:
    doc = tomlkit.parse(text)
    models = doc.get("models", {})
    existing_key = next((k for k in models if k.casefold() == spec.id.casefold()), None)
    if existing_key is not None:
        entry = models[existing_key]
        _set_or_del(entry, "revision", spec.revision)
        for key, value, default in (("role", spec.role, None), ("hub", spec.hub, DEFAULT_HUB),
                                    ("type", spec.repo_type, "model")):
            if value is not None and value != default:
                entry[key] = value
        if spec.files:
            entry["files"] = list(spec.files)
        if spec.entries is not None:  # issue 26
            entry["entries"] = list(spec.entries)
        return tomlkit.dumps(doc)

    entry = tomlkit.table()
    for key, value, default in (("hub", spec.hub, DEFAULT_HUB), ("type", spec.repo_type, "model"),
                                ("revision", spec.revision, None), ("role", spec.role, None)):
        if value is not None and value != default:
            entry[key] = value
    if spec.files:
        entry["files"] = list(spec.files)
    if spec.entries is not None:  # issue 26: a torchhub model's entry points
        entry["entries"] = list(spec.entries)
    block = tomlkit.dumps({"models": {spec.id: entry}}).strip("\n").splitlines()
    if block and block[0].strip() == "[models]":  # tomlkit's super-table header
        block = block[1:]

    lines = text.splitlines()
    blocks = _blocks(lines)
    model_blocks = [b for b in blocks if b.header[:1] == ("models",)]
    if model_blocks:
        at = model_blocks[-1].content_end
    else:
        roles = next((b for b in blocks if b.header[:1] == ("roles",)), None)
        at = roles.start if roles is not None else len(lines)
    before, after = lines[:at], lines[at:]
    while before and not before[-1].strip() and at == len(lines):
        before.pop()
    new = before + ([""] if before and before[-1].strip() else []) + block
    if after:
        new += [""] if after[0].strip() else []
        new += after
    return "\n".join(new) + "\n"


def set_role_default_text(text: str, role: str, model_id: str) -> str:
    """Return `text` with `default = model_id` under `[roles.<role>]` (the table is added after
    the last block when missing); everything else is kept byte for byte, newline style included."""
    newline = _newline(text)
    lf = _lf(text)
    doc = tomlkit.parse(lf)
    roles = doc.get("roles")
    if roles is not None and role in roles:
        roles[role]["default"] = model_id
        return _restore_newlines(tomlkit.dumps(doc), newline)
    header = tomlkit.dumps({"roles": {role: {"default": model_id}}}).strip("\n").splitlines()
    block = [line for line in header if line.strip() != "[roles]"]
    lines = lf.rstrip("\n").splitlines()
    return _restore_newlines("\n".join([*lines, "", *block]) + "\n", newline)


def remove_model_text(text: str, model_id: str) -> tuple[str, list[str]]:
    """Return `text` without the entry `model_id`, and notes on role tables it touched.

    The entry's block goes with the comment lines directly above its header; everything else
    is kept byte for byte, newline style included. A `[roles.X] default` naming the model is dropped, and a role table
    left with no member is removed.

    Raises:
        ManifestError: the model is not declared.
    """
    newline = _newline(text)
    new, notes = _remove_lf(_lf(text), model_id)
    return _restore_newlines(new, newline), notes


def _remove_lf(text: str, model_id: str) -> tuple[str, list[str]]:
    doc = tomlkit.parse(text)
    models = doc.get("models", {})
    key = next((k for k in models if k.casefold() == model_id.casefold()), None)
    if key is None:
        declared = ", ".join(models) or "none"
        raise ManifestError(f"Model {model_id!r} is not in the manifest (declared: {declared}). Nothing was changed.")
    role = str(models[key].get("role", key))
    without = _remove_block(text, ("models", key))
    if without is None:  # not written as its own [models."id"] table (inline): let tomlkit do it
        models.remove(key)
        without = tomlkit.dumps(doc)
    text = without
    doc = tomlkit.parse(text)
    notes: list[str] = []
    remaining_roles = {str(v.get("role", k)) for k, v in doc.get("models", {}).items()}
    roles = doc.get("roles")
    if roles is not None and role in roles:
        if role not in remaining_roles:
            without = _remove_block(text, ("roles", role))
            text = without if without is not None else text
            notes.append(f"removed [roles.{role}]: it has no members left")
        elif str(roles[role].get("default", "")).casefold() == key.casefold():
            del roles[role]["default"]
            text = tomlkit.dumps(doc)
            notes.append(f"removed the default of [roles.{role}]: it named {key}")
    return text, notes


@dataclass(frozen=True)
class _Block:
    header: tuple[str, ...]
    start: int  # first line, including the comment lines attached directly above the header
    end: int  # first line of the next block
    content_end: int  # end, less trailing blank lines


def _blocks(lines: list[str]) -> list[_Block]:
    headers = [i for i, line in enumerate(lines) if line.lstrip().startswith("[")]
    starts = []
    for h in headers:
        s = h
        while s > 0 and lines[s - 1].lstrip().startswith("#"):
            s -= 1
        starts.append(s)
    out = []
    for n, h in enumerate(headers):
        end = starts[n + 1] if n + 1 < len(headers) else len(lines)
        content_end = end
        while content_end > h + 1 and not lines[content_end - 1].strip():
            content_end -= 1
        raw = lines[h].strip().lstrip("[").split("]")[0]
        out.append(_Block(norm_header(raw), starts[n], end, content_end))
    return out


def _remove_block(text: str, header: tuple[str, ...]) -> str | None:
    lines = text.splitlines()
    block = next((b for b in _blocks(lines) if b.header == header), None)
    if block is None:
        return None
    new = lines[: block.start] + lines[block.end :]
    while new and not new[-1].strip():
        new.pop()
    return "\n".join(new) + "\n" if new else ""


def _set_or_del(entry: Any, key: str, value: str | None) -> None:
    if value is None:
        if key in entry:
            del entry[key]
    else:
        entry[key] = value
