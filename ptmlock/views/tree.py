"""`ptmlock tree`: roles, their models, and each model's transitive dependencies, like `uv tree`.

`build_tree` returns one nested document (the `--json` output, described in
docs/dependencies.md); `render_tree` turns it into lines. Neither touches the network unless
`outdated=True`, which asks the hub once per locked model where its requested ref points now
(through the hubs' `current_commit`, concurrently).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ptmlock.deps.find import REASON_SEP as _REASON_SEP
from ptmlock.deps.find import reasons_for
from ptmlock.errors import PtmlockError
from ptmlock.hubs.base import HeadBackend, ask_each, pinned_to_commit
from ptmlock.hubs.registry import default_head_backend
from ptmlock.lockfile.fresh import lock_state
from ptmlock.lockfile.model import Lock, LockedModel
from ptmlock.manifest.model import ModelSpec
from ptmlock.manifest.parse import load_manifest
from ptmlock.output import human_size
from ptmlock.views.listing import role_heading


def build_tree(
    manifest_path: Path,
    *,
    files: bool = False,
    outdated: bool = False,
    jobs: int = 16,
    head_backend_for: Callable[[str], HeadBackend | None] = default_head_backend,
) -> dict[str, Any]:
    """The project's models as a tree: roles in manifest order, their members, and under each
    model the models it needs (sorted by id) with why; `files` adds each model's files, `outdated`
    each pin's upstream state (one hub request per locked model; none otherwise).

    A model that appears a second time is marked `repeated` and not expanded again.

    Raises:
        ManifestError, LockfileError: either file is unreadable.
        HubError, UnsafeHubAnswerError: with `outdated`, the first failed check.
    """
    manifest = load_manifest(manifest_path)
    state = lock_state(manifest)
    lock = state.readable()  # stale or missing: shown with a warning; invalid: exit 3
    latest = _check_outdated(lock, jobs, head_backend_for) if outdated and lock is not None else {}
    children: dict[str, list[LockedModel]] = {}
    for m in lock.models if lock is not None else ():
        for parent in m.required_by:
            children.setdefault(parent.casefold(), []).append(m)
    seen: set[str] = set()

    def node(model: LockedModel | None, spec: ModelSpec | None, parent: str = "") -> dict[str, Any]:
        model_id = spec.id if spec is not None else model.id if model is not None else "?"
        out: dict[str, Any] = {
            "id": model_id,
            "canonical_id": model.canonical if model is not None else model_id,
            "hub": model.hub if model is not None else spec.hub if spec is not None else "huggingface",
            "repo_type": model.repo_type if model is not None else spec.repo_type if spec is not None else "model",
            "requested": spec.revision if spec is not None else model.requested if model is not None else None,
            "commit": model.commit if model is not None else None,
            "file_count": len(model.files) if model is not None else 0,
            "size": model.size if model is not None else 0,
            "reason": _REASON_SEP.join(reasons_for(model.reason or "", parent))
            if model is not None and spec is None else None,
            "repeated": model_id.casefold() in seen,
            "dependencies": [],
        }
        if files:
            out["files"] = [f.to_dict() for f in model.files] if model is not None else []
        if outdated:
            out["outdated"] = latest.get(model_id.casefold()) if model is not None else None
        if out["repeated"] or model is None:
            return out
        seen.add(model_id.casefold())
        deps = sorted(children.get(model_id.casefold(), []), key=lambda d: (d.id.casefold(), d.id))
        out["dependencies"] = [node(d, None, model_id) for d in deps]
        return out

    roles = []
    for role, members in manifest.role_members().items():
        selected = manifest.role_default(role)
        models = []
        for spec in members:
            entry = node(lock.get(spec.id) if lock is not None else None, spec)
            entry["selected"] = selected is not None and selected.casefold() == spec.id.casefold()
            models.append(entry)
        roles.append({"name": role, "implicit": all(s.role is None for s in members),
                      "interchangeable": len(members) > 1, "default": selected, "models": models})
    return {"lock": manifest.lock_path.name, "stale": not state.fresh, "lock_state": state.state,
            "lock_message": state.message(), "roles": roles, "warnings": manifest.role_warnings()}


def _check_outdated(lock: Lock, jobs: int,
                    backend_for: Callable[[str], HeadBackend | None]) -> dict[str, dict[str, Any]]:
    todo: list[tuple[LockedModel, HeadBackend]] = []
    out: dict[str, dict[str, Any]] = {}
    backends: dict[str, HeadBackend | None] = {}
    for m in lock.models:
        if pinned_to_commit(m.requested, m.commit):
            out[m.id.casefold()] = {"status": "pinned", "latest": m.commit}
            continue
        if m.hub not in backends:
            backends[m.hub] = backend_for(m.hub)
        backend = backends[m.hub]
        if backend is None:
            out[m.id.casefold()] = {"status": "skipped", "latest": None}
        else:
            todo.append((m, backend))
    results = ask_each(lambda t: t[1].current_commit(ModelSpec(id=t[0].id, hub=t[0].hub, revision=t[0].requested,
                                                               repo_type=t[0].repo_type)), todo, jobs=jobs)
    for (m, _), result in zip(todo, results):
        if isinstance(result, PtmlockError):
            raise result
        assert isinstance(result, str)
        out[m.id.casefold()] = {"status": "up-to-date" if result == m.commit else "outdated", "latest": result}
    return out


def render_tree(tree: dict[str, Any]) -> list[str]:
    """The human lines of a `build_tree` document: a role with a `role` in ptm.toml is a heading
    over its members (`*` marks the selected one of interchangeable models); a model with no role
    is a root of its own. `(*)` marks a model already shown in full above."""
    lines: list[str] = []
    for role in tree["roles"]:
        if role["implicit"]:
            for model in role["models"]:
                lines.append(_line(model, ""))
                _children(model, "", lines)
            continue
        lines.append(role_heading(role["name"], len(role["models"]), role["default"] is not None)
                     if role["interchangeable"] else role["name"])
        for n, model in enumerate(role["models"]):
            last = n == len(role["models"]) - 1
            mark = ("* " if model["selected"] else "  ") if role["interchangeable"] else ""
            lines.append(("└── " if last else "├── ") + mark + _line(model, ""))
            _children(model, "    " if last else "│   ", lines)
    return lines


def _children(model: dict[str, Any], prefix: str, lines: list[str]) -> None:
    items: list[tuple[str, dict[str, Any] | None]] = [
        (f"{f['path']}  {human_size(f['size'])}", None) for f in model.get("files", []) if not model["repeated"]]
    items += [("", dep) for dep in model["dependencies"]]
    for n, (text, dep) in enumerate(items):
        last = n == len(items) - 1
        branch = "└── " if last else "├── "
        if dep is None:
            lines.append(prefix + branch + text)
        else:
            lines.append(prefix + branch + _line(dep, dep["reason"] or ""))
            _children(dep, prefix + ("    " if last else "│   "), lines)


def _line(model: dict[str, Any], reason: str) -> str:
    ref = model["requested"] or "default branch"
    alias = f" ({model['canonical_id']})" if model["canonical_id"] != model["id"] else ""
    if model["commit"] is None:
        return f"{model['id']}{alias}  {ref}  (not locked)"
    n = model["file_count"]
    text = (f"{model['id']}{alias}  {ref} @ {model['commit'][:12]}  {n} file{'s' if n != 1 else ''}  "
            f"{human_size(model['size'])}")
    if reason:
        text += f"  ({reason})"
    state = model.get("outdated")
    if state is not None and state["status"] == "outdated":
        text += f"  [outdated: latest {state['latest'][:12]}]"
    if model["repeated"]:
        text += " (*)"
    return text
