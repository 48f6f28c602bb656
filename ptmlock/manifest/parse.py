"""`ptm.toml` -> `Manifest`: parsing, validation with file:line:col, and surgical edits.

Reading validates everything and raises `ManifestError` with the position and the fix.
Edits (`ptmlock add` / `remove`) live in `ptmlock.manifest.edit`.
"""
from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ptmlock.constants import (
    DEFAULT_HUB,
    GUARD_MODES,
    HUB_TORCHHUB,
    HUBS,
    MANIFEST_NAME,
    REPO_TYPES,
)
from ptmlock.errors import ManifestError
from ptmlock.manifest.model import (
    DEFAULT_ALLOW_GATED,
    DEFAULT_ALLOW_PICKLE,
    DEFAULT_ALLOW_REMOTE_CODE,
    Allow,
    Manifest,
    ModelSpec,
    Policy,
    RoleSpec,
    ToolSettings,
)
from ptmlock.manifest.locate import Locator, norm_header
from ptmlock.names import model_id_problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = None

_PROJECT_KEYS = ("name", "policy")
_MODEL_KEYS = ("entries", "files", "hub", "revision", "role", "signing", "trust-pickle", "type")
_ROLE_KEYS = ("default", "signing")
_TOP_KEYS = ("models", "policy", "project", "roles", "signing", "source", "tool")
_TOOL_KEYS = ("exclude", "scan-sources")
_SCAN_SOURCES = ("python", "notebook", "config", "shell")
# The `[policy]` table: the supply-chain rules of `ptmlock audit` (not the guard mode).
_POLICY_KEYS = ("allow-gated", "allow-pickle", "allow-remote-code", "licenses")

# ASCII only, as huggingface_hub's validate_repo_id (issue 11: `org/modèle` was exit 70)
_ROLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]*$")
_GLOBAL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*[.:][A-Za-z_][A-Za-z0-9_.]*")


def find_manifest(start: str | Path | None = None) -> Path:
    """Return the nearest `ptm.toml` at or above `start` (default: the current directory).

    Raises:
        ManifestError: no `ptm.toml` in `start` or any parent.
    """
    here = Path(start if start is not None else Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / MANIFEST_NAME
        if candidate.is_file():
            return candidate
    raise ManifestError(
        f"No {MANIFEST_NAME} found in {here} or any parent directory. "
        f"Run `ptmlock init` to create one, or pass --manifest PATH."
    )


def load_manifest(path: str | Path) -> Manifest:
    """Read and validate the manifest at `path`.

    Raises:
        ManifestError: unreadable file, TOML syntax error or invalid content, with file:line:col.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{p}: file not found. Run `ptmlock init` to create a manifest.") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"{p}: cannot read the manifest ({e}).") from e
    return parse_manifest(text, p)


def parse_manifest(text: str, path: str | Path = MANIFEST_NAME) -> Manifest:
    """Validate manifest `text` (read from `path`, used in messages) and return a `Manifest`.

    Raises:
        ManifestError: with `path:line:col`, what is wrong and how to fix it.
    """
    p = Path(path)
    data = _parse_toml(text, p)
    loc = Locator(text, p)

    for key in data:
        if key not in _TOP_KEYS:
            raise loc.error(None, key, f"unknown top-level key {key!r}", _TOP_KEYS)

    project = _table(data, "project", loc, None)
    for key in project:
        if key not in _PROJECT_KEYS:
            raise loc.error("project", key, f"unknown key {key!r} in [project]", _PROJECT_KEYS)
    name = _opt_str(project, "name", loc, "project")
    # `[project] policy` is the guard mode (the key predates the `[policy]` table; SPEC.md keeps it)
    guard_mode = _opt_str(project, "policy", loc, "project")
    if guard_mode is not None and guard_mode not in GUARD_MODES:
        raise loc.error("project", "policy", f"the guard mode `policy` must be one of {', '.join(GUARD_MODES)}, "
                                             f"not {guard_mode!r}", ())
    policy = _parse_policy(_table(data, "policy", loc, None), loc)

    tool = _parse_tool(_table(data, "tool", loc, None), loc)

    models_table = _table(data, "models", loc, None)
    models: list[ModelSpec] = []
    seen: dict[str, str] = {}
    for model_id, entry in models_table.items():
        where = f'models."{model_id}"'
        if not isinstance(entry, dict):
            raise loc.error("models", model_id, f"[{where}] must be a table, not {type_name(entry)}", ())
        model = _parse_model(model_id, entry, loc, where)
        folded = model.id.casefold()
        if folded in seen:
            raise loc.error(
                where, None,
                f"model {model.id!r} is declared twice (also as {seen[folded]!r}); hub ids are case-insensitive. "
                "Keep one entry",
                (),
            )
        seen[folded] = model.id
        models.append(model)

    roles_table = _table(data, "roles", loc, None)
    members = {m.effective_role for m in models}
    roles: list[RoleSpec] = []
    for role_name, entry in roles_table.items():
        where = f"roles.{role_name}"
        if not isinstance(entry, dict):
            raise loc.error("roles", role_name, f"[{where}] must be a table, not {type_name(entry)}", ())
        for key in entry:
            if key not in _ROLE_KEYS:
                raise loc.error(where, key, f"unknown key {key!r} in [{where}]", _ROLE_KEYS)
        if role_name not in members:
            raise loc.error(
                where, None,
                f"role {role_name!r} has no members: no model declares role = {role_name!r}. "
                "Add `role = ...` to a model or remove the table",
                (),
            )
        default = _opt_str(entry, "default", loc, where)
        if default is not None:
            member_ids = [m.id for m in models if m.effective_role == role_name]
            if default.casefold() not in {i.casefold() for i in member_ids}:
                raise loc.error(
                    where, "default",
                    f"default {default!r} is not a member of role {role_name!r} "
                    f"(members: {', '.join(member_ids)}). Set role = {role_name!r} on that model or pick a member",
                    (),
                )
        roles.append(RoleSpec(name=role_name, default=default))

    from ptmlock.manifest.signing import (
        with_signing,  # issue 16: who must have signed each model
    )
    from ptmlock.manifest.sources import parse_sources  # issue 15: [[source]] tables

    return Manifest(path=p, name=name, guard_mode=guard_mode, models=with_signing(models, data, loc),
                    roles=tuple(roles), policy=policy, tool=tool, sources=parse_sources(data.get("source", []), loc))


def _parse_tool(table: Mapping[str, Any], loc: Locator) -> ToolSettings:
    for key in table:
        if key not in _TOOL_KEYS:
            raise loc.error("tool", key, f"unknown key {key!r} in [tool]", _TOOL_KEYS)
    lists = {}
    for key in _TOOL_KEYS:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise loc.error("tool", key, f"{key} in [tool] must be a list of strings, not {type_name(value)}", ())
        lists[key] = tuple(value)
    for kind in lists["scan-sources"]:
        if kind not in _SCAN_SOURCES:
            raise loc.error("tool", "scan-sources", f"unknown source kind {kind!r} in [tool] scan-sources; "
                            f"the kinds are {', '.join(_SCAN_SOURCES)}", ())
    return ToolSettings(exclude=lists["exclude"],
                        scan_sources=lists["scan-sources"] if "scan-sources" in table else _SCAN_SOURCES)


def _parse_policy(table: Mapping[str, Any], loc: Locator) -> Policy:
    """The `[policy]` table as a `Policy`; which ids an `allow-*` list may name is checked against
    the lock by `ptmlock.supply.rules.load_policy`."""
    for key in table:
        if key not in _POLICY_KEYS:
            raise loc.error("policy", key, f"unknown key {key!r} in [policy]", _POLICY_KEYS)
    allows = {key: _allow(table, key, default, loc)
              for key, default in (("allow-pickle", DEFAULT_ALLOW_PICKLE),
                                   ("allow-remote-code", DEFAULT_ALLOW_REMOTE_CODE),
                                   ("allow-gated", DEFAULT_ALLOW_GATED))}
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


def _allow(table: Mapping[str, Any], key: str, default: bool, loc: Locator) -> Allow:
    if key not in table:
        return Allow(default)
    raw = table[key]
    if isinstance(raw, bool):
        return Allow(raw)
    if isinstance(raw, list) and all(isinstance(x, str) and x for x in raw):
        return Allow(False, frozenset(x.casefold() for x in raw), tuple(raw))
    raise loc.error("policy", key,
                    f"'{key}' in [policy] must be true, false or an array of model ids, not {_describe(raw)}", ())


def _describe(value: object) -> str:
    if isinstance(value, list):
        bad = next((x for x in value if not isinstance(x, str) or not x.strip()), None)
        return f"an array containing {type_name(bad)} ({bad!r})"
    return f"{type_name(value)} ({value!r})"


def _parse_model(model_id: str, entry: Mapping[str, Any], loc: Locator, where: str) -> ModelSpec:
    for key in entry:
        if key not in _MODEL_KEYS:
            raise loc.error(where, key, f"unknown key {key!r} in [{where}]", _MODEL_KEYS)
    hub = _opt_str(entry, "hub", loc, where) or DEFAULT_HUB
    if hub not in HUBS:
        raise loc.error(where, "hub", f"unknown hub {hub!r}; hubs are {', '.join(HUBS)}", ())
    revision = _opt_str(entry, "revision", loc, where)
    if revision is not None and not revision.strip():
        raise loc.error(where, "revision", "revision must not be empty; remove the key to follow the default branch", ())
    role = _opt_str(entry, "role", loc, where)
    if role is not None and not _ROLE_NAME.match(role):
        raise loc.error(where, "role", f"role {role!r} is not a valid name (letters, digits, '-', '_', '.')", ())
    repo_type = _opt_str(entry, "type", loc, where) or "model"
    if repo_type not in REPO_TYPES:
        raise loc.error(where, "type", f"type must be one of {', '.join(REPO_TYPES)}, not {repo_type!r}", ())
    files_raw = entry.get("files", [])
    if not isinstance(files_raw, list) or not all(isinstance(f, str) and f for f in files_raw):
        raise loc.error(where, "files", 'files must be a list of glob patterns such as ["*.safetensors", "*.json"]', ())
    trust_pickle = entry.get("trust-pickle", False)
    trust_globals: tuple[str, ...] = ()
    if isinstance(trust_pickle, list):
        bad = [g for g in trust_pickle if not isinstance(g, str) or not _GLOBAL_NAME.fullmatch(g)]
        if bad or not trust_pickle:
            raise loc.error(where, "trust-pickle", "trust-pickle must be true, false or a list of exact global names "
                                                   f'such as ["mypkg.module.MyClass"], not {bad[0] if bad else []!r}', ())
        trust_globals, trust_pickle = tuple(trust_pickle), True
    if not isinstance(trust_pickle, bool):
        raise loc.error(where, "trust-pickle", f"trust-pickle must be true, false or a list of exact global names, not "
                                               f"{type_name(trust_pickle)} ({trust_pickle!r})", ())
    _check_id(model_id, hub, loc, where)
    return ModelSpec(id=model_id, hub=hub, revision=revision, role=role, repo_type=repo_type, files=tuple(files_raw),
                     trust_pickle=trust_pickle, trust_globals=trust_globals, entries=_entries(entry, hub, loc, where))


_ENTRY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _entries(entry: Mapping[str, Any], hub: str, loc: Locator, where: str) -> tuple[str, ...] | None:
    """issue 26: `entries = ["DPT_Large"]` on a torchhub model: the hubconf.py entry points whose
    weight URLs `lock` pins (absent: every entry point; `[]`: none)."""
    if "entries" not in entry:
        return None
    raw = entry["entries"]
    if hub != HUB_TORCHHUB:
        raise loc.error(where, "entries", f"'entries' names torch.hub entry points; it needs hub = \"torchhub\", "
                                          f"not {hub!r}", ())
    if not isinstance(raw, list) or not all(isinstance(e, str) and _ENTRY_NAME.fullmatch(e) for e in raw):
        raise loc.error(where, "entries", 'entries must be a list of hubconf.py entry point names such as '
                                          '["DPT_Large"], as torch.hub.load takes them', ())
    return tuple(sorted(set(raw)))


def _check_id(model_id: str, hub: str, loc: Locator, where: str) -> None:
    problem = model_id_problem(model_id, hub)
    if problem is not None:
        raise loc.error(where, None, f"invalid model id {model_id!r} for hub {hub!r}: {problem}", ())



def _parse_toml(text: str, path: Path) -> dict[str, Any]:
    if tomllib is not None:
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            pass  # tomlkit reports line and column; fall through for the message
    import tomlkit  # only on the error path (or Python 3.10): it is slow to import
    import tomlkit.exceptions

    try:
        return tomlkit.parse(text).unwrap()
    except tomlkit.exceptions.ParseError as e:
        msg = re.sub(r"\s*at line \d+ col \d+$", "", str(e)).rstrip(".")
        if "already exists" in msg:
            msg += " (each table and key may appear once; declare each model once)"
        msg += _unquoted_hint(text, e.line)
        raise ManifestError(
            f"{path}:{e.line}:{e.col + 1}: TOML syntax error: {msg}. Fix the syntax and run the command again."
        ) from None


_BARE_VALUE = re.compile(r"""^\s*([\w\-."]+)\s*=\s*([^"'\[{\s#][^#]*?)\s*(?:#.*)?$""")


def _unquoted_hint(text: str, line: int) -> str:
    """`role = speech`: a string written without quotes, said plainly (TOML says only
    "Unexpected character: 's'")."""
    lines = text.splitlines()
    m = _BARE_VALUE.match(lines[line - 1]) if 0 < line <= len(lines) else None
    if m is None or re.fullmatch(r"[+-]?[\d_.:eE+-]+|true|false|[+-]?(inf|nan)", m.group(2)):
        return ""
    return f' (a string needs quotes: {m.group(1)} = "{m.group(2)}")'


def _table(data: Mapping[str, Any], key: str, loc: Locator, parent: str | None) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise loc.error(parent, key, f"{key!r} must be a table, not {type_name(value)}", ())
    return value


def _opt_str(entry: Mapping[str, Any], key: str, loc: Locator, where: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise loc.error(where, key, f"{key!r} in [{where}] must be a string, not {type_name(value)}", ())
    return value


def type_name(value: object) -> str:
    """The TOML type of `value` for messages: "a string", "an integer", and so on."""
    return {bool: "a boolean", int: "an integer", float: "a float", list: "an array", dict: "a table", str: "a string"}.get(
        type(value), type(value).__name__
    )
