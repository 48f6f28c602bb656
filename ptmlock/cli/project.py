"""Verbs init, add, remove, lock, list, tree: the manifest and its lock."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ptmlock.cli.base import (
    _JOBS,
    _complete_models,
    _complete_roles,
    _Ctx,
    cli,
)
from ptmlock.constants import (
    DEFAULT_GUARD_MODE,
    GUARD_MODES,
    HUBS,
    REPO_TYPES,
)
from ptmlock.errors import EXIT_CHECK_FAILED
from ptmlock.output import Output, human_size

if TYPE_CHECKING:
    from ptmlock.lockfile.model import LockedModel
    from ptmlock.manifest.model import ModelSpec


def _source_text(path: str) -> str | None:
    """A scanned file's text for `init --from-code` (issue 26: torch.hub entry points), or None."""
    from ptmlock.scan.reading import read_regular
    from ptmlock.scan.scanner import decode_source

    data = read_regular(path)
    return decode_source(data) if data is not None else None


@cli.command()
@click.option("--name", help="Project name (default: the directory name).")
@click.option("--policy", type=click.Choice(GUARD_MODES), default=DEFAULT_GUARD_MODE, show_default=True,
              help="Runtime guard default.")
@click.option("--from-code", "from_code", type=click.Path(exists=True, path_type=str), default=None,
              help="Pre-fill the manifest with the models `ptmlock scan` finds in this path.")
@click.pass_obj
def init(obj: _Ctx, name: str | None, policy: str, from_code: str | None) -> int:
    """Write a starter ptm.toml in the current directory."""
    from ptmlock.project import init_project

    path = obj.init_path()
    text = None
    found = 0
    if from_code is not None:
        from ptmlock.gate.from_code import manifest_from_findings, torchhub_entries
        from ptmlock.scan.scanner import scan_paths

        findings = scan_paths([from_code])
        found = len({i.casefold() for f in findings for i in (f.model_ids or ())})
        text = manifest_from_findings(name or path.resolve().parent.name, findings, policy,
                                      torchhub_entries(findings, _source_text))
    parent = _enclosing_manifest(path) if obj._manifest is None else None
    path = init_project(path, name=name, policy=policy, text=text)
    out = Output()
    if from_code is not None:
        out.info(f"Created {path} with {found} model id{'s' if found != 1 else ''} found in "
                 f"{Path(from_code).resolve()}. Review it, then run `ptmlock lock`.")  # not "in .. Review"
    else:
        out.info(f"Created {path}. Next: `ptmlock add MODEL` to declare a model.")
    if parent is not None:  # issue 24: a nested project shadows the enclosing one here and below
        out.warn(f"{parent} already declares a project above this folder; the new {path.name} shadows it for "
                 f"every ptmlock command run in {path.parent} and below. If you meant to add models to that "
                 f"project, delete {path} and use `ptmlock add MODEL` (or --manifest {parent}).")
    return 0


@cli.command()
@click.argument("model")
@click.option("--role", shell_complete=_complete_roles,
              help="Role the model fills; models sharing a role are interchangeable.")
@click.option("--hub", type=click.Choice(HUBS), default=None, help="Where the model lives (default: huggingface).")
@click.option("--type", "repo_type", type=click.Choice(REPO_TYPES), default=None, help="Repo type (default: model).")
@click.option("--files", multiple=True, help="Glob of files `sync` fetches; repeat for several.")
@click.option("--default", "default", is_flag=True, help="Also make MODEL the default of its --role.")
@click.option("--no-lock", is_flag=True, help="Only edit ptm.toml; do not resolve or touch ptm.lock.")
@_JOBS
@click.pass_obj
def add(obj: _Ctx, model: str, role: str | None, hub: str | None, repo_type: str | None, files: tuple[str, ...],
        default: bool, no_lock: bool, jobs: int) -> int:
    """Declare MODEL[@REV] in ptm.toml and lock it."""
    from ptmlock.project import add_model, new_spec

    if default and role is None:
        raise click.UsageError("--default needs --role ROLE: the role whose default MODEL becomes.")
    out = Output()
    path = obj.manifest_path()
    spec = new_spec(model, role=role, hub=hub, repo_type=repo_type, files=files)
    if model.startswith(("http://", "https://")) and spec.hub == "huggingface":
        out.info(f"{model} is a Hugging Face page: declaring the repo {spec.id}"
                 f"{'@' + spec.revision if spec.revision else ''}{' (a dataset)' if spec.repo_type == 'dataset' else ''}.")
    outcome = add_model(path, spec, lock=not no_lock, jobs=jobs, on_wait=out.info, default=default)
    locked = outcome.lock
    pinned = locked.lock.get(outcome.spec.id) if locked is not None and locked.lock is not None else None
    if pinned is None:  # the lock was already fresh (or --no-lock): ptm.lock may still pin it as declared
        pinned = _fresh_pin(path, outcome.spec.id)
    at = f", locked at {pinned.commit[:12]}" if pinned is not None else ""
    tail = at + "." if locked is not None or pinned is not None else " (not locked: run `ptmlock lock`)."
    before, now = outcome.previous, outcome.spec
    if before is None:
        rev = f"@{now.revision}" if now.revision else ""
        out.info(f"Added {now.id}{rev} to {path.name}{tail}")
    elif before == now:
        out.info(f"{now.id} is already declared in {path.name} as asked; nothing changed{tail}")
    else:
        out.info(f"Updated {now.id}: {_describe_change(before, now)}{tail}")
    if default and now.role is not None:
        out.info(f"{now.id} is the default of role {now.role!r}.")
    if outcome.warning is not None:
        out.warn(outcome.warning)
    return 0


def _enclosing_manifest(path: Path) -> Path | None:
    """The ptm.toml of a parent folder of `path`'s folder, if any."""
    from ptmlock.errors import ManifestError
    from ptmlock.manifest.parse import find_manifest

    try:
        return find_manifest(path.resolve().parent.parent)
    except ManifestError:
        return None


def _fresh_pin(path: Path, model_id: str) -> LockedModel | None:
    """The pin of `model_id` when ptm.lock is fresh against the manifest at `path`, else None."""
    from ptmlock.errors import PtmlockError
    from ptmlock.project import check_lock

    try:
        state = check_lock(path)
        lock = state.readable() if state.fresh else None
    except PtmlockError:  # a broken lock is `lock`'s to report, not `add --no-lock`'s
        return None
    return lock.get(model_id) if lock is not None else None


@cli.command()
@click.argument("role", shell_complete=_complete_roles)
@click.option("--default", "default", metavar="MODEL", shell_complete=_complete_models,
              help="Make MODEL, a member of ROLE, the role's default (what ptmlock.select(ROLE) loads).")
@click.pass_obj
def role(obj: _Ctx, role: str, default: str | None) -> int:
    """Show ROLE's members and default, or set its default with --default MODEL."""
    from ptmlock.manifest.parse import load_manifest
    from ptmlock.project import role_members, set_role_default
    from ptmlock.views.listing import role_heading

    out = Output()
    path = obj.manifest_path()
    if default is not None:
        member, previous = set_role_default(path, role, default, on_wait=out.info)
        was = "" if previous is None else f" (was {previous})" if previous.casefold() != member.casefold() else \
            " (unchanged)"
        out.info(f"{member} is the default of role {role!r} in {path.name}{was}. ptm.lock is unaffected.")
        return 0
    manifest = load_manifest(path)
    members = role_members(manifest, role)
    chosen = manifest.role_default(role)
    out.result(role_heading(role, len(members), chosen is not None))
    for m in members:
        out.result(f"{'*' if chosen is not None and m.id == chosen else ' '} {m.id}")
    if chosen is None:
        out.warn(manifest.role_warning(role) or f"role {role!r} has no default.")
    return 0


def _describe_change(before: ModelSpec, now: ModelSpec) -> str:
    """`main -> 807a512`, `role text -> vision`: what `add` changed in an existing entry."""
    changes = []
    if before.revision != now.revision:
        changes.append(f"{before.revision or 'default branch'} -> {now.revision or 'default branch'}")
    for label, old, new in (("role", before.role, now.role), ("hub", before.hub, now.hub),
                            ("type", before.repo_type, now.repo_type), ("files", before.files, now.files)):
        if old != new:
            show = (lambda v: ", ".join(v) or "all") if label == "files" else (lambda v: v or "none")
            changes.append(f"{label} {show(old)} -> {show(new)}")
    return "; ".join(changes)


@cli.command()
@click.argument("model", shell_complete=_complete_models)
@click.pass_obj
def remove(obj: _Ctx, model: str) -> int:
    """Remove MODEL from ptm.toml and ptm.lock."""
    from ptmlock.gate.check import loads_of
    from ptmlock.project import remove_model

    out = Output()
    path = obj.manifest_path()
    notes, wrote_lock = remove_model(path, model, on_wait=out.info)
    for note in notes:
        out.info(note)
    out.info(f"Removed {model} from {path.name}" + (" and ptm.lock." if wrote_lock else "."))
    still = loads_of(model, path.parent)
    if still:  # issue 17, item 3: say it now, not at the next `ptmlock check`
        out.warn(f"the code still loads {model} ({', '.join(still)}); `ptmlock check` will report it (PTM002) "
                 f"until that code changes or `ptmlock add {model}` declares it again.")
    return 0


@cli.command()
@click.option("--check", is_flag=True, help="Exit 1 if ptm.lock is stale or missing, 3 if it is invalid; never writes or "
                                           "asks a hub.")
@click.option("--upgrade", "upgrade", is_flag=False, flag_value=":all:", default=None, metavar="[MODEL]",
              shell_complete=_complete_models,
              help="Re-resolve every ref (or only MODEL) even if its pin is current.")
@click.option("--signatures", is_flag=True,
              help="With --check: verify each recorded signature again, offline, from the Hugging Face cache.")
@click.option("--online", is_flag=True,
              help="With --check: ask the hub again for each locked commit (files and hashes) and verify each "
                   "recorded signature again from the hub (CI on pull requests).")
@_JOBS
@click.pass_obj
def lock(obj: _Ctx, check: bool, upgrade: str | None, signatures: bool, online: bool, jobs: int) -> int:
    """Pin every model to a commit in ptm.lock."""
    from ptmlock.project import check_lock, lock_project

    out = Output()
    path = obj.manifest_path()
    if (signatures or online) and not check:
        raise click.UsageError("--signatures and --online go with --check: `ptmlock lock --check --online`.")
    if check:
        if upgrade is not None:
            raise click.UsageError("--check and --upgrade cannot be used together.")
        freshness = check_lock(path)
        freshness.readable()  # invalid: exit 3, naming the field
        ambiguous = _strict_role_problems(path)
        if not freshness.fresh or ambiguous:
            if not freshness.fresh:
                out.error(freshness.message())
            else:
                out.error("the roles are ambiguous in a strict project; give each a `default` in [roles.<name>]:")
            for line in (list(freshness.differences) if len(freshness.differences) > 1 else []) + ambiguous:
                out.info(f"  - {line}")
            return EXIT_CHECK_FAILED
        if signatures or online:  # issue 22: redo what `lock` verified, from the cache or the hub
            from ptmlock.signing.recheck import recheck_project

            found = recheck_project(path, online=online)
            if found:
                out.error(f"ptm.lock does not hold up: {found[0].message}")
                for extra in found[1:]:
                    out.info(f"  - {extra.message}")
                return EXIT_CHECK_FAILED
            out.info("ptm.lock is up to date" + (", and the hub confirms every locked commit and signature."
                                                 if online else ", and every recorded signature verifies again."))
            return 0
        out.info("ptm.lock is up to date.")
        return 0
    outcome = lock_project(path, upgrade=(upgrade,) if upgrade else (), jobs=jobs, on_wait=out.info)
    for warning in outcome.warnings:
        out.warn(warning)
    r = outcome.result
    if r is None or outcome.lock is None:
        n = outcome.fresh_models
        out.info(f"ptm.lock is up to date: {n} model{'s' if n != 1 else ''} ({n} unchanged).")
        return 0
    for model_id, old, new in r.changed:
        if old is not None:  # a pin that moved; new entries are only counted
            out.info(f"  {model_id}: {old[:12]} -> {new[:12]}")
    deps = sum(1 for m in outcome.lock.models if m.required_by)
    n = len(outcome.lock.models) - deps
    also = f" + {deps} dependenc{'ies' if deps != 1 else 'y'}" if deps else ""
    state = "Updated ptm.lock" if outcome.written else "ptm.lock is up to date"
    out.info(f"{state}: {n} model{'s' if n != 1 else ''}{also} ({len(r.resolved)} resolved, "
             f"{len(r.reused)} unchanged).")
    return 0


@cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.pass_obj
def list_(obj: _Ctx, as_json: bool) -> int:
    """List models by role, with their pins and sizes."""
    from ptmlock.views.listing import build_listing, role_heading

    out = Output(json_mode=as_json)
    listing = build_listing(obj.manifest_path())
    if as_json:
        out.json(listing)
        return 0
    if listing["stale"]:
        out.warn(listing["lock_message"])
    for warning in listing["warnings"]:
        out.warn(warning)
    for role in listing["roles"]:
        if role["implicit"]:  # a model without a role is its own role: one line, no heading (item 7)
            for m in role["models"]:
                out.result(_listing_line(m))
                _listing_needs(out, m, "  ")
            continue
        out.result(role_heading(role["name"], len(role["models"]), role["default"] is not None))
        for m in role["models"]:
            out.result(f"  {'*' if m['selected'] else ' '} {_listing_line(m)}")
            _listing_needs(out, m, "      ")
    return 0


def _listing_needs(out: Output, m: dict[str, Any], indent: str) -> None:
    """The direct dependencies of a listed model, one line each (`tree` shows the whole graph)."""
    for d in m["dependencies"]:
        reason = f"  ({d['reason']})" if d["reason"] else ""
        out.result(f"{indent}needs {d['id']} @ {d['commit'][:12]}  {human_size(d['size'])}{reason}")


def _listing_line(m: dict[str, Any]) -> str:
    requested = m["requested"] or "default branch"
    if m["commit"] is None:
        return f"{m['id']}  {requested}  (not locked)"
    alias = f" ({m['canonical_id']})" if m["canonical_id"] != m["id"] else ""
    return f"{m['id']}{alias}  {requested} @ {m['commit'][:12]}  {m['files']} files  {human_size(m['size'])}"


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one nested JSON document (docs/dependencies.md).")
@click.option("--files", "show_files", is_flag=True, help="Also list each model's files with their sizes.")
@click.option("--outdated", is_flag=True, help="Mark pins whose branch or tag moved upstream (one hub request per "
                                               "model; without it, tree never touches the network).")
@_JOBS
@click.pass_obj
def tree(obj: _Ctx, as_json: bool, show_files: bool, outdated: bool, jobs: int) -> int:
    """Show roles, their models and each model's transitive model dependencies."""
    from ptmlock.views.tree import build_tree, render_tree

    out = Output(json_mode=as_json)
    doc = build_tree(obj.manifest_path(), files=show_files, outdated=outdated, jobs=jobs)
    if as_json:
        out.json(doc)
        return 0
    if doc["stale"]:
        out.warn(doc["lock_message"])
    for warning in doc.get("warnings", ()):
        out.warn(warning)
    for line in render_tree(doc):
        out.result(line)
    return 0

# --- verbs: outdated / update / audit / export (issue 6) ---


def _strict_role_problems(path: Path) -> list[str]:
    """In a strict project, every role with several members and no `default` (the strict guard
    would refuse `ptmlock.select()` for it: issue 17, item 11)."""
    from ptmlock.manifest.parse import load_manifest

    manifest = load_manifest(path)
    return manifest.role_warnings() if manifest.guard_mode == "strict" else []
